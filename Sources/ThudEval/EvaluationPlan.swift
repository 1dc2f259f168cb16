// What `thud eval` scores and where its report goes: the clips chosen from a dataset (split, classes), the constant
// baseline's level, and the report's files (checked writable before the long run, written atomically after it).
import Foundation
import ThudBase
import ThudMedia

public struct EvaluationPlan {
    public let data: Dataset
    public let splitName: String
    public let filter: ClassFilter
    public let selected: [DatasetClip]
    /// The constant baseline set (its level: `constant`, else the mean target of the training clips not evaluated).
    public var settings = EvaluationSettings()

    /// A missing dataset is "input not found" (10), like a missing clip; a malformed one 11 (DatasetError); a class
    /// list that cannot be read, or a selection without clips, is a usage error (64).
    public init(dataset: String, split: String?, classes: String?, constant: Float?) throws {
        data = try Dataset.load(dataset)
        splitName = split ?? (data.layout == .folder ? "all" : DatasetSplit.test.rawValue)
        do { filter = try ClassFilter.parse(classes ?? (data.layout == .folder ? "all" : "sound")) }
        catch { throw MediaError(.usage, file: classes ?? "", "cannot read the class list (\(error.localizedDescription))") }
        let inSplit = { [splitName] (c: DatasetClip) in splitName == "all" || c.split.rawValue == splitName }
        let filter = self.filter
        selected = data.clips.filter { inSplit($0) && filter.accepts($0) }
        guard !selected.isEmpty else {
            throw MediaError(.usage, file: dataset, "no clips in split \(splitName) for \(filter.description) (\(data.clips.count) clips in the dataset)")
        }
        if let constant {
            settings.constantLevel = constant
            settings.constantSource = "--constant"
        } else {
            let evaluated = Set(selected.map(\.path))
            let training = data.clips.filter { $0.split == .train && filter.accepts($0) && !evaluated.contains($0.path) }
            if let mean = EvaluationRun.trainingMeanTarget(training) {
                settings.constantLevel = mean.level
                settings.constantSource = "mean target of \(mean.clips) training clip\(mean.clips == 1 ? "" : "s")"
            }
        }
    }
}

extension EvaluationReport {
    /// Fails before the (long) run when an output cannot be created, rather than after it.
    public static func checkWritable(out: String?, html: String?, plots: String?) throws {
        for path in [out, html].compactMap({ $0 }) { try AtomicFile.checkWritable(path) }
        if let plots {
            do { try FileManager.default.createDirectory(atPath: plots, withIntermediateDirectories: true) }
            catch { throw MediaError(.writeFailed, file: plots, "cannot create the plots folder") }
            guard access(plots, W_OK) == 0 else { throw MediaError(.writeFailed, file: plots, "plots folder is not writable") }
        }
    }

    /// The JSON report, the charts and the HTML page, each written whole (AtomicFile) or not at all.
    public func write(out: String?, html: String?, plots: String?) throws {
        if let out { try AtomicFile.write(jsonData(), to: out) }
        guard plots != nil || html != nil else { return }
        let charts = try ReportCharts.make(self, directory: plots, clipLimit: plots != nil ? .max : EvaluationReport.inlineClipChartLimit)
        if let html { try AtomicFile.write(Data(htmlPage(charts: charts).utf8), to: html) }
    }
}
