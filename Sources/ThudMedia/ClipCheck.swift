/// The check that decides whether a clip can teach: it has a picture, its audio decodes, is not silent,
/// and it lasts long enough. `thud probe` prints it; training uses it to remove faulty videos.
public struct ClipCheck: Sendable {
    public static let defaultMinimumSeconds = 1.0

    public var info: MediaInfo?
    public var audioPeakDB: Float?
    public var audioSeconds: Double?
    public var corruptAudioPackets = 0
    /// nil when usable; otherwise the first reason it is not.
    public var problem: MediaError?
    public var usable: Bool { problem == nil }

    /// Opens `path` and decodes its audio and its video (at a tiny step size: the decode is the cost, not the
    /// scaling), so that a clip whose video never decodes, or that ends early, is not called usable while `predict`
    /// refuses it (exit 12 both).
    public static func run(path: String, minimumSeconds: Double = defaultMinimumSeconds) -> ClipCheck {
        var check = ClipCheck()
        do {
            let input = try MediaInput(path: path)
            check.info = input.info
            guard input.info.video != nil else { throw MediaError(.noVideo, file: input.name, "no video stream") }
            guard input.info.audio != nil else { throw MediaError(.noAudio, file: input.name, "no audio stream") }
            let summary = try input.decode(video: VideoStepRequest(width: 2, height: 2), audio: true)
            if let error = summary.readError { throw MediaError(.truncated, file: input.name, "input ends early (\(error))") }
            let audio = summary.audio!
            check.corruptAudioPackets = audio.corruptPackets
            check.audioSeconds = Double(audio.samples.count) / Double(audio.sampleRate)
            if audio.decodedFrames == 0 {
                throw MediaError(.audioUnusable, file: input.name, "audio does not decode (\(audio.corruptPackets) corrupt packets, no sound)")
            }
            if audio.corruptPackets > audio.decodedFrames {
                throw MediaError(.audioUnusable, file: input.name, "audio mostly undecodable (\(audio.corruptPackets) corrupt packets, \(audio.decodedFrames) good frames)")
            }
            let envelope = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate)
            check.audioPeakDB = envelope.peakDB
            if envelope.peakDB < AudioEnvelope.silenceDB {
                throw MediaError(.audioUnusable, file: input.name, "audio is silent (peak \(Int(envelope.peakDB)) dBFS)")
            }
            let seconds = min(check.audioSeconds!, input.info.durationSeconds ?? .infinity)
            if seconds < minimumSeconds {
                throw MediaError(.tooShort, file: input.name, "too short (\(String(format: "%.2f", seconds)) s, at least \(minimumSeconds) s needed)")
            }
        } catch let error as MediaError {
            check.problem = error
        } catch {
            check.problem = MediaError(.internalError, file: path, "\(error)")
        }
        return check
    }
}
