import ThudBase
// ThudSound: the optional sound-out path of Thud. Hit events (or envelope values) go from the
// inference loop through a lock-free queue to an ALSA playback thread that synthesizes knocks.

/// Errors of the sound path, with a one-line message that names the device (or the argument)
/// and the problem. Device problems are exit code 40 (audio output device error) per the
/// shared conventions; a bad `--voice`/`--sonify` value is a usage error, 64.
public struct SoundError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public let exitCode: Int32
    public var description: String { message }

    public init(_ message: String, exitCode: Int32 = 40) {
        self.message = message
        self.exitCode = exitCode
    }
}

extension SoundError: OneLineError {}
