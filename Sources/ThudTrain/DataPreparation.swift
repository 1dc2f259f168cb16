import Foundation
import ThudEval
import ThudMedia

/// Counts per split, reported the way the original experiment reported its data: the original count →
/// after the class filter → after removing faulty videos, with the reasons counted.
public struct SplitCounts: Sendable, Codable, Equatable {
    public var original = 0
    public var afterClassFilter = 0
    public var usable = 0
    public var reasons: [String: Int] = [:]
    public var fromCache = 0
}

public struct PreparedDataset: Sendable {
    public var clips: [DatasetSplit: [PreparedClip]]
    public var counts: [DatasetSplit: SplitCounts]
    /// The faulty clips by name, with the one-line reason, for the log.
    public var faulty: [(id: String, message: String)]

    public func clips(_ split: DatasetSplit) -> [PreparedClip] { clips[split] ?? [] }

    /// The report table, one line per split.
    public func reportLines() -> [String] {
        var lines = ["split        original  after class filter  after removing faulty  removed because"]
        for split in DatasetSplit.allCases {
            guard let c = counts[split], c.original > 0 else { continue }
            let reasons = c.reasons.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            lines.append(split.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
                         + String(format: "%9d  %18d  %21d", c.original, c.afterClassFilter, c.usable)
                         + "  " + (reasons.isEmpty ? "-" : reasons))
        }
        return lines
    }

    /// Decodes (or loads from the cache) every clip that passes the filter, on `jobs` threads; a faulty
    /// clip is counted and skipped, never fatal. The result's order is the dataset's order, whatever the
    /// threads did, so training is deterministic.
    public static func prepare(_ dataset: Dataset, filter: ClassFilter, cache: FeatureCache, splits: Set<DatasetSplit> = Set(DatasetSplit.allCases),
                               jobs: Int = 2, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) -> PreparedDataset {
        var counts: [DatasetSplit: SplitCounts] = [:]
        var selected: [DatasetClip] = []
        for clip in dataset.clips {
            counts[clip.split, default: SplitCounts()].original += 1
            guard filter.accepts(clip) else { continue }
            counts[clip.split, default: SplitCounts()].afterClassFilter += 1
            if splits.contains(clip.split) { selected.append(clip) }
        }
        let work = WorkList(selected)
        let group = DispatchGroup()
        for _ in 0..<max(1, jobs) {
            group.enter()
            Thread {
                defer { group.leave() }
                while let i = work.take() { work.finish(i, cache.prepare(work.clips[i])) }
            }.start()
        }
        // Report progress from this thread while the workers run.
        while group.wait(timeout: .now() + 0.5) == .timedOut { progress(work.doneCount, selected.count) }
        progress(selected.count, selected.count)
        let outcomes = work.outcomes

        var clips: [DatasetSplit: [PreparedClip]] = [:]
        var faulty: [(String, String)] = []
        for (clip, outcome) in zip(selected, outcomes) {
            switch outcome! {
            case .ready(let prepared, let fromCache):
                clips[clip.split, default: []].append(prepared)
                counts[clip.split]!.usable += 1
                if fromCache { counts[clip.split]!.fromCache += 1 }
            case .faulty(let reason, let message):
                counts[clip.split]!.reasons[reason.rawValue, default: 0] += 1
                faulty.append((clip.id, message))
            }
        }
        // Splits that were filtered but not prepared report no usable count.
        for split in DatasetSplit.allCases where !splits.contains(split) { counts[split]?.usable = 0 }
        return PreparedDataset(clips: clips, counts: counts, faulty: faulty)
    }
}

/// The clips to prepare, handed out one at a time to worker threads; results land at the clip's index.
private final class WorkList: @unchecked Sendable {
    let clips: [DatasetClip]
    private let lock = NSLock()
    private var next = 0
    private var done = 0
    private var results: [FeatureCache.Outcome?]

    init(_ clips: [DatasetClip]) {
        self.clips = clips
        results = Array(repeating: nil, count: clips.count)
    }

    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < clips.count else { return nil }
        next += 1
        return next - 1
    }

    func finish(_ i: Int, _ outcome: FeatureCache.Outcome) {
        lock.lock(); defer { lock.unlock() }
        results[i] = outcome
        done += 1
    }

    var doneCount: Int { lock.lock(); defer { lock.unlock() }; return done }
    var outcomes: [FeatureCache.Outcome?] { lock.lock(); defer { lock.unlock() }; return results }
}
