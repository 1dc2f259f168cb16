// `--learn DIR`: a feed that learns its own scene while it is watched. Three parts, each usable alone:
//   1. the feed keeps its own sound and pictures: rolling segments in DIR/NAME (a camera's model-sized frames and its
//      microphone, Recorder.runAlongside; a network stream's own packets, PacketRecorder), within a disk budget;
//   2. a learner follows the folder: a child `thud-train adapt --follow DIR/NAME --out DIR/NAME/model.thud` process
//      (training stays out of thud), niced, restarted when it dies;
//   3. the running feed swaps that model in when it changes (--reload's ModelWatch on DIR/NAME/model.thud).
// Nothing here ever holds up a step: the recorders drop and count, the learner is another process, and every failure
// of theirs is one line on stderr while prediction goes on.
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline
import ThudSound

/// What `--learn` was asked to do.
public struct LearnSettings {
    /// DIR: one folder per feed inside it.
    public var directory: String
    /// Each feed's segments are kept within this many bytes (the oldest deleted first).
    public var budgetBytes: Int64 = 300_000_000
    /// Length of a recorded segment (the learner holds out the newest segments to judge a round).
    public var segmentSeconds = 20.0
    /// A camera's microphone (ALSA capture PCM).
    public var audio = CaptureAudioSettings()
    /// Start the learner (false: record only; another process learns).
    public var startsLearner = true
    /// The learner's starting weights (its --from): the model given with --model, else the bundled one.
    public var baseModel: String
    /// Extra arguments for `thud-train adapt --follow` (--every, --threads, …).
    public var learnerArguments: [String] = []

    public init(directory: String, baseModel: String) {
        self.directory = directory
        self.baseModel = baseModel
    }
}

/// One feed's learning: its folder, its recorder and its learner process.
public final class FeedLearning: @unchecked Sendable {
    public let feed: String
    /// DIR/NAME: the segments, the learner's model.thud, learning.jsonl and learner.log.
    public let folder: String
    public let settings: LearnSettings
    private let warn: (String) -> Void
    private let note: (String) -> Void
    private let lock = NSLock()
    private var stopping = false
    private let stopWake = DispatchSemaphore(value: 0)
    private var cameraRecorder: Recorder?
    private var cameraThread: Thread?
    private let cameraDone = DispatchSemaphore(value: 0)
    private var cameraSummary: RecordSummary?
    private var packetRecorder: PacketRecorder?
    private var learner: LearnerProcess?

    /// The model this feed's learner writes.
    public var modelPath: String { (folder as NSString).appendingPathComponent("model.thud") }

    /// A feed's folder name: its name with anything but letters, digits, '.', '-' and '_' made '_' (a URL's host:port
    /// and path become one plain name).
    public static func folderName(for feed: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
        let name = String(feed.map { allowed.contains($0) ? $0 : "_" }).trimmingCharacters(in: CharacterSet(charactersIn: "._"))
        return name.isEmpty ? "feed" : name
    }

    /// The feed name of a single input (predict, live): a network stream's as `thud watch` names it (host, port and
    /// path), a camera's device name (video0).
    public static func feedName(ofInput input: String) -> String {
        if NetworkStream.isURL(input), let spec = FeedSpec(argument: input) { return spec.name }
        return (input as NSString).lastPathComponent
    }

    /// The folder is made now (a folder that cannot be made is the run's one-line error, exit 74, before any step).
    /// `warn`: one line for what goes wrong (prediction goes on); `note`: one line for what happens.
    public init(settings: LearnSettings, feed: String, warn: @escaping (String) -> Void, note: @escaping (String) -> Void) throws {
        self.settings = settings
        self.feed = feed
        self.warn = warn
        self.note = note
        folder = (settings.directory as NSString).appendingPathComponent(Self.folderName(for: feed))
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(path: folder, "cannot be created (\(error.localizedDescription))")
        }
        try AtomicFile.checkWritable(modelPath)
    }

    /// The model a feed starts from: the one learned from it before, when there is one and no --model was given
    /// (said on stderr through `note`), else `given`. A learned file that does not load is passed over with a warning.
    public func startingModel(given: (path: String, model: StreamingModel), explicit: Bool) -> (path: String, model: StreamingModel) {
        guard !explicit, FileManager.default.fileExists(atPath: modelPath) else { return given }
        do {
            let learned = try StreamingModel(path: modelPath)
            guard learned.inputWidth == given.model.inputWidth, learned.inputHeight == given.model.inputHeight else {
                warn("\(modelPath): input \(learned.inputWidth)x\(learned.inputHeight), not the \(given.model.inputWidth)x\(given.model.inputHeight) of \(given.path); starting from \(given.path)")
                return given
            }
            let seconds = learned.header.provenance["learned_seconds"].flatMap(Double.init)
            note("\(feed): starting from the model learned from this feed before, \(modelPath)\(seconds.map { " (\(Format.fixed($0, 0)) s learned)" } ?? "") (--model names another)")
            return (modelPath, learned)
        } catch {
            warn("\((error as? OneLineError)?.message ?? "\(modelPath): \(error)"); starting from \(given.path)")
            return given
        }
    }

    /// Starts keeping the feed's sound and pictures: a network stream's packets are copied as they are read; a
    /// camera's frames are recorded beside the live loop with the microphone. Call before the source is served.
    public func attach(to source: StepSource) {
        if let network = source as? NetworkSource {
            do {
                let segments = try SegmentFolder(path: folder, budgetBytes: settings.budgetBytes)
                let recorder = PacketRecorder(folder: segments, segmentSeconds: settings.segmentSeconds, feedName: feed, warn: warn)
                network.feed.recorder = recorder
                packetRecorder = recorder
            } catch {
                warn("\(feed): \((error as? OneLineError)?.message ?? "\(error)"); not recording, predicting on")
            }
        } else if let camera = source as? CameraSource, let session = camera.session {
            var record = RecordSettings(device: source.name, request: session.request, audio: settings.audio, outDirectory: folder)
            record.clipSeconds = settings.segmentSeconds
            record.budgetBytes = settings.budgetBytes
            let thread = Thread { [self, record] in
                defer { cameraDone.signal() }
                // A write that fails (a full disk) drops the segment being written; recording tries again after a
                // while (the budget or the user may make room): one line when it first fails, none while it keeps
                // failing, one when a segment is written again. A microphone that fails ends the recording: one line.
                var failing = false
                while true {
                    let recorder = Recorder(settings: record)
                    recorder.log = { [note] line in if !failing { note(line.hasPrefix("thud: ") ? String(line.dropFirst(6)) : line) } }
                    recorder.clipFinished = { [note, feed] path in
                        if failing { note("\(feed): recording again (\(path))") }
                        failing = false
                    }
                    guard lock.withLock({ () -> Bool in
                        if stopping { return false }
                        cameraRecorder = recorder
                        return true
                    }) else { return }
                    do {
                        let summary = try recorder.runAlongside(session)
                        cameraSummary = cameraSummary.map { $0.adding(summary) } ?? summary
                        return
                    } catch let error as OneLineError where error.exitCode == 74 {
                        // FileWriteError or MediaError naming the segment: the disk, not the devices.
                        if !failing { warn("\(feed): \(error.message): the segment is dropped; recording again in 30 s, predicting on") }
                        failing = true
                    } catch {
                        warn("\(feed): recording stopped: \((error as? OneLineError)?.message ?? "\(error)"); predicting on")
                        return
                    }
                    if session.ring.isFinished || stopWake.wait(timeout: .now() + 30) == .success { return }
                }
            }
            thread.name = "record \(feed)"
            cameraThread = thread
            thread.start()
        } else {
            warn("\(feed): --learn needs a camera or a network stream; this input is neither, nothing is recorded")
        }
    }

    /// Starts the learner process (`thud-train adapt --follow`), unless asked not to.
    public func startLearner() {
        guard settings.startsLearner else { return }
        let arguments = ["adapt", "--follow", folder, "--out", modelPath, "--from", settings.baseModel, "--exit-with-parent"]
            + settings.learnerArguments
        learner = LearnerProcess(feed: feed, arguments: arguments, log: (folder as NSString).appendingPathComponent("learner.log"), warn: warn)
        learner?.start()
    }

    /// Ends the recording (the open segment is finished) and the learner (SIGTERM: it leaves its model whole).
    public func stop() {
        let recorder: Recorder? = lock.withLock { stopping = true; return cameraRecorder }
        stopWake.signal()
        recorder?.requestStop()
        if cameraThread != nil { cameraDone.wait(); cameraThread = nil }
        packetRecorder?.stop()
        learner?.stop()
    }

    /// The run's learning figures in one line.
    public var report: String {
        var parts: [String] = []
        if let s = cameraSummary { parts.append("recorded \(s.clips.count) segment(s), \(Format.fixed(s.seconds, 1)) s, camera frames lost \(s.videoFramesLost), \(s.clipsDeletedForBudget) deleted for the budget") }
        if let p = packetRecorder?.statistics {
            parts.append("recorded \(p.segmentsWritten) segment(s), \(Format.fixed(p.secondsRecorded, 1)) s, packets dropped \(p.packetsDropped), \(p.segmentsDeleted) deleted for the budget")
        }
        if let m = try? ModelFile.read(path: modelPath) {
            parts.append("model \(modelPath)\(m.header.provenance["learned_seconds"].map { " (\($0) s learned)" } ?? "")")
        } else {
            parts.append("no model learned yet (\(modelPath))")
        }
        if let l = learner { parts.append(l.report) }
        return "\(feed): learning into \(folder): " + parts.joined(separator: "; ")
    }
}

/// The learner: a `thud-train adapt --follow` child process, its output appended to a log, restarted (after a
/// wait that doubles up to five minutes) when it exits on its own. Where thud-train is: beside the running thud (a
/// build folder, an install), else on PATH; not found → one line, recording goes on.
public final class LearnerProcess: @unchecked Sendable {
    public let feed: String
    public let arguments: [String]
    public let logPath: String
    private let warn: (String) -> Void
    private let lock = NSLock()
    private var process: Process?
    private var stopping = false
    private var restarts = 0
    private let wake = DispatchSemaphore(value: 0)
    private var supervisor: Thread?
    private let supervisorDone = DispatchSemaphore(value: 0)

    public init(feed: String, arguments: [String], log: String, warn: @escaping (String) -> Void) {
        self.feed = feed; self.arguments = arguments; logPath = log; self.warn = warn
    }

    /// thud-train beside this executable, else on PATH; nil when there is none.
    public static func executable() -> String? {
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let beside = ((own as NSString).deletingLastPathComponent as NSString).appendingPathComponent("thud-train")
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = (String(dir) as NSString).appendingPathComponent("thud-train")
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public func start() {
        guard let executable = Self.executable() else {
            warn("\(feed): thud-train is neither beside thud nor on PATH: recording only, nothing learns from it")
            return
        }
        let thread = Thread { [self] in
            defer { supervisorDone.signal() }
            var delay = 10.0
            while true {
                let exit = runOnce(executable)
                let stop = lock.withLock { stopping }
                if stop { return }
                guard let exit else { return }
                restarts += 1
                warn("\(feed): the learner (thud-train adapt --follow) \(exit); its log: \(logPath); predicting on with the model it left, restarting it in \(Format.fixed(delay, 0)) s")
                if wake.wait(timeout: .now() + delay) == .success { return }
                delay = min(delay * 2, 300)
            }
        }
        thread.name = "learner \(feed)"
        supervisor = thread
        thread.start()
    }

    /// Runs the learner until it exits; returns how it ended, or nil when it could not be started (said in one line).
    private func runOnce(_ executable: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else {
            warn("\(feed): \(logPath): cannot be written (\(String(cString: strerror(errno)))): the learner is not started")
            return nil
        }
        let log = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        do {
            try lock.withLock {
                if stopping { throw CancellationError() }
                try p.run()
                process = p
            }
        } catch is CancellationError {
            return nil
        } catch {
            warn("\(feed): the learner \(executable) does not start (\(error.localizedDescription)): recording only")
            return nil
        }
        p.waitUntilExit()
        lock.withLock { process = nil }
        return p.terminationReason == .uncaughtSignal ? "was killed by signal \(p.terminationStatus)" : "exited with status \(p.terminationStatus)"
    }

    /// SIGTERM to the learner (it stops within a batch, its model whole) and waits for it (SIGKILL after 20 s).
    public func stop() {
        let running: Process? = lock.withLock { stopping = true; return process }
        wake.signal()
        if let running, running.isRunning {
            kill(running.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(20)
            while running.isRunning, Date() < deadline { usleep(20_000) }
            if running.isRunning { kill(running.processIdentifier, SIGKILL) }
        }
        if supervisor != nil { supervisorDone.wait(); supervisor = nil }
    }

    public var report: String { "learner restarted \(restarts) time(s), its log \(logPath)" }
}
