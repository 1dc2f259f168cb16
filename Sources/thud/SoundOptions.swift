import ArgumentParser
import ThudCommandLine
import Foundation
import ThudModel
import ThudSound

/// `--sonify`, `--audio-device`, `--voice`: the optional ALSA sink that plays a knock for each hit.
struct SoundOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Play a knock for every detected hit through ALSA: \(SonifyRequest.help). A bare --sonify means hits.",
                               valueName: "mode"))
    var sonify: String?

    @Option(help: "ALSA playback device for --sonify.")
    var audioDevice = "default"

    @Option(help: "Knock timbre for --sonify: \(VoiceSpec.names.joined(separator: ", ")).")
    var voice = "wood"

    func validate() throws {
        if let sonify, SonifyRequest(argument: sonify) == nil {
            throw ValidationError("--sonify must be \(SonifyRequest.help)")
        }
        guard VoiceSpec.names.contains(voice) else {
            throw ValidationError("--voice must be one of \(VoiceSpec.names.joined(separator: ", "))")
        }
    }

    /// nil when --sonify was not given; a disabled sonifier (with its warning printed) for `optional`.
    func makeSonifier(realtime: Bool) throws -> HitSonifier? {
        guard let sonify, let request = SonifyRequest(argument: sonify) else { return nil }
        return try HitSonifier(request: request, device: audioDevice, voice: voice, realtimePriority: realtime ? 20 : 0, warn: warnLine)
    }
}
