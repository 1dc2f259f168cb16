import Foundation
import ThudEval
import ThudBase
import ThudMedia
import ThudModel

/// A clip decoded once for training: its 12 Hz frames at the model's size and the audio envelope target.
public struct PreparedClip: Sendable {
    public var clip: DatasetClip
    public var steps: Int
    public var width: Int
    public var height: Int
    /// steps × height × width gray8.
    public var frames: [UInt8]
    /// The envelope target, 0...1 per step.
    public var targets: [Float]
    /// The unscaled level in dBFS per step.
    public var db: [Float]
    /// The onset-strength target (AudioOnsets), 0...1 per step.
    public var onsets: [Float]
    /// The generator's ground-truth hits (GroundTruthHits, the scene's impacts), as steps (nil when the dataset has none).
    public var trueHits: [Int]?

    public var frameBytes: Int { width * height }
}

/// Why a clip was removed before training (the faulty-video report counts these).
public enum FaultReason: String, Sendable, CaseIterable, Codable {
    case missing = "missing or unreadable"
    case notMedia = "not a readable video (empty, corrupt or truncated)"
    case noVideo = "no video stream"
    case noAudio = "no audio stream"
    case audioUndecodable = "audio does not decode"
    case audioSilent = "audio is silent"
    case tooShort = "too short"
    case badHits = "hit list unreadable or out of range"

    /// A media error from opening or decoding (the rule's own reasons come typed, below).
    init(_ error: MediaError) {
        switch error.kind {
        case .notFound: self = .missing
        case .noVideo: self = .noVideo
        case .noAudio: self = .noAudio
        case .audioUnusable: self = .audioUndecodable
        case .tooShort: self = .tooShort
        default: self = .notMedia
        }
    }

    init(_ reason: UnusableReason) {
        switch reason {
        case .noVideo: self = .noVideo
        case .noAudio: self = .noAudio
        case .endsEarly: self = .notMedia
        case .audioUndecodable, .audioMostlyUndecodable: self = .audioUndecodable
        case .audioSilent: self = .audioSilent
        case .tooShort: self = .tooShort
        }
    }
}

/// Decoded clips kept on disk, so that later epochs and later runs never decode again. The key covers the
/// file (absolute path with links resolved, size, modification time) and every preprocessing setting (frame size, the envelope
/// definition's version, the minimum length); a change to any of them makes a new entry. A faulty clip is
/// remembered too, with its reason. Entries are written to a temporary file and renamed into place.
public final class FeatureCache: @unchecked Sendable {
    /// Bump when decoding, the envelope or the entry layout changes (2: onset targets added; 3: a CRC-32 at the end,
    /// so a damaged entry is decoded again instead of trusted).
    public static let version: UInt32 = 3
    static let magic = Array("THUDCLIP".utf8)

    /// Where thud-train keeps the cache unless told otherwise: $XDG_CACHE_HOME/thud/clips, else ~/.cache/thud/clips.
    public static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CACHE_HOME"] ?? ((env["HOME"] ?? NSTemporaryDirectory()) as NSString).appendingPathComponent(".cache")
        return (base as NSString).appendingPathComponent("thud/clips")
    }

    public let directory: String
    public let width: Int
    public let height: Int
    public let minimumSeconds: Double

    /// Where a damaged entry is reported (one line each; the clip is decoded again).
    public var warn: @Sendable (String) -> Void = { fputs("thud-train: warning: \($0)\n", stderr) }

    /// Throws FileWriteError (exit 74, one line naming the folder) when the folder cannot be created or written.
    public init(directory: String, width: Int, height: Int, minimumSeconds: Double = ClipCheck.defaultMinimumSeconds) throws {
        self.directory = directory
        self.width = width
        self.height = height
        self.minimumSeconds = minimumSeconds
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        catch { throw FileWriteError(path: directory, "the cache folder cannot be created") }
        guard access(directory, W_OK) == 0 else {
            throw FileWriteError(path: directory, "the cache folder is not writable (\(String(cString: strerror(errno))))")
        }
    }

    public enum Outcome: Sendable {
        case ready(PreparedClip, fromCache: Bool)
        case faulty(FaultReason, String)
    }

    public func key(for clip: DatasetClip) -> String {
        // The file the path leads to: a link's own size and time stay put when its target is rewritten.
        let url = URL(fileURLWithPath: clip.path).standardizedFileURL.resolvingSymlinksInPath()
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
        let mtime = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
        let text = "v\(Self.version)|\(url.path)|\(size)|\(mtime)|\(width)x\(height)|sigma200|min\(minimumSeconds)"
        var h = FNV1a()
        h.add(text.utf8)
        return h.hex
    }

    /// The prepared clip from the cache, or decoded now (and cached).
    public func prepare(_ clip: DatasetClip) -> Outcome {
        let key = key(for: clip)
        let entry = (directory as NSString).appendingPathComponent(key + ".clip")
        let faultEntry = (directory as NSString).appendingPathComponent(key + ".faulty")
        let trueHits: [Int]?
        do { trueHits = try Self.readHits(clip) } catch {
            // Not the video's fault: reported, not remembered as a faulty clip.
            return .faulty(.badHits, "\(error)")
        }
        if let data = FileManager.default.contents(atPath: entry) {
            if var prepared = decodeEntry(data, clip: clip) {
                prepared.trueHits = trueHits
                return .ready(prepared, fromCache: true)
            }
            warn("\(entry): damaged cache entry for \(clip.path); decoding the clip again")
        }
        if let data = FileManager.default.contents(atPath: faultEntry),
           let text = String(data: data, encoding: .utf8), let bar = text.firstIndex(of: "|"),
           let reason = FaultReason(rawValue: String(text[..<bar])) {
            return .faulty(reason, String(text[text.index(after: bar)...]))
        }
        switch decode(clip) {
        case .success(var prepared):
            writeAtomically(encodeEntry(prepared), to: entry)
            prepared.trueHits = trueHits
            return .ready(prepared, fromCache: false)
        case .failure(let unusable):
            writeAtomically(Array("\(unusable.reason.rawValue)|\(unusable.message)".utf8), to: faultEntry)
            return .faulty(unusable.reason, unusable.message)
        }
    }

    /// One pass over the file: video steps at the model's size and the first audio stream together.
    func decode(_ clip: DatasetClip) -> Result<PreparedClip, Unusable> {
        do {
            let input = try MediaInput(path: clip.path)
            if let missing = ClipCheck.missingStream(hasVideo: input.info.video != nil, hasAudio: input.info.audio != nil) {
                throw Unusable(reason: missing, file: input.name)
            }
            var frames: [UInt8] = []
            // A hint, capped at 10 minutes: the container's claim may be anything (the array grows from what decodes).
            frames.reserveCapacity((StepRate.steps(covering: min(input.info.durationSeconds ?? 5, 600)) + 2) * width * height)
            let summary = try input.decode(video: VideoStepRequest(width: width, height: height), audio: true,
                                             onStep: { step in
                frames.append(contentsOf: step.pixels)
                return true
            })
            let decodedEnvelope = summary.audio.flatMap { $0.decodedFrames > 0 ? AudioEnvelope(samples: $0.samples, sampleRate: $0.sampleRate) : nil }
            // The same rule as `thud probe` and `thud eval` (ClipCheck.unusable).
            if let reason = ClipCheck.unusable(summary, hasVideo: true, envelope: decodedEnvelope, minimumSeconds: minimumSeconds) {
                throw Unusable(reason: reason, file: input.name)
            }
            let audio = summary.audio!, envelope = decodedEnvelope!
            let steps = min(summary.steps, envelope.count)
            let onsets = AudioOnsets.steps(samples: audio.samples, sampleRate: audio.sampleRate, stepCount: steps,
                                           peakLevel: envelope.peakLevel)
            return .success(PreparedClip(clip: clip, steps: steps, width: width, height: height,
                                         frames: Array(frames.prefix(steps * width * height)),
                                         targets: Array(envelope.values.prefix(steps)), db: Array(envelope.db.prefix(steps)),
                                         onsets: onsets, trueHits: nil))
        } catch let unusable as Unusable {
            return .failure(unusable)
        } catch let error as MediaError {
            return .failure(Unusable(error: error))
        } catch {
            return .failure(Unusable(error: MediaError(.internalError, file: clip.path, "\(error)")))
        }
    }

    /// Why decoding a clip gave no training clip: the rule's typed reason when it was the rule, else the media error.
    struct Unusable: Error {
        var reason: FaultReason
        var message: String
        init(reason: UnusableReason, file: String) { self.reason = FaultReason(reason); message = reason.error(file: file).message }
        init(error: MediaError) { reason = FaultReason(error); message = error.message }
    }

    // Entry layout: magic, version, steps, width, height (UInt32 little-endian), frames, targets, db, onsets (Float32),
    // then the CRC-32 (ThudModel's, as model files use) of everything before it.
    func encodeEntry(_ p: PreparedClip) -> [UInt8] {
        var d = Self.magic
        d.reserveCapacity(24 + p.frames.count + 12 * p.steps + 4)
        for v in [Self.version, UInt32(p.steps), UInt32(p.width), UInt32(p.height)] { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        d.append(contentsOf: p.frames)
        p.targets.withUnsafeBytes { d.append(contentsOf: $0) }
        p.db.withUnsafeBytes { d.append(contentsOf: $0) }
        p.onsets.withUnsafeBytes { d.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(d[...]).littleEndian) { d.append(contentsOf: $0) }
        return d
    }

    /// nil for an entry of another version or size, a cut or damaged one (checksum), or values no decoder produces.
    func decodeEntry(_ bytes: Data, clip: DatasetClip) -> PreparedClip? {
        let d = [UInt8](bytes)
        guard d.count >= 28, Array(d.prefix(8)) == Self.magic else { return nil }
        func u32(_ at: Int) -> Int { Int(d[at..<at + 4].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }) }
        guard u32(8) == Int(Self.version) else { return nil }
        let stored = UInt32(u32(d.count - 4))
        guard CRC32.checksum(d[0..<(d.count - 4)]) == stored else { return nil }
        let steps = u32(12), w = u32(16), h = u32(20)
        let (frameBytes, o1) = steps.multipliedReportingOverflow(by: w * h)
        guard !o1, w == width, h == height, d.count == 24 + frameBytes + 12 * steps + 4 else { return nil }
        let frames = [UInt8](d[24..<24 + steps * w * h])
        let floats = d[(24 + steps * w * h)..<(d.count - 4)].withUnsafeBytes { raw in
            (0..<(3 * steps)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        }
        guard floats.allSatisfy(\.isFinite) else { return nil }
        return PreparedClip(clip: clip, steps: steps, width: w, height: h, frames: frames,
                            targets: Array(floats[0..<steps]), db: Array(floats[steps..<2 * steps]),
                            onsets: Array(floats[2 * steps..<3 * steps]), trueHits: nil)
    }

    private func writeAtomically<Bytes: ContiguousBytes>(_ data: Bytes, to path: String) {
        // A crashed run leaves at worst a stray temporary file, never a half-written entry under the real name. A
        // failed write only costs a decode next time (the folder was checked writable at the start).
        do { try AtomicFile.write(data, to: path) } catch { warn("\(error)") }
    }

    static func readHits(_ clip: DatasetClip) throws -> [Int]? { try GroundTruthHits.steps(for: clip) }
}
