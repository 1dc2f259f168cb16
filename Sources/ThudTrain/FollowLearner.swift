import Foundation
import ThudBase
import ThudEval
import ThudModel

/// Why following a folder cannot go on: one line naming the path, and its exit code (README, "Exit codes").
public struct FollowError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String
    /// 11 (not a folder of videos), as DatasetError says for a dataset that is not a folder.
    public var exitCode: Int32 = 11
    public var description: String { "\(path): \(problem)" }
}

extension FollowError: OneLineError {
    public var message: String { description }
}

/// `thud-train adapt --follow DIR --out M`: learning that follows a folder a recorder fills (`thud … --learn`'s rolling
/// segments, `rec-YYYYmmdd-HHMMSS-NNN.mkv`, named in recording order, renamed into place whole, the oldest deleted
/// when the recorder's disk budget asks). Whenever `every` seconds of new recording have arrived (`minimumSeconds`
/// before the first round), a round adapts BASE (Adaptation.Run, `adapt DATASET`'s preset) on the newest segments,
/// holds out the newest of them, and replaces M (atomically) only when the adapted model beats the current M there.
/// Each round appends a line to DIR/learning.jsonl.
///
/// Every round starts from BASE, not from M. From M would be cheaper (fewer epochs to a good model) and would add up
/// what earlier rounds learned beyond the window, but it would also add up their mistakes: the comparison that lets a
/// model in is made on a few seconds of held-out recording (a handful of hits), so now and then a model that is no
/// better wins it, and a learner that starts from M would build on that one and drift from BASE round after round,
/// with nothing to pull it back. Started from BASE, every candidate is `adapt`'s measured fine-tune of the newest
/// `window` seconds, independent of earlier luck; a lucky M is displaced by the next round whose candidate beats it
/// on newer recording (M is scored afresh on each round's held-out part). `--window` bounds what a round costs.
///
/// Files: M (written only through ModelFile.write, i.e. AtomicFile: a kill at any moment leaves the previous M or the
/// new one, whole); DIR/learning.jsonl (one line per round, each a single append; a line cut by a kill is removed
/// at the next start); DIR/.learner/ (the round's candidate, checkpoint and best-so-far, cleared at every start; the
/// lock that keeps a second learner off DIR; the decode cache unless one is given, kept to the segments a round reads).
public final class FollowLearner {
    public struct Configuration: Sendable {
        /// DIR: the folder the recorder fills.
        public var folder: String
        /// M: the model written when a round's candidate beats it.
        public var model: String
        /// BASE: the model every round starts from (and compared with while M does not exist or cannot be read).
        public var base: String
        public var choices = Adaptation.Choices()
        /// Adaptation.heldOut's share: the newest segments (at least one) that decide.
        public var heldOutShare = 0.25
        /// Seconds of new recording that start a round.
        public var every = 60.0
        /// Seconds of recording before the first round.
        public var minimumSeconds = 30.0
        /// A round learns on at most the newest this-many seconds before its held-out part.
        public var window = 600.0
        /// Seconds between two looks at DIR.
        public var poll = 5.0
        /// The decode cache; nil: DIR/.learner/cache, holding only the segments the last round read.
        public var cache: String?
        /// The command line, as a written model's provenance records it.
        public var command = "thud-train adapt --follow"

        public init(folder: String, model: String, base: String) {
            self.folder = folder; self.model = model; self.base = base
        }
    }

    public let configuration: Configuration
    /// Round lines and what the learner is doing (waiting for DIR, starting).
    private let log: (String) -> Void
    /// A problem it goes on after: a segment skipped, M not written. At most one line per segment.
    private let warn: (String) -> Void
    /// Called before each round (thud-train lowers the priority of threads made since the last one).
    public var beforeRound: () -> Void = {}

    private let baseHeader: ModelHeader
    private let baseModel: StreamingModel
    private var work: String { (configuration.folder as NSString).appendingPathComponent(".learner") }
    public var journalPath: String { (configuration.folder as NSString).appendingPathComponent("learning.jsonl") }
    private var candidatePath: String { (work as NSString).appendingPathComponent("candidate.thud") }

    /// What is known of each segment, by path: its length once decoded, that it does not decode (reported once), or
    /// that it lies beyond what any round will read (never decoded).
    private enum Segment {
        case usable(DatasetClip, steps: Int)
        case faulty
        case beyondReach
    }
    private var segments: [String: Segment] = [:]
    private var reported: Set<String> = []
    /// Steps of usable segments first seen since the last round started.
    private var newSteps = 0
    private var hadRound = false
    /// The last round's number (learning.jsonl's last line, at the start).
    private var rounds = 0
    private var cache: FeatureCache?
    private var lockDescriptor: Int32 = -1
    /// One line for each reason M is not what a round compares with (it is missing is no reason).
    private var modelNotes: Set<String> = []

    /// Reads BASE (ModelFileError, 20, when it does not load).
    public init(configuration: Configuration, log: @escaping (String) -> Void, warn: @escaping (String) -> Void) throws {
        self.configuration = configuration
        self.log = log
        self.warn = warn
        baseHeader = try ModelFile.read(path: configuration.base).header
        baseModel = try StreamingModel(path: configuration.base)
    }

    deinit { if lockDescriptor >= 0 { close(lockDescriptor) } }

    private var hz: Double { StepRate.hz }
    /// How far back (newest first) a round reads: its window and the held-out share beside it.
    private var reachSteps: Int {
        Int((max(configuration.window / (1 - configuration.heldOutShare), configuration.minimumSeconds) * hz).rounded(.up))
    }

    /// Follows DIR until `interrupted` says stop (between batches, segments and looks), then returns with M as the
    /// last round that beat it left it. `pause` waits up to the given seconds (and returns early on a stop request).
    /// Throws for a DIR that is a file (11), a second learner on DIR or an M that cannot be written (74).
    public func run(interrupted: () -> Bool, pause: (Double) -> Void) throws {
        var waiting = false
        while !interrupted() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: configuration.folder, isDirectory: &isDirectory) else {
                if !waiting { log("\(configuration.folder): not there yet; waiting for the recorder to make it") }
                waiting = true
                stopFollowing()
                pause(configuration.poll)
                continue
            }
            guard isDirectory.boolValue else { throw FollowError(path: configuration.folder, problem: "is not a folder (adapt --follow follows a folder of recorded segments)") }
            waiting = false
            if cache == nil { try startFollowing() }
            if try look(interrupted: interrupted), !interrupted() {
                try round(interrupted: interrupted)
            } else {
                pause(configuration.poll)
            }
        }
    }

    // MARK: Starting

    /// DIR is there: its lock taken, the last run's round files cleared, the cache opened, M checked writable,
    /// learning.jsonl's last line read (a line a kill cut short removed).
    private func startFollowing() throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: work) {
            do { try fm.createDirectory(atPath: work, withIntermediateDirectories: false) } catch {
                throw FileWriteError(path: work, "cannot be created (\(error.localizedDescription))")
            }
        }
        let lock = (work as NSString).appendingPathComponent("lock")
        let fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError(path: lock, "cannot be created (\(AtomicFile.lastError()))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: lock, encoding: .utf8)).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            close(fd)
            throw FileWriteError(path: configuration.folder, "another learner follows this folder\(holder.isEmpty ? "" : " (pid \(holder))")")
        }
        lockDescriptor = fd
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        // A killed round's candidate, checkpoint and best-so-far: nothing in them is worth going on from (a round
        // starts from BASE), and the next round writes its own.
        for name in (try? fm.contentsOfDirectory(atPath: work)) ?? [] where name != "lock" && name != "cache" {
            try? fm.removeItem(atPath: (work as NSString).appendingPathComponent(name))
        }
        let input = baseHeader.architecture.input
        cache = try FeatureCache(directory: configuration.cache ?? (work as NSString).appendingPathComponent("cache"),
                                 width: input.width, height: input.height)
        cache!.warn = { [warn] in warn($0) }
        try AtomicFile.checkWritable(configuration.model)
        rounds = repairJournal()
        log("following \(configuration.folder): \(segmentsLine)")
    }

    private var segmentsLine: String {
        "a round after every \(Format.fixed(configuration.every, 0)) s recorded (the first after \(Format.fixed(configuration.minimumSeconds, 0)) s), each from \(configuration.base) on at most the newest \(Format.fixed(configuration.window, 0)) s, the newest \(Format.fixed(100 * configuration.heldOutShare, 0))% held out; \(configuration.model) replaced when beaten there; rounds in \(journalPath)"
    }

    /// DIR went away: its lock is let go and everything is looked at afresh when it is back.
    private func stopFollowing() {
        guard cache != nil else { return }
        cache = nil
        segments = [:]
        if lockDescriptor >= 0 { close(lockDescriptor); lockDescriptor = -1 }
    }

    /// Removes a last line a kill cut short (no newline at the end) and returns the last whole line's round number.
    private func repairJournal() -> Int {
        let fd = open(journalPath, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return 0 }
        let tailLength = Int(min(size, 65_536))
        var tail = [UInt8](repeating: 0, count: tailLength)
        guard pread(fd, &tail, tailLength, size - off_t(tailLength)) == tailLength else { return 0 }
        if tail.last != UInt8(ascii: "\n") {
            let keep = tail.lastIndex(of: UInt8(ascii: "\n")).map { size - off_t(tailLength) + off_t($0) + 1 } ?? (tailLength == size ? 0 : size)
            if keep < size, ftruncate(fd, keep) == 0 {
                warn("\(journalPath): its last line was cut short (a learner killed while writing it); removed")
                tail = Array(tail.prefix(max(0, tailLength - Int(size - keep))))
            }
        }
        for line in tail.split(separator: UInt8(ascii: "\n")).reversed() {
            if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let round = object["round"] as? Int {
                return round
            }
        }
        return 0
    }

    // MARK: Looking

    /// Lists DIR's finished segments, decodes the new ones within a round's reach (newest first; into the cache, so
    /// the round reads them back cheaply) and says whether a round is due.
    private func look(interrupted: () -> Bool) throws -> Bool {
        guard let cache else { return false }
        // The recorder's temporary segments are hidden (.NAME.partial), and so is the learner's own folder.
        let listed = ((try? Dataset.videos(in: configuration.folder, validationShare: 0)) ?? [])
            .filter { clip in !clip.id.split(separator: "/").contains { $0.hasPrefix(".") } }
        let present = Set(listed.map(\.path))
        segments = segments.filter { present.contains($0.key) }
        var covered = 0
        for clip in listed.reversed() {
            if interrupted() { return false }
            switch segments[clip.path] {
            case .usable(_, let steps)?: covered += steps
            case .faulty?, .beyondReach?: continue
            case nil:
                // Older than any round reads: a long recording found at the start is not decoded for nothing.
                guard covered < reachSteps else { segments[clip.path] = .beyondReach; continue }
                switch cache.prepare(clip) {
                case .ready(let prepared, _):
                    segments[clip.path] = .usable(clip, steps: prepared.steps)
                    covered += prepared.steps
                    newSteps += prepared.steps
                case .faulty(let reason, _):
                    skip(clip, reason)
                }
            }
        }
        if hadRound { return Double(newSteps) >= configuration.every * hz }
        let recorded = segments.values.reduce(0) { if case .usable(_, let steps) = $1 { return $0 + steps }; return $0 }
        return Double(recorded) >= configuration.minimumSeconds * hz
    }

    /// A segment that does not decode (garbage, or deleted by the recorder's budget while it was read): left out,
    /// with one line over the learner's life.
    private func skip(_ clip: DatasetClip, _ reason: FaultReason) {
        segments[clip.path] = .faulty
        if reported.insert(clip.path).inserted { warn("\(clip.path): skipped (\(reason.rawValue))") }
    }

    // MARK: A round

    private func round(interrupted: () -> Bool) throws {
        guard let cache else { return }
        beforeRound()
        let started = Date()
        // Segments that arrive while this round runs count towards the next.
        newSteps = 0
        hadRound = true
        let number = rounds + 1
        // The newest segments, back to the round's reach, read back from the cache.
        let usable = segments.compactMap { _, segment -> (DatasetClip, Int)? in
            if case .usable(let clip, let steps) = segment { return (clip, steps) }
            return nil
        }.sorted { $0.0.id > $1.0.id }
        var clips: [PreparedClip] = []
        var covered = 0
        for (clip, _) in usable where covered < reachSteps {
            if interrupted() { return }
            switch cache.prepare(clip) {
            case .ready(let prepared, _):
                clips.append(prepared)
                covered += prepared.steps
            case .faulty(let reason, _):
                skip(clip, reason)
            }
        }
        let (all, heldOut) = Adaptation.heldOut(clips, share: configuration.heldOutShare)
        // At most `window` seconds before the held-out part, the newest (whole segments; always one).
        var train = all
        while train.count > 1, Double(Self.steps(train)) > configuration.window * hz { train.removeFirst() }
        guard !train.isEmpty, !heldOut.isEmpty else {
            log("round \(number): too little to learn from yet (\(clips.count) usable segment(s), \(Format.fixed(Double(covered) / hz, 1)) s); waiting for more")
            return
        }
        let learned = Double(Self.steps(train)) / hz, held = Double(Self.steps(heldOut)) / hz
        let (baseline, against) = currentModel()
        let data = "\(configuration.folder): round \(number) of adapt --follow, \(train.count) segment(s) (\(Format.fixed(learned, 1)) s) learned on, \(heldOut.count) held out (\(Format.fixed(held, 1)) s)"
        let run = Adaptation.Run(startingFrom: baseHeader, path: configuration.base, choices: configuration.choices, train: train,
                                 heldOut: heldOut, baseline: baseline ?? baseModel, candidate: candidatePath,
                                 provenance: TrainingProvenance(command: configuration.command, data: data))
        defer { run.removeFiles() }
        let ran: Adaptation.Outcome?
        do {
            ran = try run.run(interrupted: interrupted)
        } catch let diverged as TrainingRun.DivergedError {
            // One round's bad luck (its loss or weights stopped being numbers): nothing of it is kept, the next goes on.
            warn("round \(number): training diverged in epoch \(diverged.epoch); \(configuration.model) stays as it was")
            return
        }
        guard let outcome = ran else { return }
        var written = false
        if outcome.improved {
            do {
                var file = try ModelFile.read(path: outcome.candidate)
                file.header.provenance["learned_seconds"] = Format.fixed(learned, 1)
                file.header.provenance["learned_segments"] = String(train.count)
                file.header.provenance["learned_round"] = String(number)
                file.header.provenance["learned_at"] = Self.timestamp(Date())
                file.header.provenance["held_out_seconds"] = Format.fixed(held, 1)
                file.header.provenance["held_out_r"] = outcome.after.meanR.map { Format.fixed($0, 4) } ?? "-"
                file.header.provenance["held_out_hit_f1"] = Format.fixed(outcome.after.hits.f1, 4)
                try file.write(to: configuration.model)
                written = true
            } catch let error as OneLineError {
                warn("\(error.message); \(configuration.model) stays as it was")
            } catch {
                warn("\(configuration.model): \(error); it stays as it was")
            }
        }
        let seconds = Date().timeIntervalSince(started)
        rounds = number
        let line = Self.journalLine(time: Date(), round: number, segments: train.count, learned: learned, heldOutSegments: heldOut.count,
                                    held: held, before: outcome.before, after: outcome.after, against: against,
                                    written: written, seconds: seconds)
        appendJournal(line)
        let model = (configuration.model as NSString).lastPathComponent
        log("round \(number): learned on \(train.count) segment(s) (\(Format.fixed(learned, 1)) s), held out \(heldOut.count) (\(Format.fixed(held, 1)) s): "
            + "r \(Format.optional(outcome.before.meanR)) → \(Format.optional(outcome.after.meanR)), hit F1 \(Format.fixed(outcome.before.hits.f1, 4)) → \(Format.fixed(outcome.after.hits.f1, 4)) "
            + "against \(against == "model" ? model : "BASE"); \(written ? "\(model) written" : "\(model) kept") (\(Format.fixed(seconds, 1)) s)")
        if configuration.cache == nil { pruneCache(keeping: clips.map(\.clip)) }
    }

    /// M as the round's baseline when it loads and sees frames of BASE's size; nil (BASE is the baseline) otherwise,
    /// with one line per reason it is not.
    private func currentModel() -> (StreamingModel?, String) {
        guard FileManager.default.fileExists(atPath: configuration.model) else { return (nil, "base") }
        do {
            let model = try StreamingModel(path: configuration.model)
            let input = baseHeader.architecture.input
            guard model.inputWidth == input.width, model.inputHeight == input.height else {
                note("\(configuration.model): sees \(model.inputWidth)x\(model.inputHeight) frames, BASE \(input.width)x\(input.height); rounds compare with BASE until one replaces it")
                return (nil, "base")
            }
            return (model, "model")
        } catch let error as OneLineError {
            note("\(error.message); rounds compare with BASE until one replaces it")
        } catch {
            note("\(configuration.model): \(error); rounds compare with BASE until one replaces it")
        }
        return (nil, "base")
    }

    private func note(_ line: String) { if modelNotes.insert(line).inserted { warn(line) } }

    static func steps(_ clips: [PreparedClip]) -> Int { clips.reduce(0) { $0 + $1.steps } }

    // MARK: Files

    /// One round as learning.jsonl records it, keys in a fixed order.
    static func journalLine(time: Date, round: Int, segments: Int, learned: Double, heldOutSegments: Int, held: Double,
                            before: AggregateScore, after: AggregateScore, against: String, written: Bool, seconds: Double) -> String {
        func number(_ value: Double?, _ digits: Int) -> String { value.flatMap { $0.isFinite ? Format.fixed($0, digits) : nil } ?? "null" }
        func score(_ s: AggregateScore) -> String { "{\"r\": \(number(s.meanR, 4)), \"hit_f1\": \(number(s.hits.f1, 4))}" }
        return "{\"time\": \"\(timestamp(time))\", \"round\": \(round), \"segments\": \(segments), \"learned_s\": \(number(learned, 1)), "
            + "\"held_out_segments\": \(heldOutSegments), \"held_out_s\": \(number(held, 1)), \"before\": \(score(before)), "
            + "\"after\": \(score(after)), \"compared_with\": \"\(against)\", \"written\": \(written), \"seconds\": \(number(seconds, 1))}"
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// One write(2) of a whole line with O_APPEND, then fsync: a kill leaves the line whole or cut short (removed at
    /// the next start), never two lines mixed.
    private func appendJournal(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        let fd = open(journalPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { warn("\(journalPath): cannot be written (\(AtomicFile.lastError()))"); return }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                warn("\(journalPath): cannot be written (\(AtomicFile.lastError()))")
                return
            }
            written += n
        }
        _ = fsync(fd)
    }

    /// The learner's own cache keeps the segments the last round read, nothing else: without it the cache would
    /// grow with every segment the recorder ever made (and deleted).
    private func pruneCache(keeping clips: [DatasetClip]) {
        guard let cache else { return }
        let keys = Set(clips.map { cache.key(for: $0) })
        for name in (try? FileManager.default.contentsOfDirectory(atPath: cache.directory)) ?? [] {
            let key = (name as NSString).deletingPathExtension
            if !keys.contains(key) { unlink((cache.directory as NSString).appendingPathComponent(name)) }
        }
    }
}
