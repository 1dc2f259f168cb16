import ThudBase

/// Every way an input can be unusable, each with a documented exit code (README, "Exit codes").
/// `message` is one line that names the file and the problem; the CLI prints exactly that.
public struct MediaError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case notFound            // missing, unreadable, or a directory
        case notMedia            // empty, text, unknown container
        case truncated           // cut short or corrupt beyond use
        case noVideo
        case noAudio
        case audioUnusable       // undecodable or silent
        case tooShort
        case unsupported         // absurd dimensions, unknown pixel format
        case writeFailed         // an output file could not be written
        case unreachable         // a network stream cannot be opened: refused, unreachable, nothing within the timeout
        case streamLost          // a network stream stopped (no data within the timeout, or a read error) and was not reconnected
        case usage               // the command line asks for something the input cannot take (an unknown input option)
        case internalError
    }

    public let kind: Kind
    public let file: String
    public let problem: String

    public init(_ kind: Kind, file: String, _ problem: String) {
        self.kind = kind
        self.file = file
        self.problem = problem
    }

    public var message: String { "\(file): \(problem)" }
    public var description: String { message }

    /// The process exit code for this kind (kept in sync with the README's table).
    public var exitCode: Int32 {
        switch kind {
        case .notFound: return 10
        case .notMedia: return 11
        case .truncated: return 12
        case .noVideo: return 13
        case .noAudio: return 14
        case .audioUnusable: return 15
        case .tooShort: return 16
        case .unsupported: return 17
        case .writeFailed: return 74
        case .unreachable: return 32
        case .streamLost: return 33
        case .usage: return 64
        case .internalError: return 1
        }
    }
}

extension MediaError: OneLineError {}
