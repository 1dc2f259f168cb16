import ArgumentParser
import ThudCommandLine
import Foundation
import ThudSynth
import ThudBase

/// `thud-synth`: the synthetic audio-visual corpus generator (issue 3).
struct ThudSynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thud-synth",
        abstract: "Generate a synthetic audio-visual corpus of physically simulated hits, in Something-Something's layout.",
        discussion: """
        Each clip is a 2D rigid-body scene (gravity, restitution, friction) acted out for one of nineteen \
        Something-Something v2 templates: the twelve sound classes (hitting, throwing, dropping, colliding, poking \
        a stack, ...) and seven silent ones (pushing, lifting, moving, rolling, showing). Every impact is found at \
        its exact time inside the physics step and synthesized at that time, sample-accurately, by modal synthesis \
        of the materials involved; background noise, babble, off-screen knocks and a camera click are mixed in. \
        The output is deterministic for a given seed.
        """,
        subcommands: [Generate.self, Sample.self])
}

/// Parses "WxH" (FrameSize.parse); the encoder also wants both sides even, 16...4096.
struct Size: ExpressibleByArgument {
    var width: Int, height: Int
    init?(argument: String) {
        guard let (w, h) = FrameSize.parse(argument), w >= 16, h >= 16, w <= 4096, h <= 4096,
              w % 2 == 0, h % 2 == 0 else { return nil }
        width = w; height = h
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a corpus: DIR/videos/<id>.mp4, labels.json, train/validation/test.json, hits/<id>.json, faults.json.",
        discussion: """
        labels.json maps each template to its index as a string; the split files are lists of \
        {"id", "label", "template", "placeholders"} as in Something-Something v2. hits/<id>.json records every \
        impact (time in seconds, strength 0...1, visible), the off-screen sounds, the camera click and the clip's \
        fault. faults.json maps the id of every deliberately broken clip to its fault: no_audio (no audio \
        stream), corrupt_audio (audio packets scrambled so they do not decode) or truncated (file cut short). \
        Sizes are mixed from 320x240 to 640x360 and frame rates from 15 to 30 fps (a quarter variable) unless \
        --size / --fps pin them.
        """)
    @Option(help: "Output directory (created if missing).") var out: String
    @Option(help: "Number of training clips.") var train: Int = 0
    @Option(help: "Number of validation clips.") var validation: Int = 0
    @Option(help: "Number of test clips.") var test: Int = 0
    @Option(help: "Corpus seed: the same seed and counts give the same corpus.") var seed: UInt64 = 1
    @Option(name: .customLong("faulty-share"), help: "Share of deliberately faulty clips (0...1).") var faultyShare: Double = 0.03
    @Option(help: "Worker threads (one clip each).") var jobs: Int = 2
    @Option(help: "Pin every clip to this size, WxH (even numbers).") var size: Size?
    @Option(help: "Pin every clip to this constant frame rate.") var fps: Double?
    @Option(name: .customLong("surface-share"), help: "Share of clips from the surface family (perspective striker scenes on a photographed surface, hand-held camera); the rest are 2D rigid-body scenes (0...1).") var surfaceShare: Double = 0.5
    @Flag(help: "Keep the clips an interrupted run with the same options finished (hits/<id>.json written, with the planned scene seed, template and fault) and write the rest.") var resume = false

    func validate() throws {
        guard train >= 0, validation >= 0, test >= 0, train + validation + test > 0 else {
            throw ValidationError("ask for at least one clip (--train/--validation/--test)")
        }
        guard (0...1).contains(faultyShare) else { throw ValidationError("--faulty-share must be within 0...1") }
        guard (0...1).contains(surfaceShare) else { throw ValidationError("--surface-share must be within 0...1") }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be within 1...64") }
        if let f = fps { guard (1...120).contains(f) else { throw ValidationError("--fps must be within 1...120") } }
    }

    func run() throws {
        let options = CorpusOptions(counts: [.train: train, .validation: validation, .test: test], seed: seed,
                                    faultyShare: faultyShare, jobs: jobs,
                                    clip: ClipOptions(width: size?.width, height: size?.height, frameRate: fps),
                                    keepFinished: resume, surfaceShare: surfaceShare)
        let start = Date()
        let total = train + validation + test
        let printer = ProgressPrinter(start: start)
        var kept = 0
        do {
            kept = try Corpus.generate(into: out, options: options) { done, total in printer.update(done, total) }
        } catch {
            fputs("\n", stderr)   // below the progress line
            throw CommandLineTool.exitCode(reporting: error, tool: "thud-synth")
        }
        let secs = Date().timeIntervalSince(start)
        let written = total - kept
        FileHandle.standardError.write(Data(String(format: "\n%d clips in %.1f s: %.2f clips/s with %d jobs%@\n", written, secs, Double(written) / secs, jobs,
                                                   kept > 0 ? " (and \(kept) kept from an earlier run)" : "").utf8))
    }
}

/// Prints "done/total, clips/s, ETA" on one line, at most a few times a second.
final class ProgressPrinter: @unchecked Sendable {
    let start: Date
    let lock = NSLock()
    var lastPrint = Date.distantPast
    init(start: Date) { self.start = start }
    func update(_ done: Int, _ total: Int) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        guard done == total || now.timeIntervalSince(lastPrint) > 0.5 else { return }
        lastPrint = now
        let rate = Double(done) / max(1e-9, now.timeIntervalSince(start))
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "\r%d/%d clips  %.2f clips/s  ETA %@   ", done, total, rate, Format.duration(eta))
        FileHandle.standardError.write(Data(line.utf8))
    }
}

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one clip (and its hits as <out>.hits.json) for a quick look.",
        discussion: "Template numbers follow labels.json: 0-11 are the sound classes, 12-18 the silent ones.")
    @Option(help: "Output .mp4 path.") var out: String
    @Option(help: "Scene seed.") var seed: UInt64 = 1
    @Option(help: "Template index (0-18); drawn from the seed if omitted.") var template: Int?
    @Option(help: "Size WxH (even numbers).") var size: Size?
    @Option(help: "Constant frame rate.") var fps: Double?
    @Option(help: "Duration in seconds (the rigid family uses 2-5, the surface family 4-10).") var duration: Double?
    @Option(help: "Scene family: rigid (2D rigid-body scenes) or surface (perspective striker scenes).") var family: String = "rigid"

    func validate() throws {
        if let t = template { guard Template(rawValue: t) != nil else { throw ValidationError("--template must be within 0...18") } }
        if let d = duration { guard d > 0.2 && d <= 60 else { throw ValidationError("--duration must be within 0.2...60 s") } }
        guard SceneFamily(rawValue: family) != nil else { throw ValidationError("--family must be rigid or surface") }
    }

    func run() throws {
        var rng = Xoshiro256(seed: seed)
        let t = template.flatMap(Template.init(rawValue:)) ?? rng.pick(Template.allCases)
        let clipOptions = ClipOptions(width: size?.width, height: size?.height, frameRate: fps, duration: duration)
        do {
            let record = SceneFamily(rawValue: family) == .surface
                ? try SurfaceClip(template: t, seed: mixSeed(seed, 0x5A3B1E), id: "sample", options: clipOptions).write(to: out)
                : try ClipGenerator(template: t, seed: mixSeed(seed, 0x5A3B1E), id: "sample", options: clipOptions).write(to: out)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(record).write(to: URL(fileURLWithPath: out + ".hits.json"))
            print("\(out): \(record.label), \(record.width)x\(record.height) @ \(record.frameRate) fps, \(String(format: "%.2f", record.duration)) s, \(record.hits.count) hits")
            for h in record.hits {
                print(String(format: "  hit %.4f s  strength %.2f  %@", h.time, h.strength, h.visible ? "visible" : "hidden"))
            }
            for s in record.scratches ?? [] { print(String(format: "  scratch %.3f–%.3f s (no hit)", s.start, s.end)) }
            for t in record.silentStrokes ?? [] { print(String(format: "  silent stroke %.3f s", t)) }
        } catch {
            throw CommandLineTool.exitCode(reporting: error, tool: "thud-synth")
        }
    }
}

CommandLineTool.run(ThudSynthCommand.self, tool: "thud-synth")
