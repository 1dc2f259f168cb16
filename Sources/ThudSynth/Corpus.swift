import Foundation

/// One entry of train.json / validation.json / test.json, as Something-Something v2 writes them.
public struct SplitEntry: Codable, Sendable, Equatable {
    public var id: String
    public var label: String
    public var template: String
    public var placeholders: [String]
}

public enum Split: String, CaseIterable, Sendable {
    case train, validation, test
    var index: UInt64 { switch self { case .train: 0; case .validation: 1; case .test: 2 } }
}

/// A planned clip: everything that decides its content, fixed before any work starts.
public struct PlannedClip: Sendable {
    public var id: String
    public var split: Split
    public var template: Template
    public var sceneSeed: UInt64
    public var fault: Fault
    public var family: SceneFamily = .rigid
}

public struct CorpusOptions: Sendable {
    public var counts: [Split: Int]
    public var seed: UInt64
    public var faultyShare: Double
    public var jobs: Int
    public var clip: ClipOptions
    /// Keep the clips an interrupted run with the same options already finished (Corpus.finishedRecord) instead of
    /// writing them again.
    public var keepFinished: Bool
    /// Share of clips from the surface family (perspective striker scenes); the rest are rigid-body scenes.
    public var surfaceShare: Double
    public init(counts: [Split: Int], seed: UInt64, faultyShare: Double = 0.03, jobs: Int = 2, clip: ClipOptions = ClipOptions(),
                keepFinished: Bool = false, surfaceShare: Double = 0.5) {
        self.counts = counts; self.seed = seed; self.faultyShare = faultyShare; self.jobs = jobs; self.clip = clip
        self.keepFinished = keepFinished; self.surfaceShare = surfaceShare
    }
}

/// Plans and writes a corpus in Something-Something's layout.
public enum Corpus {
    /// The plan is a pure function of the options: ids numbered across splits, templates dealt in shuffled
    /// rounds (so every template appears once the split has ≥ 19 clips), scene seeds unique across splits.
    public static func plan(_ o: CorpusOptions) -> [PlannedClip] {
        var out: [PlannedClip] = []
        var used = Set<UInt64>()
        var nextID = 1
        let all = Template.allCases
        for split in Split.allCases {
            let n = o.counts[split] ?? 0
            var deal = Xoshiro256(seed: mixSeed(o.seed, 0xDEA1, split.index))
            var round: [Template] = []
            for i in 0..<n {
                if round.isEmpty {
                    round = all
                    for k in stride(from: round.count - 1, to: 0, by: -1) { round.swapAt(k, deal.int(0, k)) }
                }
                let template = round.removeLast()
                var seed = mixSeed(o.seed, split.index, UInt64(i))
                var salt: UInt64 = 1
                while used.contains(seed) { seed = mixSeed(o.seed, split.index, UInt64(i), salt); salt += 1 }
                used.insert(seed)
                var faultRng = Xoshiro256(seed: mixSeed(o.seed, 0xFA17, split.index, UInt64(i)))
                var fault = Fault.none
                if o.clip.fault != .none { fault = o.clip.fault }
                else if faultRng.chance(o.faultyShare) { fault = faultRng.pick([.noAudio, .corruptAudio, .truncated]) }
                // The family from its own stream, so the share moves no other choice; a surface clip acts its
                // template's surface version (sound templates: a striker scene).
                var familyRng = Xoshiro256(seed: mixSeed(o.seed, 0xFA41, split.index, UInt64(i)))
                let family: SceneFamily = familyRng.unit() < o.surfaceShare ? .surface : .rigid
                out.append(PlannedClip(id: String(nextID), split: split,
                                       template: family == .surface ? SurfaceClip.template(for: template) : template,
                                       sceneSeed: seed, fault: fault, family: family))
                nextID += 1
            }
        }
        return out
    }

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// The record of a planned clip that an earlier run finished: hits/<id>.json is written only after the video is
    /// complete, so its presence with the plan's scene seed, template and fault (and any pinned size or frame rate)
    /// and a non-empty video beside it means the clip is there. nil when it has to be written.
    static func finishedRecord(_ p: PlannedClip, options o: CorpusOptions, root: URL, decoder: JSONDecoder) -> ClipRecord? {
        let video = root.appendingPathComponent("videos/\(p.id).mp4").path
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent("hits/\(p.id).json").path),
              let record = try? decoder.decode(ClipRecord.self, from: data),
              record.id == p.id, record.seed == p.sceneSeed, record.template == p.template.text, record.fault == p.fault,
              (record.family ?? SceneFamily.rigid.rawValue) == p.family.rawValue,
              o.clip.width.map({ $0 == record.width }) ?? true, o.clip.height.map({ $0 == record.height }) ?? true,
              o.clip.frameRate.map({ $0 == record.frameRate }) ?? true,
              let size = (try? FileManager.default.attributesOfItem(atPath: video))?[.size] as? NSNumber, size.intValue > 0
        else { return nil }
        return record
    }

    /// Writes the whole corpus under `dir`, `jobs` clips at a time; `progress` is called after each clip. Returns how
    /// many clips were kept from an earlier run (`keepFinished`).
    @discardableResult
    public static func generate(into dir: String, options o: CorpusOptions,
                                progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void) throws -> Int {
        let fm = FileManager.default
        let root = URL(fileURLWithPath: dir)
        do {
            try fm.createDirectory(at: root.appendingPathComponent("videos"), withIntermediateDirectories: true)
            try fm.createDirectory(at: root.appendingPathComponent("hits"), withIntermediateDirectories: true)
        } catch { throw SynthError.cannotWrite(dir, "\(error.localizedDescription)") }
        let plan = Self.plan(o)
        let queue = WorkQueue(count: plan.count)
        let enc = encoder()
        let workers = max(1, o.jobs)
        let group = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            let t = Thread {
                defer { group.leave() }
                let decoder = JSONDecoder()
                while let k = queue.take() {
                    let p = plan[k]
                    if o.keepFinished, let record = finishedRecord(p, options: o, root: root, decoder: decoder) {
                        queue.done(k, nil, record, kept: true)
                        progress(queue.finished, plan.count)
                        continue
                    }
                    var clipOptions = o.clip
                    clipOptions.fault = p.fault
                    let videoPath = root.appendingPathComponent("videos/\(p.id).mp4").path
                    do {
                        let gen: ClipWriting = p.family == .surface
                            ? SurfaceClip(template: p.template, seed: p.sceneSeed, id: p.id, options: clipOptions)
                            : ClipGenerator(template: p.template, seed: p.sceneSeed, id: p.id, options: clipOptions)
                        let record = try gen.write(to: videoPath)
                        let data = try enc.encode(record)
                        try data.write(to: root.appendingPathComponent("hits/\(p.id).json"), options: .atomic)
                        queue.done(k, nil, record)
                    } catch {
                        queue.done(k, error, nil)
                    }
                    progress(queue.finished, plan.count)
                    if queue.failed != nil { return }
                }
            }
            t.stackSize = 8 << 20
            t.start()
        }
        group.wait()
        if let e = queue.failed { throw e }

        // Labels: template → index as a string, the twelve sound classes first.
        var labels: [String: String] = [:]
        for t in Template.allCases { labels[t.text] = String(t.rawValue) }
        do {
            try enc.encode(labels).write(to: root.appendingPathComponent("labels.json"), options: .atomic)
            for split in Split.allCases {
                let entries = plan.indices.filter { plan[$0].split == split }.map { k -> SplitEntry in
                    let r = queue.records[k]!
                    return SplitEntry(id: r.id, label: r.label, template: r.template, placeholders: r.placeholders)
                }
                try enc.encode(entries).write(to: root.appendingPathComponent("\(split.rawValue).json"), options: .atomic)
            }
            var faults: [String: String] = [:]
            for p in plan where p.fault != .none { faults[p.id] = p.fault.rawValue }
            try enc.encode(faults).write(to: root.appendingPathComponent("faults.json"), options: .atomic)
        } catch { throw SynthError.cannotWrite(dir, "\(error.localizedDescription)") }
        return queue.kept
    }
}

/// Hands out clip indices to worker threads and collects their results.
final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private(set) var finished = 0
    private(set) var failed: Error?
    /// Clips an earlier run had finished, taken as they were.
    private(set) var kept = 0
    var records: [ClipRecord?]
    init(count: Int) { self.count = count; records = Array(repeating: nil, count: count) }
    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard failed == nil, next < count else { return nil }
        next += 1
        return next - 1
    }
    func done(_ k: Int, _ error: Error?, _ record: ClipRecord?, kept wasKept: Bool = false) {
        lock.lock(); defer { lock.unlock() }
        if let e = error, failed == nil { failed = e }
        records[k] = record
        finished += 1
        if wasKept { kept += 1 }
    }
}
