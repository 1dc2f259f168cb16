// ThudSound: the optional sound-out path of Thud. Hit events (or envelope values) go from the
// inference loop through a lock-free queue to an ALSA playback thread that synthesizes knocks.

/// Errors of the sound path. Every one is exit code 40 (audio output device error) per the
/// shared conventions, with a one-line message that names the device and the problem.
public struct SoundError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var exitCode: Int32 { 40 }
    public var description: String { message }

    public init(_ message: String) { self.message = message }
}
