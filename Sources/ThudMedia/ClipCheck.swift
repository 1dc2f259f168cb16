/// Why a clip cannot teach (or be scored): the one rule `thud probe`, training's feature cache and `thud eval` apply
/// to what they decoded (ClipCheck.unusable), so they reject the same clips for the same reason.
public enum UnusableReason: Equatable, Sendable {
    case noVideo
    case noAudio
    /// The input's data stopped before its streams said it would (MediaInput's read error, in words).
    case endsEarly(String)
    /// No audio frame decoded at all.
    case audioUndecodable(corruptPackets: Int)
    /// More corrupt audio packets than good frames.
    case audioMostlyUndecodable(corruptPackets: Int, goodFrames: Int)
    /// The loudest step is below AudioEnvelope.silenceDB.
    case audioSilent(peakDB: Float)
    /// Fewer seconds of steps that have both picture and sound than the minimum.
    case tooShort(seconds: Double, minimumSeconds: Double)

    public var kind: MediaError.Kind {
        switch self {
        case .noVideo: return .noVideo
        case .noAudio: return .noAudio
        case .endsEarly: return .truncated
        case .audioUndecodable, .audioMostlyUndecodable, .audioSilent: return .audioUnusable
        case .tooShort: return .tooShort
        }
    }

    public var problem: String {
        switch self {
        case .noVideo: return "no video stream"
        case .noAudio: return "no audio stream"
        case .endsEarly(let why): return "input ends early (\(why))"
        case .audioUndecodable(let corrupt): return "audio does not decode (\(corrupt) corrupt packets, no sound)"
        case .audioMostlyUndecodable(let corrupt, let good): return "audio mostly undecodable (\(corrupt) corrupt packets, \(good) good frames)"
        case .audioSilent(let peak): return "audio is silent (peak \(Int(peak.rounded(.down))) dBFS)"
        case .tooShort(let seconds, let minimum):
            return "too short (\(String(format: "%.2f", seconds)) s, at least \(minimum) s needed)"
        }
    }

    public func error(file: String) -> MediaError { MediaError(kind, file: file, problem) }
}

/// The check that decides whether a clip can teach: it has a picture, its audio decodes, is not silent,
/// and it lasts long enough. `thud probe` prints it; training uses it to remove faulty videos.
public struct ClipCheck: Sendable {
    public static let defaultMinimumSeconds = 1.0

    /// The rule, on what one decoding pass found: nil when the clip is usable. `steps` counts the 12 Hz steps that
    /// have both a frame and sound (the shorter of the two), so every caller measures length alike.
    public static func unusable(hasVideo: Bool, hasAudio: Bool, readError: String?, audioDecodedFrames: Int,
                                audioCorruptPackets: Int, audioPeakDB: Float?, steps: Int,
                                minimumSeconds: Double = defaultMinimumSeconds) -> UnusableReason? {
        if let missing = missingStream(hasVideo: hasVideo, hasAudio: hasAudio) { return missing }
        if let readError { return .endsEarly(readError) }
        if audioDecodedFrames == 0 { return .audioUndecodable(corruptPackets: audioCorruptPackets) }
        if audioCorruptPackets > audioDecodedFrames {
            return .audioMostlyUndecodable(corruptPackets: audioCorruptPackets, goodFrames: audioDecodedFrames)
        }
        if let audioPeakDB, audioPeakDB < AudioEnvelope.silenceDB { return .audioSilent(peakDB: audioPeakDB) }
        let seconds = Double(steps) / 12
        if seconds < minimumSeconds { return .tooShort(seconds: seconds, minimumSeconds: minimumSeconds) }
        return nil
    }

    /// The first part of the rule, known before decoding: a clip needs a picture and a sound.
    public static func missingStream(hasVideo: Bool, hasAudio: Bool) -> UnusableReason? {
        hasVideo ? (hasAudio ? nil : .noAudio) : .noVideo
    }

    /// The rule on a finished decoding pass (video and the first audio stream together).
    public static func unusable(_ summary: DecodeSummary, hasVideo: Bool, envelope: AudioEnvelope?,
                                minimumSeconds: Double = defaultMinimumSeconds) -> UnusableReason? {
        unusable(hasVideo: hasVideo, hasAudio: summary.audio != nil, readError: summary.readError,
                 audioDecodedFrames: summary.audio?.decodedFrames ?? 0, audioCorruptPackets: summary.audio?.corruptPackets ?? 0,
                 audioPeakDB: envelope?.peakDB, steps: min(summary.steps, envelope?.count ?? 0), minimumSeconds: minimumSeconds)
    }

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
            if let missing = missingStream(hasVideo: input.info.video != nil, hasAudio: input.info.audio != nil) {
                throw missing.error(file: input.name)
            }
            let summary = try input.decode(video: VideoStepRequest(width: 2, height: 2), audio: true)
            let audio = summary.audio
            check.corruptAudioPackets = audio?.corruptPackets ?? 0
            check.audioSeconds = audio.map { Double($0.samples.count) / Double($0.sampleRate) }
            let envelope = audio.flatMap { $0.decodedFrames > 0 ? AudioEnvelope(samples: $0.samples, sampleRate: $0.sampleRate) : nil }
            check.audioPeakDB = envelope?.peakDB
            if let reason = unusable(summary, hasVideo: true, envelope: envelope, minimumSeconds: minimumSeconds) {
                throw reason.error(file: input.name)
            }
        } catch let error as MediaError {
            check.problem = error
        } catch {
            check.problem = MediaError(.internalError, file: path, "\(error)")
        }
        return check
    }
}
