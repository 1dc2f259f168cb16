import Glibc
import ThudBase

/// Why live capture stopped. `message` is one line naming the device and the problem; `exitCode`
/// follows the shared table: 30 = cannot be opened / negotiated / started, 31 = lost while streaming.
public struct CaptureError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case cannotOpen      // missing node, permissions, not a capture device
        case cannotNegotiate // no usable format, size or buffers
        case cannotStart     // REQBUFS / QBUF / STREAMON refused
        case deviceLost      // ENODEV, EIO, poll error while streaming (unplug, fatal driver error)
        case stalled         // streaming, but no frame for the stall timeout
    }

    public let kind: Kind
    public let device: String
    public let problem: String

    public init(_ kind: Kind, device: String, _ problem: String) {
        self.kind = kind
        self.device = device
        self.problem = problem
    }

    public var message: String { "\(device): \(problem)" }
    public var description: String { message }

    public var exitCode: Int32 {
        switch kind {
        case .cannotOpen, .cannotNegotiate, .cannotStart: return 30
        case .deviceLost, .stalled: return 31
        }
    }

    /// "ioctl failed: No such device (ENODEV)"-style text for an errno value.
    static func describe(errno code: Int32) -> String {
        let text = String(cString: strerror(code))
        let names: [Int32: String] = [ENODEV: "ENODEV", EIO: "EIO", EINVAL: "EINVAL", EBUSY: "EBUSY", ENOENT: "ENOENT",
                                      EACCES: "EACCES", ENOMEM: "ENOMEM", ENOTTY: "ENOTTY", EPIPE: "EPIPE", ENXIO: "ENXIO"]
        if let name = names[code] { return "\(text) (\(name))" }
        return "\(text) (errno \(code))"
    }
}

extension CaptureError: OneLineError {}
