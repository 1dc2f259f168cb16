import Foundation
import ThudMedia
@testable import ThudSynth
import XCTest

/// Tiny pictures keep these tests fast; the corpus itself uses 320x240 … 640x360.
let tiny = ClipOptions(width: 64, height: 48, frameRate: 12)

func temporaryDirectory(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("thud-synth-tests-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: url)
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

final class PhysicsTests: XCTestCase {
    /// A ball dropped from rest lands at √(2h/g) (h = drop of its centre to contact), found inside the step.
    func testDropImpactTimeIsSolvedInsideTheStep() {
        let world = World(stepsPerSecond: 600)
        var floor = Body(shape: .box(4, 1), kind: .fixed, material: .wood, position: Vec2(0, -0.5))
        floor.collisionMask = .max
        world.add(floor)
        let r = 0.03, h = 0.4
        world.add(Body(shape: .circle(radius: r), kind: .dynamic, material: .plastic, position: Vec2(0, h + r)))
        world.run(until: 1.0)
        guard let first = world.impacts.first else { return XCTFail("no impact") }
        let expected = (2 * h / 9.81).squareRoot()
        // Semi-implicit Euler lags the continuous fall by about half a step; the contact solve itself is exact.
        XCTAssertEqual(first.time, expected, accuracy: world.dt)
        XCTAssertEqual(first.speed, 9.81 * expected, accuracy: 0.05)
        // Not snapped to the step grid (nor to any frame time).
        let offGrid = abs(first.time / world.dt - (first.time / world.dt).rounded())
        XCTAssertGreaterThan(offGrid, 1e-6)
        // It bounces a few times and then rests: resting contact is silent, so the count is finite and small.
        XCTAssertLessThan(world.impacts.count, 10)
        let t = world.impacts.last!.time
        world.run(until: 3.0)
        XCTAssertEqual(world.impacts.last!.time, t, "a body at rest must not keep knocking")
    }

    /// A box pushed along the floor slides and stops without a sound.
    func testSlidingIsSilent() {
        let world = World()
        var floor = Body(shape: .box(4, 1), kind: .fixed, material: .wood, position: Vec2(0, -0.5))
        floor.collisionMask = .max
        world.add(floor)
        var box = Body(shape: .box(0.1, 0.05), kind: .dynamic, material: .wood, position: Vec2(0, 0.025))
        box.velocity = Vec2(1.5, 0)
        world.add(box)
        world.run(until: 2)
        XCTAssertTrue(world.impacts.isEmpty, "\(world.impacts)")
        XCTAssertGreaterThan(world.bodies[1].position.x, 0.1)
        XCTAssertLessThan(abs(world.bodies[1].velocity.x), 0.01)
    }
}

final class SoundTests: XCTestCase {
    /// A strike starts at its exact time: the first non-zero sample is the first one at or after t, and a
    /// shift by a fraction of a sample changes the waveform (the phase is evaluated at n/rate − t).
    func testStrikeIsSampleAccurate() {
        let rate = 48000
        func strike(at t: Double) -> [Float] {
            var s = SoundtrackSynth(duration: 1, sampleRate: rate, channels: 1, seed: 3)
            s.addStrike(time: t, amplitude: 0.5, material: .metal, size: 0.05, pan: 0)
            return s.buffer
        }
        let t = 0.3127
        let a = strike(at: t)
        let first = a.firstIndex { $0 != 0 }!
        XCTAssertEqual(first, Int((t * Double(rate)).rounded(.up)))
        let b = strike(at: t + 0.4 / Double(rate))
        XCTAssertEqual(b.firstIndex { $0 != 0 }!, first)
        XCTAssertNotEqual(a[first + 10], b[first + 10])
        // Loudness grows with amplitude (i.e. with impact speed through `strength`).
        var quiet = SoundtrackSynth(duration: 1, sampleRate: rate, channels: 1, seed: 3)
        quiet.addStrike(time: t, amplitude: 0.1, material: .metal, size: 0.05, pan: 0)
        XCTAssertGreaterThan(a.map(abs).max()!, 3 * quiet.buffer.map(abs).max()!)
    }
}

final class SceneTests: XCTestCase {
    func testEveryTemplateIsPlannedAndLabelled() {
        let plan = Corpus.plan(CorpusOptions(counts: [.train: 19, .validation: 19, .test: 19], seed: 5, surfaceShare: 0))
        for split in Split.allCases {
            XCTAssertEqual(Set(plan.filter { $0.split == split }.map(\.template)), Set(Template.allCases), "\(split)")
        }
        XCTAssertEqual(Template.allCases.filter(\.sounds).count, 12)
        XCTAssertGreaterThanOrEqual(Template.allCases.filter { !$0.sounds }.count, 6)
        XCTAssertEqual(Template.collidingDeflected.label(["a ball", "a box"]),
                       "A ball colliding with a box and both are being deflected")
        XCTAssertEqual(Template.droppingOnto.label(["a ball", "a box"]), "Dropping a ball onto a box")
    }

    /// Sound templates make impacts, silent templates make none (simulation only; no pictures).
    func testSoundTemplatesKnockAndSilentOnesDoNot() {
        for template in Template.allCases {
            var withHits = 0
            for seed in 1...8 as ClosedRange<UInt64> {
                let gen = ClipGenerator(template: template, seed: seed * 7919)
                let hits = gen.scene.world.impacts.filter { $0.time < gen.scene.duration }
                if !hits.isEmpty { withHits += 1 }
            }
            if template.sounds { XCTAssertGreaterThanOrEqual(withHits, 7, "\(template.text): \(withHits)/8 clips with a hit") }
            else { XCTAssertEqual(withHits, 0, "\(template.text) must be silent") }
        }
    }

    func testSplitsNeverShareASceneSeed() {
        let plan = Corpus.plan(CorpusOptions(counts: [.train: 3000, .validation: 500, .test: 500], seed: 9))
        var seen: [UInt64: Split] = [:]
        for p in plan {
            if let other = seen[p.sceneSeed] { XCTFail("seed shared by \(other) and \(p.split)") }
            seen[p.sceneSeed] = p.split
        }
        XCTAssertEqual(Set(plan.map(\.id)).count, plan.count)
    }
}

final class CorpusTests: XCTestCase {
    static var corpusA: URL!
    static var corpusB: URL!
    static let options = CorpusOptions(counts: [.train: 4, .validation: 2, .test: 2], seed: 42, faultyShare: 0.3, jobs: 2, clip: tiny)

    override class func setUp() {
        super.setUp()
        corpusA = temporaryDirectory("a"); corpusB = temporaryDirectory("b")
        try! Corpus.generate(into: corpusA.path, options: options) { _, _ in }
        try! Corpus.generate(into: corpusB.path, options: options) { _, _ in }
    }
    override class func tearDown() {
        try? FileManager.default.removeItem(at: corpusA)
        try? FileManager.default.removeItem(at: corpusB)
    }

    /// The same seed gives the same corpus, byte for byte: every JSON file (hits/<id>.json carries a hash of
    /// the exact RGB frames and float audio handed to the encoder) and every MP4, though both corpora are
    /// written by two worker threads at once (ThudMedia's own RGB → YUV conversion makes the encoder's input
    /// independent of where buffers happen to lie in memory, which swscale's was not).
    func testFixedSeedGivesIdenticalFiles() throws {
        let fm = FileManager.default
        let files = fm.enumerator(atPath: Self.corpusA.path)!.compactMap { $0 as? String }.sorted()
        let filesB = fm.enumerator(atPath: Self.corpusB.path)!.compactMap { $0 as? String }.sorted()
        XCTAssertEqual(files, filesB)
        var comparedJSON = 0, comparedVideos = 0
        for f in files where f.hasSuffix(".json") || f.hasSuffix(".mp4") {
            let a = try Data(contentsOf: Self.corpusA.appendingPathComponent(f))
            let b = try Data(contentsOf: Self.corpusB.appendingPathComponent(f))
            XCTAssertEqual(a, b, "\(f) differs between two runs with the same seed")
            if f.hasSuffix(".json") { comparedJSON += 1 } else { comparedVideos += 1 }
        }
        XCTAssertEqual(comparedJSON, 8 + 5)
        XCTAssertEqual(comparedVideos, 8)
        // The decoded pictures of one clip are not blank: identical files must not mean identically empty ones.
        let faults = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.corpusA.appendingPathComponent("faults.json"))) as! [String: String]
        let intact = (1...8).first { faults[String($0)] == nil }!
        let decoded = try decodeAll(Self.corpusA.appendingPathComponent("videos/\(intact).mp4").path)
        XCTAssertGreaterThan(decoded.frames.count, 10)
        XCTAssertGreaterThan(Set(decoded.frames.joined()).count, 10)
    }

    /// An interrupted run resumed (keepFinished) keeps every clip it had finished, untouched, writes the rest
    /// (a clip whose video never got its hits/<id>.json, or whose record is not the plan's), and ends with the corpus
    /// a run never interrupted writes, byte for byte.
    func testAResumedRunKeepsFinishedClipsAndEndsWithTheSameCorpus() throws {
        let fm = FileManager.default
        let resumed = temporaryDirectory("resumed")
        defer { try? fm.removeItem(at: resumed) }
        try fm.removeItem(at: resumed)
        try fm.copyItem(at: Self.corpusA, to: resumed)
        // The interruption: no split files yet, clip 3's video half written and no record, clip 5 from another plan.
        for f in ["labels.json", "train.json", "validation.json", "test.json", "faults.json", "hits/3.json"] {
            try fm.removeItem(at: resumed.appendingPathComponent(f))
        }
        let video3 = resumed.appendingPathComponent("videos/3.mp4")
        try Data(contentsOf: video3).prefix(100).write(to: video3)
        let hits5 = resumed.appendingPathComponent("hits/5.json")
        let other = try String(contentsOf: hits5, encoding: .utf8).replacingOccurrences(of: "\"seed\" : ", with: "\"seed\" : 1")
        try other.write(to: hits5, atomically: true, encoding: .utf8)
        let old = Date(timeIntervalSince1970: 1_000_000_000)
        try fm.setAttributes([.modificationDate: old], ofItemAtPath: resumed.appendingPathComponent("videos/1.mp4").path)

        var options = Self.options
        options.keepFinished = true
        let kept = try Corpus.generate(into: resumed.path, options: options) { _, _ in }
        XCTAssertEqual(kept, 6)
        XCTAssertEqual(try fm.attributesOfItem(atPath: resumed.appendingPathComponent("videos/1.mp4").path)[.modificationDate] as? Date, old,
                       "a finished clip is kept, not written again")
        let files = fm.enumerator(atPath: Self.corpusA.path)!.compactMap { $0 as? String }.sorted()
        XCTAssertEqual(fm.enumerator(atPath: resumed.path)!.compactMap { $0 as? String }.sorted(), files)
        for f in files where f.hasSuffix(".json") || f.hasSuffix(".mp4") {
            XCTAssertEqual(try Data(contentsOf: resumed.appendingPathComponent(f)), try Data(contentsOf: Self.corpusA.appendingPathComponent(f)),
                           "\(f) differs from the run never interrupted")
        }
    }

    /// Decoded 12 Hz luma steps and audio of a file, through ThudMedia.
    func decodeAll(_ path: String) throws -> (frames: [[UInt8]], audio: [Float]) {
        var frames: [[UInt8]] = []
        let summary = try MediaInput(path: path).decode(video: VideoStepRequest(width: 64, height: 48), audio: true, onStep: { step in
            frames.append(Array(step.pixels)); return true
        })
        return (frames, summary.audio?.samples ?? [])
    }

    /// labels.json, train/validation/test.json parse the way Something-Something v2's files do.
    func testJSONParsesLikeSomethingSomething() throws {
        let root = Self.corpusA!
        let labels = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("labels.json"))) as! [String: String]
        XCTAssertEqual(labels.count, Template.allCases.count)
        XCTAssertEqual(Set(labels.values.map { Int($0)! }), Set(0..<Template.allCases.count))
        var ids = Set<String>()
        for split in ["train", "validation", "test"] {
            let list = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("\(split).json"))) as! [[String: Any]]
            XCTAssertEqual(list.count, Self.options.counts[Split(rawValue: split)!])
            for entry in list {
                XCTAssertEqual(Set(entry.keys), ["id", "label", "template", "placeholders"])
                let id = entry["id"] as! String, template = entry["template"] as! String
                let placeholders = entry["placeholders"] as! [String], label = entry["label"] as! String
                XCTAssertNotNil(labels[template], "template \(template) not in labels.json")
                XCTAssertTrue(ids.insert(id).inserted)
                // The label is the template with its placeholders filled in, case-insensitively as SSv2 does.
                var filled = template
                for p in placeholders {
                    let r = filled.range(of: "[something]", options: .caseInsensitive)!
                    filled.replaceSubrange(r, with: p)
                }
                XCTAssertEqual(filled.lowercased(), label.lowercased())
                XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("videos/\(id).mp4").path))
                let hits = try JSONDecoder().decode(ClipRecord.self, from: Data(contentsOf: root.appendingPathComponent("hits/\(id).json")))
                XCTAssertEqual(hits.id, id)
                XCTAssertEqual(hits.label, label)
            }
        }
        let faults = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("faults.json"))) as! [String: String]
        for (id, f) in faults { XCTAssertNotNil(Fault(rawValue: f)); XCTAssertTrue(ids.contains(id)) }
    }

    /// Clean clips of the corpus pass the check training uses to drop faulty videos; faulty ones fail it
    /// the way faults.json and their hits file say.
    func testCorpusClipsPassOrFailTheClipCheckAsRecorded() throws {
        let faults = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.corpusA.appendingPathComponent("faults.json"))) as! [String: String]
        XCTAssertFalse(faults.isEmpty, "a 30 % faulty share over 8 clips should break at least one")
        let expected: [Fault: MediaError.Kind] = [.noAudio: .noAudio, .corruptAudio: .audioUnusable, .truncated: .truncated]
        for id in 1...8 {
            let check = ClipCheck.run(path: Self.corpusA.appendingPathComponent("videos/\(id).mp4").path)
            let record = try JSONDecoder().decode(ClipRecord.self, from: Data(contentsOf: Self.corpusA.appendingPathComponent("hits/\(id).json")))
            XCTAssertEqual(record.fault.rawValue, faults[String(id)] ?? "none")
            if let f = faults[String(id)] {
                XCTAssertEqual(check.problem?.kind, expected[Fault(rawValue: f)!], "clip \(id) (\(f)): \(check.problem?.message ?? "usable")")
            } else {
                XCTAssertTrue(check.usable, "clip \(id): \(check.problem?.message ?? "")")
            }
        }
    }
}

final class MediaTests: XCTestCase {
    /// Each fault is the fault claimed, as training's clip check sees it.
    func testFaultyClipsAreFaultyAsClaimed() throws {
        let dir = temporaryDirectory("faults")
        defer { try? FileManager.default.removeItem(at: dir) }
        let expected: [(Fault, MediaError.Kind?)] = [(.none, nil), (.noAudio, .noAudio), (.corruptAudio, .audioUnusable), (.truncated, .truncated)]
        for (fault, kind) in expected {
            var o = tiny
            o.fault = fault
            let path = dir.appendingPathComponent("\(fault.rawValue).mp4").path
            let record = try ClipGenerator(template: .droppingOnto, seed: 77, options: o).write(to: path)
            XCTAssertEqual(record.fault, fault)
            let check = ClipCheck.run(path: path)
            XCTAssertEqual(check.problem?.kind, kind, "\(fault): \(check.problem?.message ?? "usable")")
        }
    }

    /// The 12 Hz envelope (ThudMedia's, on the decoded AAC audio) peaks within one step of each visible hit.
    /// A hit is checked when it stands out: no hit of at least a quarter of its strength within 0.25 s of it
    /// (a faint bounce on the tail of a ringing pot, or just before a louder one, has no peak of its own; and
    /// two quick bounces a quarter as strong can re-excite a ringing metal ball so that its loudest 12 Hz
    /// step comes two steps late) and no off-screen sound within 0.25 s.
    func testHitTimesMatchTheAudioEnvelope() throws {
        let dir = temporaryDirectory("envelope")
        defer { try? FileManager.default.removeItem(at: dir) }
        var checked = 0, missed: [String] = []
        for template in Template.allCases where template.sounds {
            for seed in [3, 4, 5, 6] as [UInt64] {
                let path = dir.appendingPathComponent("\(template.rawValue)-\(seed).mp4").path
                let gen = ClipGenerator(template: template, seed: seed, options: tiny)
                let record = try gen.write(to: path)
                let summary = try MediaInput(path: path).decode(video: nil, audio: true)
                let audio = summary.audio!
                // ThudMedia hands back the first channel only: exactly the training target's input.
                XCTAssertEqual(Double(audio.samples.count) / Double(audio.sampleRate), record.duration, accuracy: 0.05)
                let env = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate).values
                func isPeak(_ k: Int) -> Bool {
                    guard k >= 0, k < env.count else { return false }
                    let before = k > 0 ? env[k - 1] : 0, after = k + 1 < env.count ? env[k + 1] : 0
                    return env[k] >= before && env[k] >= after && env[k] > 0.05
                }
                for h in record.hits where h.visible && h.strength >= 0.1 {
                    // A comparable hit within 0.25 s on either side may own the peak (bounces come in quick
                    // series, and a softer knock on a ringing material can be the louder sound).
                    let masked = record.hits.contains { $0 != h && abs($0.time - h.time) < 0.25 && $0.strength >= 0.25 * h.strength }
                        || record.offscreenSounds.contains { abs($0.time - h.time) < 0.25 }
                        || (record.cameraClick.map { abs($0 - h.time) < 0.25 } ?? false)
                    if masked { continue }
                    let k = Int(h.time * 12)
                    checked += 1
                    if !(isPeak(k - 1) || isPeak(k) || isPeak(k + 1)) {
                        missed.append("\(template.text) seed \(seed): hit at \(h.time) (step \(k)), envelope \(env[min(env.count, max(0, k - 2))..<min(env.count, k + 3)]) of \(env.count) steps, hits \(record.hits.map { ($0.time, $0.strength, $0.visible) }), offscreen \(record.offscreenSounds)")
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 20, "too few isolated visible hits to check")
        XCTAssertTrue(missed.isEmpty, "\(missed.count)/\(checked) hits without an envelope peak:\n" + missed.joined(separator: "\n"))
    }
}


/// The surface family (perspective striker scenes): determinism, hits at contacts, scratches and silent strokes.
final class SurfaceFamilyTests: XCTestCase {
    /// The action's own sound, decoded back from the written file's first channel, and the record.
    func actionOnly(_ template: Template, _ seed: UInt64, _ dir: URL) throws -> (SurfaceClip, ClipRecord, [Float], Int) {
        let clip = SurfaceClip(template: template, seed: seed, options: tiny)
        clip.ambience = false
        let path = dir.appendingPathComponent("\(template.rawValue)-\(seed).mp4").path
        let record = try clip.write(to: path)
        let channels = record.channels
        let mono = stride(from: 0, to: clip.audio.count, by: channels).map { clip.audio[$0] }
        return (clip, record, mono, record.sampleRate)
    }

    func testSurfacePlanShareAndLabels() {
        let plan = Corpus.plan(CorpusOptions(counts: [.train: 2000], seed: 3))
        let surface = plan.filter { $0.family == .surface }
        XCTAssertEqual(Double(surface.count) / 2000, 0.5, accuracy: 0.05)
        // Sound templates become striker scenes; silent ones stay themselves.
        XCTAssertTrue(surface.allSatisfy { !$0.template.sounds || $0.template == .hitting })
        XCTAssertTrue(Corpus.plan(CorpusOptions(counts: [.train: 200], seed: 3, surfaceShare: 0)).allSatisfy { $0.family == .rigid })
        let clip = SurfaceClip(template: .droppingInto, seed: 5, options: tiny)
        XCTAssertEqual(clip.record.template, Template.hitting.text)
        XCTAssertTrue(clip.record.label.hasPrefix("Hitting "), clip.record.label)
        XCTAssertEqual(clip.record.family, "surface")
    }

    /// The same seed gives the same clip (record, content hash, MP4 bytes); another seed another clip.
    func testSurfaceClipIsDeterministicPerSeed() throws {
        let dir = temporaryDirectory("surface-determinism")
        defer { try? FileManager.default.removeItem(at: dir) }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var hashes: [String] = []
        for (seed, template) in [(21, Template.hitting), (22, .showing)] as [(UInt64, Template)] {
            var runs: [(Data, Data)] = []
            for run in 0..<2 {
                let path = dir.appendingPathComponent("\(seed)-\(run).mp4").path
                let record = try SurfaceClip(template: template, seed: seed, options: tiny).write(to: path)
                runs.append((try enc.encode(record), try Data(contentsOf: URL(fileURLWithPath: path))))
                if run == 0 { hashes.append(record.contentHash) }
            }
            XCTAssertEqual(runs[0].0, runs[1].0, "record of seed \(seed) differs between runs")
            XCTAssertEqual(runs[0].1, runs[1].1, "MP4 of seed \(seed) differs between runs")
        }
        XCTAssertNotEqual(hashes[0], hashes[1])
    }

    /// Every listed hit is a contact of the striker with the surface (its lowest point at z = 0 then, above it
    /// 10 ms before), and the action's sound rises there: the 12 Hz envelope of the decoded audio (ambience off)
    /// steps up at the hit's step or the next, for each hit with no other hit, scratch or silent stroke within 0.25 s.
    func testSurfaceHitsAreContactsAndTheEnvelopeRisesThere() throws {
        let dir = temporaryDirectory("surface-hits")
        defer { try? FileManager.default.removeItem(at: dir) }
        var checked = 0, missed: [String] = []
        for seed in 1...8 as ClosedRange<UInt64> {
            let clip = SurfaceClip(template: .hitting, seed: seed * 31, options: tiny)
            clip.ambience = false
            let path = dir.appendingPathComponent("\(seed).mp4").path
            let record = try clip.write(to: path)
            XCTAssertFalse(record.hits.isEmpty, "seed \(seed): a hitting clip without a hit")
            let striker = clip.scene.actors[0]
            for h in record.hits {
                let (g, th) = striker.track.at(h.time)
                XCTAssertEqual(striker.lowest(g, th).z, 0, accuracy: 1e-6, "seed \(seed): hit at \(h.time) is not a contact")
                let (g0, th0) = striker.track.at(h.time - 0.01)
                XCTAssertGreaterThan(striker.lowest(g0, th0).z, 1e-4, "seed \(seed): striker already down before the hit at \(h.time)")
            }
            let audio = try MediaInput(path: path).decode(video: nil, audio: true).audio!
            let env = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate).values
            for h in record.hits where h.strength >= 0.1 {
                let busy = record.hits.contains { $0 != h && abs($0.time - h.time) < 0.25 }
                    || (record.scratches ?? []).contains { h.time > $0.start - 0.25 && h.time < $0.end + 0.25 }
                if busy { continue }
                let k = Int(h.time * 12)
                guard k >= 1, k + 1 < env.count else { continue }
                checked += 1
                if !(env[k] > env[k - 1] * 1.2 || env[k + 1] > env[k - 1] * 1.2) {
                    missed.append("seed \(seed) hit \(h.time) strength \(h.strength): envelope \(env[(k - 1)...(k + 1)])")
                }
            }
        }
        XCTAssertGreaterThan(checked, 10)
        XCTAssertTrue(missed.isEmpty, "\(missed.count)/\(checked) hits without a rise:\n" + missed.joined(separator: "\n"))
    }

    /// A scratch drags the striker along the surface (its lowest point stays at z = 0) and sounds, but it is not a
    /// hit: no listed hit falls inside it, and its sound fades in (no onset).
    func testScratchesAreNotHits() throws {
        let dir = temporaryDirectory("surface-scratch")
        defer { try? FileManager.default.removeItem(at: dir) }
        var scratches = 0
        for seed in 1...12 as ClosedRange<UInt64> {
            let (clip, record, mono, rate) = try actionOnly(.hitting, seed * 17, dir)
            let striker = clip.scene.actors[0]
            for s in record.scratches ?? [] where s.end < record.duration {
                scratches += 1
                XCTAssertFalse(record.hits.contains { $0.time >= s.start - 1e-9 && $0.time <= s.end + 1e-9 }, "seed \(seed): a hit inside a scratch")
                for k in 0...10 {
                    let t = s.start + (s.end - s.start) * Double(k) / 10
                    let (g, th) = striker.track.at(t)
                    XCTAssertEqual(striker.lowest(g, th).z, 0, accuracy: 1e-6, "seed \(seed): off the surface during a scratch at \(t)")
                }
                // It sounds while it lasts (where no hit rings) and starts softly: the first 5 ms are quieter than
                // the loudest 5 ms inside it.
                let lastHitBefore = record.hits.filter { $0.time < s.start }.map(\.time).max() ?? -10
                guard s.start - lastHitBefore > 1.5, s.end - s.start > 0.3 else { continue }
                let a = Int(s.start * Double(rate)), b = min(mono.count, Int(s.end * Double(rate)))
                let win = rate / 200
                func rms(_ from: Int) -> Float { let w = mono[from..<min(b, from + win)]; return (w.map { $0 * $0 }.reduce(0, +) / Float(max(1, w.count))).squareRoot() }
                let loudest = stride(from: a, to: b - win, by: win).map(rms).max() ?? 0
                XCTAssertGreaterThan(loudest, 1e-4, "seed \(seed): a silent scratch")
                XCTAssertLessThan(rms(a), loudest * 0.5, "seed \(seed): scratch at \(s.start) starts with an onset")
            }
        }
        XCTAssertGreaterThan(scratches, 3, "too few scratches to check")
    }

    /// Silent strokes stop short of the surface (at least 2 cm above it) and add no sound: the action's audio does
    /// not grow after one. Carry scenes (silent templates) make no sound at all and list no hit.
    func testSilentStrokesAndCarriedThingsMakeNoSound() throws {
        let dir = temporaryDirectory("surface-silent")
        defer { try? FileManager.default.removeItem(at: dir) }
        var strokes = 0
        for seed in 1...12 as ClosedRange<UInt64> {
            let (clip, record, mono, rate) = try actionOnly(.hitting, seed * 23, dir)
            let striker = clip.scene.actors[0]
            for t in record.silentStrokes ?? [] {
                let (g, th) = striker.track.at(t)
                XCTAssertGreaterThan(striker.lowest(g, th).z, 0.019, "seed \(seed): silent stroke at \(t) touches")
                if record.hits.contains(where: { abs($0.time - t) < 0.3 }) || (record.scratches ?? []).contains(where: { t > $0.start - 0.3 && t < $0.end + 0.3 }) { continue }
                strokes += 1
                // Energy in 100 ms windows before and after the stroke: only the decaying tails of earlier hits.
                let k = Int(t * Double(rate)), w = rate / 10
                guard k - w >= 0, k + w <= mono.count else { continue }
                let before = mono[(k - w)..<k].map { $0 * $0 }.reduce(0, +), after = mono[k..<(k + w)].map { $0 * $0 }.reduce(0, +)
                XCTAssertLessThanOrEqual(after, before * 1.01 + 1e-12, "seed \(seed): sound after the silent stroke at \(t)")
            }
        }
        XCTAssertGreaterThan(strokes, 3, "too few silent strokes to check")
        for template in Template.allCases where !template.sounds {
            for seed in [1, 2] as [UInt64] {
                let (_, record, mono, _) = try actionOnly(template, seed, dir)
                XCTAssertTrue(record.hits.isEmpty, "\(template.text) lists hits")
                XCTAssertTrue((record.scratches ?? []).isEmpty)
                XCTAssertEqual(mono.map(abs).max() ?? 0, 0, "\(template.text) seed \(seed) makes a sound")
            }
        }
    }
}
