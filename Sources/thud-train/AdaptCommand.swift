import ArgumentParser
import CProcess
import ThudCommandLine
import Foundation
import ThudBase
import ThudEval
import ThudModel
import ThudTrain

struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Adapt a model to your own scene in minutes: a short fine-tune on your clips (thud record's folder), once or following a folder as it fills.",
        discussion: """
        Every clip of DATASET (any folder of videos with sound; a split.tsv's test clips are left out) is used, in \
        recording order (by name): the last --held-out share is held out (the last clips, or with fewer than three \
        clips the last part of each), scored before and after, and chooses the epoch kept (hit F1 + r); the run \
        stops early after --patience epochs without a better one. The preset starts from --from's weights, \
        architecture and peak picker, moves the LSTM and the head (--move), and trains on mirrored, jittered, \
        camera-augmented windows. The result is written only if it beats --from on the held-out clips, unless \
        --keep-worse. Then: `thud live --model OUT`.

        With --follow DIR instead of DATASET, it keeps learning from a folder a recorder fills (`thud … --learn`'s \
        rolling segments; hidden files, learning.jsonl and models are not segments): whenever --every seconds of new \
        recording have arrived (--min-seconds before the first round), a round runs the same adaptation from --from \
        on the newest segments (at most --window seconds before the held-out part), holds out the newest ones \
        (--held-out, at least one), scores the current --out model (--from while there is none) and the round's \
        result there, and replaces --out atomically only when the result beats it (hit F1 + r). Every round starts \
        from --from, never from --out: a model let in by a lucky held-out score is not built on, and is displaced by \
        the next round that beats it on newer recording. The model written records in its header \
        `learned_seconds` (the seconds of DIR it was trained on: its round's, at most --window), with the round, \
        its segments and its held-out scores. Each round appends a line to DIR/learning.jsonl: {"time", "round", \
        "segments", "learned_s", "held_out_segments", "held_out_s", "before": {"r", "hit_f1"}, "after": {…}, \
        "compared_with": "model"|"base", "written", "seconds"}, and prints one line. A segment that does not \
        decode (or was deleted while read) is skipped with one line. The round's files are in DIR/.learner/ \
        (cleared at every start, with the decode cache unless --cache, kept to the segments a round reads); a kill \
        at any moment leaves --out whole, the old model or the new one. It waits for a DIR that does not exist \
        yet. Ctrl-C or SIGTERM stops it within a batch or a poll: exit 0, --out as the last round that beat it \
        left it.
        """)

    @Argument(help: "Folder of your clips (thud record --out DIR); not with --follow.")
    var dataset: String?

    @Option(help: "Follow this folder of recorded segments, adapting again as it fills (see above); instead of DATASET.")
    var follow: String?

    @Option(help: "The model to start from (default: the bundled models/default.thud, found as thud finds it); with --follow, the start of every round.")
    var from: String?

    @Option(help: "Where the adapted model is written.")
    var out = "mine.thud"

    @Option(help: "Which layers move: lstm+head (default), head, or all.")
    var move = Adaptation.Moving.lstmHead.rawValue

    @Option(parsing: .unconditional, help: "At most this many epochs (a round's, with --follow).")
    var epochs = 60

    @Option(parsing: .unconditional, help: "Stop after this many epochs without a better held-out score.")
    var patience = 15

    @Option(parsing: .unconditional) var learningRate: Float = 3e-3

    @Option(parsing: .unconditional, help: "Camera augmentation strength (0 = off, 1 = full), as thud-train train --augment.")
    var augment: Float = 0.5

    @Option(parsing: .unconditional, help: "Share of your clips (by recording order, the last ones) held out.")
    var heldOut = 0.25

    @Option(parsing: .unconditional) var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Fine-tune this many times, with seeds --seed, --seed + 1, …, and keep the mean of their weights (a model soup: steadier than one seed; costs that many fine-tunes).")
    var seeds = 1

    @Flag(help: "Write the adapted model even when it does not beat --from on the held-out clips (not with --follow).")
    var keepWorse = false

    @Option(parsing: .unconditional, help: "Threads of each batch's forward and backward, 1 or 2 (default 2; with --follow 1, so that a thud beside it keeps its steps). The weights are the same either way.")
    var threads: Int?

    @Option(parsing: .unconditional, help: "Run at this nice value, 0 to 19 (default 0; with --follow 10): a thud beside it comes first on the CPU.")
    var nice: Int?

    @Option(parsing: .unconditional, help: "With --follow: seconds of new recording that start a round (default 60).")
    var every: Double?

    @Option(parsing: .unconditional, help: "With --follow: seconds of recording before the first round (default 30).")
    var minSeconds: Double?

    @Option(parsing: .unconditional, help: "With --follow: a round learns on at most the newest this-many seconds before its held-out part (default 600): bounds what a round costs, and follows a scene that changes.")
    var window: Double?

    @Option(parsing: .unconditional, help: "With --follow: seconds between two looks at DIR (default 5).")
    var poll: Double?

    @Flag(help: "With --follow: end (as on SIGTERM) when the process that started it ends, even by kill -9 (Linux's parent-death signal): a learner started by thud does not outlive it.")
    var exitWithParent = false

    @OptionGroup var decoding: DecodingOptions

    static let followDefaults = (every: 60.0, minSeconds: 30.0, window: 600.0, poll: 5.0, threads: 1, nice: 10)

    func validate() throws {
        guard Adaptation.Moving(rawValue: move) != nil else { throw ValidationError("--move must be lstm+head, head or all") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard patience >= 1 else { throw ValidationError("--patience must be at least 1") }
        guard learningRate.isFinite, learningRate > 0 else { throw ValidationError("--learning-rate must be a positive number") }
        guard augment.isFinite, augment >= 0, augment <= 1 else { throw ValidationError("--augment must be within 0 and 1") }
        guard heldOut.isFinite, heldOut > 0, heldOut < 1 else { throw ValidationError("--held-out must be above 0 and below 1") }
        guard (1...16).contains(seeds) else { throw ValidationError("--seeds must be between 1 and 16") }
        if let threads, !(1...2).contains(threads) { throw ValidationError("--threads must be 1 or 2") }
        if let nice, !(0...19).contains(nice) { throw ValidationError("--nice must be between 0 and 19") }
        switch (dataset, follow) {
        case (nil, nil): throw ValidationError("give a DATASET folder, or --follow DIR")
        case (_?, _?): throw ValidationError("--follow DIR takes no DATASET")
        case (_?, nil):
            let named = [("--every", every != nil), ("--min-seconds", minSeconds != nil), ("--window", window != nil),
                         ("--poll", poll != nil), ("--exit-with-parent", exitWithParent)].filter(\.1).map(\.0)
            if let first = named.first { throw ValidationError("\(first) needs --follow DIR") }
        case (nil, _?):
            if keepWorse { throw ValidationError("--keep-worse is not for --follow: it writes only a model that beats the current one") }
            for (name, value) in [("--every", every), ("--min-seconds", minSeconds), ("--window", window), ("--poll", poll)] {
                if let value, !(value.isFinite && value > 0) { throw ValidationError("\(name) must be a positive number of seconds") }
            }
        }
    }

    var choices: Adaptation.Choices {
        var c = Adaptation.Choices()
        c.moving = Adaptation.Moving(rawValue: move)!
        c.epochs = epochs
        c.patience = patience
        c.learningRate = learningRate
        c.augment = augment
        c.seed = seed
        c.seeds = seeds
        c.threads = threads ?? (follow == nil ? 2 : Self.followDefaults.threads)
        return c
    }

    func run() throws {
        if let follow { return try self.follow(follow) }
        let console = Console()
        if let nice { ProcessPriority.lower(to: nice) }
        let started = Date()
        let startModel: ModelFile
        let before: StreamingModel
        let prepared: PreparedDataset
        let from: String
        let dataset = self.dataset!
        do {
            from = try ModelLocator.resolve(self.from)
            startModel = try ModelFile.read(path: from)
            before = try StreamingModel(path: from)
            let folder = (out as NSString).deletingLastPathComponent
            if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try AtomicFile.checkWritable(out)
            let input = startModel.header.architecture.input
            prepared = prepareClips(of: try Dataset.load(dataset, validationShare: 0), filter: try ClassFilter.parse("all"),
                                        cache: try decoding.cache(width: input.width, height: input.height),
                                        splits: [.train, .validation], jobs: decoding.jobs, console: console)
        } catch {
            throw exitWith(error, console: console)
        }
        let clips = prepared.clips(.train) + prepared.clips(.validation)
        let (train, held) = Adaptation.heldOut(clips, share: heldOut)
        guard !train.isEmpty, !held.isEmpty else {
            console.error("\(dataset): too little to adapt on: \(clips.count) usable clip(s), \(clips.reduce(0) { $0 + $1.steps }) steps; record at least a minute (three clips or more)")
            throw ExitStatus.unusableInput.exitCode
        }
        let steps = { (c: [PreparedClip]) in c.reduce(0) { $0 + $1.steps } }
        let adaptation = Adaptation.Run(startingFrom: startModel.header, path: from, choices: choices, train: train, heldOut: held,
                                        baseline: before, candidate: out + ".adapting",
                                        provenance: TrainingProvenance(command: invokedCommand, data: "\(dataset): \(train.count) clips adapted on, \(held.count) held out"),
                                        log: console.log, progress: console.progress)
        let beforeScore = adaptation.before
        console.log(String(format: "adapting %@ on %d clip(s) (%.1f s), holding out %d (%.1f s): before r %@, hit F1 %.4f",
                           from, train.count, Double(steps(train)) / StepRate.hz, held.count, Double(steps(held)) / StepRate.hz,
                           Format.optional(beforeScore.meanR), beforeScore.hits.f1))
        // Ctrl-C and SIGTERM ask the epoch loop to stop; it checks between batches.
        let stop = StopRequest()
        let signals = StopOnSignals([SIGINT, SIGTERM]) { stop.request($0) }
        defer {
            signals.cancel()
            adaptation.removeFiles()
        }
        do {
            guard let outcome = try adaptation.run(interrupted: { stop.signal != nil }) else {
                console.log("interrupted: nothing written")
                throw ExitStatus.interrupted.exitCode
            }
            let afterScore = outcome.after
            let epochs = outcome.bestEpochs.count == 1
                ? "best epoch \(outcome.bestEpochs[0])"
                : "the mean of \(outcome.bestEpochs.count) seeds, best epochs \(outcome.bestEpochs.map(String.init).joined(separator: ", "))"
            console.log(String(format: "held out (%d clip(s), %.1f s): r %@ → %@, hit F1 %.4f → %.4f (%@; %.0f s in all)",
                               held.count, Double(steps(held)) / StepRate.hz, Format.optional(beforeScore.meanR), Format.optional(afterScore.meanR),
                               beforeScore.hits.f1, afterScore.hits.f1, epochs, Date().timeIntervalSince(started)))
            if outcome.improved || keepWorse {
                try AtomicFile.write(try Data(contentsOf: URL(fileURLWithPath: outcome.candidate)), to: out)
                console.log("\(out): written; try it with `thud live --model \(out)`")
            } else {
                console.log("\(out): not written: the adapted model does not beat \(from) on your held-out clips (--keep-worse writes it anyway; record more, or more varied, clips)")
                throw ExitStatus.notImproved.exitCode
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw exitWith(error, console: console)
        }
    }

    /// `--follow DIR`: FollowLearner until a signal (or, with --exit-with-parent, the parent's end) stops it.
    func follow(_ folder: String) throws {
        let console = Console()
        let stop = StopRequest()
        let wake = DispatchSemaphore(value: 0)
        // Before the parent-death signal is asked for: it arrives as a SIGTERM, a stop like any other.
        let signals = StopOnSignals([SIGINT, SIGTERM]) { stop.request($0); wake.signal() }
        defer { signals.cancel() }
        if exitWithParent {
            let parent = getppid()
            guard thud_set_parent_death_signal(SIGTERM) == 0 else {
                console.error("--exit-with-parent: the parent-death signal cannot be set (\(String(cString: strerror(errno))))")
                throw ExitStatus.usage.exitCode
            }
            // A parent that ended before the signal was asked for sends none: the learner was handed to init (or a
            // subreaper) already. A learner started by init itself (a container's PID 1) has no parent to follow.
            if getppid() != parent || parent == 1 {
                console.log("the process that started the learner has ended: stopping")
                return
            }
        }
        let nice = self.nice ?? Self.followDefaults.nice
        ProcessPriority.lower(to: nice)
        var configuration: FollowLearner.Configuration
        let learner: FollowLearner
        do {
            let from = try ModelLocator.resolve(self.from)
            configuration = FollowLearner.Configuration(folder: folder, model: out, base: from)
            configuration.choices = choices
            configuration.heldOutShare = heldOut
            configuration.every = every ?? Self.followDefaults.every
            configuration.minimumSeconds = minSeconds ?? Self.followDefaults.minSeconds
            configuration.window = window ?? Self.followDefaults.window
            configuration.poll = poll ?? Self.followDefaults.poll
            configuration.cache = decoding.cache
            configuration.command = invokedCommand
            // M's folder is made here as adapt makes it, unless it is DIR (the recorder makes DIR: until then the
            // learner waits, and checks M when DIR is there).
            let modelFolder = (out as NSString).deletingLastPathComponent
            let standardised = { (p: String) in URL(fileURLWithPath: p.isEmpty ? "." : p).standardizedFileURL.path }
            if standardised(modelFolder) != standardised(folder) {
                if !modelFolder.isEmpty { try? FileManager.default.createDirectory(atPath: modelFolder, withIntermediateDirectories: true) }
                try AtomicFile.checkWritable(out)
            }
            learner = try FollowLearner(configuration: configuration, log: console.log, warn: { console.log("thud-train: warning: \($0)") })
        } catch {
            throw exitWith(error, console: console)
        }
        // Threads made since the start (OpenBLAS's, FFmpeg's, the trainer's helper) get the same priority.
        learner.beforeRound = { ProcessPriority.lower(to: nice) }
        do {
            try learner.run(interrupted: { stop.signal != nil }, pause: { _ = wake.wait(timeout: .now() + $0) })
        } catch {
            throw exitWith(error, console: console)
        }
        console.log("stopped (\(stop.signal.map { $0 == SIGINT ? "SIGINT" : "SIGTERM" } ?? "stop")); \(out) is the last model a round wrote, or as it was")
    }
}

/// Nice values for a command that shares the CPU with a running `thud`.
enum ProcessPriority {
    /// Raises every thread of this process to `nice` (never lowers one): on Linux each thread has its own nice value,
    /// and one set on the main thread only reaches the threads it starts afterwards.
    static func lower(to nice: Int) {
        guard nice > 0 else { return }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task"))?.compactMap { pid_t($0) } ?? [0]
        for task in tasks {
            errno = 0
            let now = thud_get_thread_nice(task)
            if errno == 0, now >= Int32(nice) { continue }
            _ = thud_set_thread_nice(task, Int32(nice))
        }
    }
}
