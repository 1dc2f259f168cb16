import ArgumentParser
import ThudCommandLine
import Foundation
import ThudBase
import ThudEval
import ThudModel
import ThudTrain

struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Adapt a model to your own scene in minutes: a short fine-tune on your clips (thud record's folder).",
        discussion: """
        Every clip of DATASET (any folder of videos with sound; a split.tsv's test clips are left out) is used, in \
        recording order (by name): the last --held-out share is held out (the last clips, or with fewer than three \
        clips the last part of each), scored before and after, and chooses the epoch kept (hit F1 + r); the run \
        stops early after --patience epochs without a better one. The preset starts from --from's weights, \
        architecture and peak picker, moves the LSTM and the head (--move), and trains on mirrored, jittered, \
        camera-augmented windows. The result is written only if it beats --from on the held-out clips, unless \
        --keep-worse. Then: `thud live --model OUT`.
        """)

    @Argument(help: "Folder of your clips (thud record --out DIR).")
    var dataset: String

    @Option(help: "The model to start from (default: the bundled models/default.thud, found as thud finds it).")
    var from: String?

    @Option(help: "Where the adapted model is written.")
    var out = "mine.thud"

    @Option(help: "Which layers move: lstm+head (default), head, or all.")
    var move = Adaptation.Moving.lstmHead.rawValue

    @Option(parsing: .unconditional, help: "At most this many epochs.")
    var epochs = 60

    @Option(parsing: .unconditional, help: "Stop after this many epochs without a better held-out score.")
    var patience = 15

    @Option(parsing: .unconditional) var learningRate: Float = 3e-3

    @Option(parsing: .unconditional, help: "Camera augmentation strength (0 = off, 1 = full), as thud-train train --augment.")
    var augment: Float = 0.5

    @Option(parsing: .unconditional, help: "Share of your clips (by recording order, the last ones) held out.")
    var heldOut = 0.25

    @Option(parsing: .unconditional) var seed: UInt64 = 1

    @Flag(help: "Write the adapted model even when it does not beat --from on the held-out clips.")
    var keepWorse = false

    @OptionGroup var decoding: DecodingOptions


    func validate() throws {
        guard Adaptation.Moving(rawValue: move) != nil else { throw ValidationError("--move must be lstm+head, head or all") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard patience >= 1 else { throw ValidationError("--patience must be at least 1") }
        guard learningRate.isFinite, learningRate > 0 else { throw ValidationError("--learning-rate must be a positive number") }
        guard augment.isFinite, augment >= 0, augment <= 1 else { throw ValidationError("--augment must be within 0 and 1") }
        guard heldOut.isFinite, heldOut > 0, heldOut < 1 else { throw ValidationError("--held-out must be above 0 and below 1") }
    }

    func run() throws {
        let console = Console()
        let started = Date()
        let startModel: ModelFile
        let before: StreamingModel
        let prepared: PreparedDataset
        let from: String
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
        var settings = Adaptation.settings(startingFrom: startModel.header, path: from, moving: Adaptation.Moving(rawValue: move)!,
                                           epochs: epochs, learningRate: learningRate, augment: augment, seed: seed)
        settings.datasetShares = nil
        let picker = settings.picker
        let beforeScore = Adaptation.score(before, on: held, picker: picker)
        console.log(String(format: "adapting %@ on %d clip(s) (%.1f s), holding out %d (%.1f s): before r %@, hit F1 %.4f",
                           from, train.count, Double(steps(train)) / StepRate.hz, held.count, Double(steps(held)) / StepRate.hz,
                           Format.optional(beforeScore.meanR), beforeScore.hits.f1))
        let temporary = out + ".adapting"
        let run = TrainingRun(settings: settings, train: train, validation: held,
                              checkpointPath: temporary + ".checkpoint", outputPath: temporary,
                              provenance: TrainingProvenance(command: invokedCommand, data: "\(dataset): \(train.count) clips adapted on, \(held.count) held out"),
                              log: console.log, progress: console.progress)
        run.patience = patience
        // Ctrl-C and SIGTERM ask the epoch loop to stop; it checks between batches.
        let stop = StopRequest()
        let signals = StopOnSignals([SIGINT, SIGTERM]) { stop.request($0) }
        defer {
            signals.cancel()
            unlink(temporary + ".checkpoint")
            unlink(run.stagingPath)
            unlink(temporary)
        }
        do {
            let outcome = try run.run(resume: false) { stop.signal != nil }
            if outcome == .interrupted { console.log("interrupted: nothing written"); throw ExitStatus.interrupted.exitCode }
            let adapted = try StreamingModel(path: temporary)
            let afterScore = Adaptation.score(adapted, on: held, picker: picker)
            let better = afterScore.hits.f1 + (afterScore.meanR ?? 0) > beforeScore.hits.f1 + (beforeScore.meanR ?? 0)
            console.log(String(format: "held out (%d clip(s), %.1f s): r %@ → %@, hit F1 %.4f → %.4f (best epoch %d; %.0f s in all)",
                               held.count, Double(steps(held)) / StepRate.hz, Format.optional(beforeScore.meanR), Format.optional(afterScore.meanR),
                               beforeScore.hits.f1, afterScore.hits.f1, run.state.bestEpoch ?? 0, Date().timeIntervalSince(started)))
            if better || keepWorse {
                try AtomicFile.write(try Data(contentsOf: URL(fileURLWithPath: temporary)), to: out)
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
}
