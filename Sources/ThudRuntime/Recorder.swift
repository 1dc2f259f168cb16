// `thud record`: a camera (V4L2, through CaptureSession's capture thread and ring) and a microphone (ALSA, through
// AlsaCapture's thread) written side by side into self-contained Matroska clips that thud-train reads as a folder of
// videos. Both are stamped with CLOCK_MONOTONIC (the driver's buffer timestamps, ALSA's htstamp), so a clip's
// audio sample and video frame of one instant land on one 12 Hz step.
import Foundation
import ThudBase
import ThudMedia
import ThudSound

public struct RecordSettings {
    public var device: String
    public var request: CaptureRequest
    public var audio: CaptureAudioSettings
    public var outDirectory: String
    public var clipSeconds: Double = 30
    /// Stop after this many clips; nil: until stopped (Ctrl-C, SIGTERM, `requestStop`).
    public var clips: Int?
    public var audioCodec: AudioCodecChoice = .flac
    public var videoCodec: VideoCodecChoice = .h264
    /// Clip names start with this (then the session's start time and a number), so clips sort in recording order.
    public var namePrefix = "rec"
    /// A disk budget for the folder's clips (`--learn`'s rolling segments): the oldest are deleted first before a new
    /// clip starts. nil: keep every clip (`thud record`).
    public var budgetBytes: Int64?

    public init(device: String, request: CaptureRequest, audio: CaptureAudioSettings, outDirectory: String) {
        self.device = device; self.request = request; self.audio = audio; self.outDirectory = outDirectory
    }
}

public struct RecordSummary: Sendable {
    public var clips: [String] = []
    public var seconds = 0.0
    public var videoFrames = 0
    /// Camera frames that never reached a clip (the driver's sequence gaps, frames the ring overwrote).
    public var videoFramesLost = 0
    public var audio = AudioCaptureStatistics()
    /// Silence written where audio was missing (an overrun's gap, a microphone that started late), in frames.
    public var audioFramesPadded = 0
    /// Clips deleted to keep the folder within its budget (`--learn-budget`).
    public var clipsDeletedForBudget = 0

    /// Two runs' figures together (--learn's recorder started again after a failed write).
    public func adding(_ other: RecordSummary) -> RecordSummary {
        var s = self
        s.clips += other.clips; s.seconds += other.seconds; s.videoFrames += other.videoFrames
        s.videoFramesLost += other.videoFramesLost; s.audioFramesPadded += other.audioFramesPadded
        s.clipsDeletedForBudget += other.clipsDeletedForBudget
        s.audio.overruns += other.audio.overruns; s.audio.blocksDropped += other.audio.blocksDropped
        return s
    }

    /// The run's figures in one line (the command prints it).
    public func describe(folder: String, sampleRate: Int) -> String {
        String(format: "recorded %d clip(s), %.1f s, into %@; camera frames %d, lost %d; audio overruns %d, silence padded %.0f ms, blocks dropped %d",
               clips.count, seconds, folder, videoFrames, videoFramesLost, audio.overruns,
               Double(audioFramesPadded) / Double(sampleRate) * 1000, audio.blocksDropped)
    }
}

/// The recorder loop. Video frames are taken from the ring in order (every frame, not one per 12 Hz step) and
/// encoded as they come; audio blocks are placed by their timestamps relative to the clip's first frame: a block
/// within 40 ms of where the previous one ended continues it (timestamp jitter is not a gap), a later one is
/// preceded by silence (an overrun's lost audio stays lost, but what follows keeps its time), an earlier one
/// overlaps and its first frames are dropped. A clip ends at its first frame's time plus `clipSeconds`; its audio is
/// completed to that instant (waiting for the blocks still in flight) and the next clip starts at the next frame.
/// A clip is written under a temporary name (`.NAME.mkv.partial`, which thud-train ignores), then fsync'd and
/// renamed: a folder only ever holds finished clips.
public final class Recorder {
    public let settings: RecordSettings
    /// One-line notices (stderr by default).
    public var log: (String) -> Void = { fputs($0 + "\n", stderr) }
    /// Called with each finished clip's path.
    public var clipFinished: (String) -> Void = { _ in }

    private var stopRequested = false
    private let stopLock = NSLock()
    private var session: CaptureSession?

    public init(settings: RecordSettings) {
        self.settings = settings
    }

    /// Ends the recording after the current frame; the open clip is finished (playable). Safe from any thread.
    public func requestStop() {
        stopLock.lock(); stopRequested = true; let s = session; stopLock.unlock()
        s?.requestStop()
    }

    private var stopping: Bool { stopLock.lock(); defer { stopLock.unlock() }; return stopRequested }

    // MARK: the open clip

    private final class OpenClip {
        let writer: MediaWriter
        let temporary: String
        let path: String
        let start: Double
        let endFrames: Int       // audio frames in a full clip
        var audioFrames = 0
        var videoFrames = 0
        var lastFrameTime = 0.0
        init(writer: MediaWriter, temporary: String, path: String, start: Double, endFrames: Int) {
            self.writer = writer; self.temporary = temporary; self.path = path; self.start = start; self.endFrames = endFrames
        }
    }

    private var clip: OpenClip?
    private var summary = RecordSummary()
    private var sampleRate = 48_000
    private var channels = 1
    // Audio that arrived while no clip was open, or beyond the open clip's end: contiguous from carryTime.
    private var carry: UnsafeMutablePointer<Float>!
    private var carryCapacity = 0     // frames
    private var carryFrames = 0
    private var carryTime = 0.0
    private var silence: UnsafeMutablePointer<Float>!
    private let silenceFrames = 4096
    private var folder: SegmentFolder!
    /// The size of the last finished clip: room kept for the next one within the budget.
    private var lastClipBytes: Int64 = 0
    private var videoSize = (width: 0, height: 0)
    private var frameRate = 30.0

    /// Records until stopped or `clips` are done. Throws CaptureError (30/31), SoundError (41), FileWriteError or
    /// MediaError (74); every clip finished before the error stays.
    @discardableResult
    public func run() throws -> RecordSummary {
        var request = settings.request
        request.outputWidth = request.captureWidth
        request.outputHeight = request.captureHeight
        request.ringCapacity = max(request.ringCapacity, 16)
        var session = try CaptureSession(device: settings.device, request: request)
        // Clips keep the size the camera gave (the nearest it offers to the one asked for), rounded down to even
        // for the encoder's 4:2:0: asked 320x240, a camera that gives 320x180 is recorded at 320x180, not squashed.
        let given = (session.format.width / 2 * 2, session.format.height / 2 * 2)
        if given != (request.outputWidth, request.outputHeight), given.0 >= 16, given.1 >= 16 {
            session.stop()
            request.outputWidth = given.0
            request.outputHeight = given.1
            session = try CaptureSession(device: settings.device, request: request)
        }
        session.log = log
        let audio = try AlsaCapture(settings: settings.audio)
        // The folder once both devices are open: a wrong device name leaves nothing behind.
        folder = try SegmentFolder(path: settings.outDirectory, budgetBytes: settings.budgetBytes, prefix: settings.namePrefix)
        stopLock.lock(); self.session = session; let early = stopRequested; stopLock.unlock()
        if early { return summary }
        try session.start()
        defer { session.stop() }
        return try record(session, audio: audio, alongside: false)
    }

    /// `--learn`: records the frames of a camera session that the live loop runs (and started), beside it, with the
    /// microphone; the live loop's steps never wait for it (it reads the ring without marking frames as handed out,
    /// and a frame the ring overwrote before it was read is counted as lost). Ends when the session stops (its ring
    /// is finished) or `requestStop`; the open clip is finished. Throws as `run` does (the caller reports it in one
    /// line and the live loop goes on).
    @discardableResult
    public func runAlongside(_ session: CaptureSession) throws -> RecordSummary {
        let audio = try AlsaCapture(settings: settings.audio)
        folder = try SegmentFolder(path: settings.outDirectory, budgetBytes: settings.budgetBytes, prefix: settings.namePrefix)
        if stopping { return summary }
        return try record(session, audio: audio, alongside: true)
    }

    private func record(_ session: CaptureSession, audio: AlsaCapture, alongside: Bool) throws -> RecordSummary {
        sampleRate = audio.sampleRate
        channels = audio.channels
        videoSize = (session.ring.width, session.ring.height)
        frameRate = session.format.framesPerSecond ?? settings.request.framesPerSecond ?? 30
        carryCapacity = sampleRate * 2
        carry = .allocate(capacity: carryCapacity * channels)
        silence = .allocate(capacity: silenceFrames * channels)
        silence.initialize(repeating: 0, count: silenceFrames * channels)
        defer { carry.deallocate(); silence.deallocate() }
        let gray = UnsafeMutablePointer<UInt8>.allocate(capacity: session.ring.frameByteCount)
        defer { gray.deallocate() }

        let f = session.format
        let size = alongside ? " (the model's \(videoSize.width)x\(videoSize.height) luma, as the live loop sees it)" : ""
        log("thud: recording \(settings.device) (\(f.fourcc) \(f.width)x\(f.height)\(f.framesPerSecond.map { String(format: " at %.2f fps", $0) } ?? ""))\(size) and '\(audio.device)' (\(sampleRate) Hz x \(channels), period \(audio.periodFrames) frames) into \(settings.outDirectory), \(Format.fixed(settings.clipSeconds, 1)) s clips")
        try audio.start()
        defer { audio.stop() }

        var lastTimestamp = -Double.infinity
        var lastSequence: UInt32?
        do {
            while !stopping {
                while let block = try audio.nextBlock(timeout: 0) { try feed(block) }
                guard let frame = try session.ring.takeNext(after: lastTimestamp, into: gray,
                                                            deadline: MonotonicClock.seconds() + 0.05, marking: !alongside) else {
                    if session.ring.isFinished { break }
                    continue
                }
                lastTimestamp = frame.timestamp
                if let last = lastSequence {
                    let gap = frame.sequence &- last &- 1
                    if gap > 0 && gap < 1 << 20 { summary.videoFramesLost += Int(gap) }
                }
                lastSequence = frame.sequence
                if let open = clip, frame.timestamp - open.start >= settings.clipSeconds {
                    try finishClip(open, until: open.start + settings.clipSeconds, audio: audio)
                    if let limit = settings.clips, summary.clips.count >= limit { break }
                }
                if clip == nil { try openClip(at: frame.timestamp) }
                let open = clip!
                try open.writer.writeVideoFrame(gray: UnsafeBufferPointer(start: gray, count: session.ring.frameByteCount),
                                                stride: videoSize.width, time: frame.timestamp - open.start)
                open.videoFrames += 1
                open.lastFrameTime = frame.timestamp
                summary.videoFrames += 1
            }
            // Stopped (Ctrl-C, SIGTERM, --clips): the open clip ends one frame after its last frame.
            if let open = clip {
                try finishClip(open, until: open.lastFrameTime + 1 / max(1, frameRate), audio: audio)
            }
        } catch {
            // A lost device or a write that failed: the clip being written is dropped (its audio or video would end
            // early, or it is half-written); every finished clip stays.
            if let open = clip { abandon(open) }
            // The line names the clip, not its temporary name.
            if let e = error as? MediaError, e.file.hasSuffix(".partial") {
                let folder = (e.file as NSString).deletingLastPathComponent
                let name = String((e.file as NSString).lastPathComponent.dropFirst().dropLast(".partial".count))
                throw MediaError(e.kind, file: (folder as NSString).appendingPathComponent(name), e.problem)
            }
            throw error
        }
        audio.stop()
        summary.audio = audio.statistics
        return summary
    }

    private func openClip(at start: Double) throws {
        let deleted = folder.prune(reserve: lastClipBytes)
        summary.clipsDeletedForBudget += deleted.count
        let (path, temporary) = folder.next()
        let writer = try MediaWriter(path: temporary,
                                     video: VideoEncodeSettings(width: videoSize.width, height: videoSize.height, codec: settings.videoCodec,
                                                                nominalFrameRate: frameRate, crf: 20, h264Preset: "ultrafast"),
                                     audio: AudioEncodeSettings(sampleRate: sampleRate, channels: channels, codec: settings.audioCodec),
                                     format: "matroska")
        let open = OpenClip(writer: writer, temporary: temporary, path: path, start: start,
                            endFrames: Int((settings.clipSeconds * Double(sampleRate)).rounded()))
        clip = open
        if carryFrames > 0 {
            // Audio that came before this clip opened: what lies at or after its start belongs to it.
            let frames = carryFrames, time = carryTime
            carryFrames = 0
            try place(UnsafeBufferPointer(start: carry, count: frames * channels), time: time, in: open)
        }
    }

    /// Completes the clip's audio up to `end` (waiting up to a second for blocks still in flight, then silence),
    /// finishes the file and puts it in place.
    private func finishClip(_ open: OpenClip, until end: Double, audio: AlsaCapture) throws {
        let needed = min(open.endFrames, Int(((end - open.start) * Double(sampleRate)).rounded()))
        let giveUp = MonotonicClock.seconds() + 1
        while open.audioFrames < needed && carryFrames == 0 && MonotonicClock.seconds() < giveUp {
            if let block = try audio.nextBlock(timeout: 0.05) { try feed(block, limit: needed) }
        }
        if open.audioFrames < needed { try pad(needed - open.audioFrames, in: open) }
        clip = nil
        try open.writer.finish()
        try folder.commit(open.temporary, to: open.path)
        var st = stat()
        if stat(open.path, &st) == 0 { lastClipBytes = Int64(st.st_size) }
        summary.clips.append(open.path)
        summary.seconds += Double(needed) / Double(sampleRate)
        clipFinished(open.path)
    }

    private func abandon(_ open: OpenClip) {
        clip = nil
        _ = try? open.writer.finish()
        unlink(open.temporary)
    }

    // MARK: audio placement

    private func feed(_ block: CapturedAudioBlock, limit: Int? = nil) throws {
        if let open = clip {
            try place(block.samples, time: block.time, in: open, limit: limit)
        } else {
            keep(block.samples, time: block.time)
        }
    }

    /// Keeps audio for the next clip (contiguous with what is kept, or instead of it).
    private func keep(_ samples: UnsafeBufferPointer<Float>, time: Double) {
        let frames = samples.count / channels
        let expected = carryTime + Double(carryFrames) / Double(sampleRate)
        if carryFrames == 0 || abs(time - expected) > 0.04 || carryFrames + frames > carryCapacity {
            carryFrames = 0
            carryTime = time
        }
        guard frames <= carryCapacity, let base = samples.baseAddress else { return }
        (carry + carryFrames * channels).update(from: base, count: frames * channels)
        carryFrames += frames
    }

    /// Writes `samples` (first frame at monotonic `time`) where they belong in the open clip; what lies past the
    /// clip's end (or `limit`) is kept for the next clip.
    private func place(_ samples: UnsafeBufferPointer<Float>, time: Double, in open: OpenClip, limit: Int? = nil) throws {
        guard let base = samples.baseAddress else { return }
        let frames = samples.count / channels
        let rate = Double(sampleRate)
        var first = 0
        var position = Int(((time - open.start) * rate).rounded())
        let tolerance = Int(0.04 * rate)
        if position < 0 {
            // Heard before the clip's first frame.
            first = min(frames, -position)
            position = 0
        }
        if open.audioFrames == 0 || position - open.audioFrames > tolerance {
            if position > open.audioFrames { try pad(position - open.audioFrames, in: open) }
        }
        if open.audioFrames - position > tolerance {
            first = min(frames, first + open.audioFrames - position)   // overlaps what is written: drop its start
        }
        let end = min(open.endFrames, limit ?? open.endFrames)
        let room = max(0, end - open.audioFrames)
        let count = min(frames - first, room)
        if count > 0 {
            try open.writer.writeAudio(interleaved: UnsafeBufferPointer(start: base + first * channels, count: count * channels))
            open.audioFrames += count
        }
        let rest = first + max(0, count)
        if rest < frames {
            keep(UnsafeBufferPointer(start: base + rest * channels, count: (frames - rest) * channels), time: time + Double(rest) / rate)
        }
    }

    private func pad(_ frames: Int, in open: OpenClip) throws {
        var left = min(frames, max(0, open.endFrames - open.audioFrames))
        summary.audioFramesPadded += left
        while left > 0 {
            let n = min(left, silenceFrames)
            try open.writer.writeAudio(interleaved: UnsafeBufferPointer(start: silence, count: n * channels))
            open.audioFrames += n
            left -= n
        }
    }
}
