// The mean of the weights of several models of one architecture ("model soup", Wortsman et al. 2022).
//
// Why it works here: stage-2 runs that start from the same stage-1 weights and differ only in their seed (the order
// of their windows, their mirrored frames) end close enough that their mean is itself a good model, one that runs
// at the cost of one; for the bundled model's two runs it scores better than either (models/README.md). Models trained from
// different starts have no reason to line up unit for unit, and their mean is usually worse than both, so
// `warmStartsDiffer` lets the command say so; scores on validation clips decide. Models that cannot be averaged
// (another architecture or step rate) throw TrainerStateError, one line naming the file.
import Foundation
import ThudModel

public enum ModelAverage {
    /// The element-wise mean of the models' tensors, summed in Double so the order of the models does not matter
    /// to float rounding more than once. The header is the first model's architecture and step rate with a
    /// provenance that names every ingredient; no recorded picker, since the averaged envelope is a new model's and
    /// its picker is chosen anew on validation clips (`thud-train set-picker`).
    public static func average(_ models: [(path: String, file: ModelFile)], command: String) throws -> ModelFile {
        guard let (firstPath, first) = models.first, models.count >= 2 else {
            throw TrainerStateError("averaging needs at least two models, got \(models.count)")
        }
        let architecture = normalized(first.header.architecture)
        for (path, file) in models.dropFirst() {
            let other = normalized(file.header.architecture)
            if other != architecture {
                throw TrainerStateError("model file \(path): cannot be averaged with \(firstPath): its architecture differs (\(difference(architecture, other)))")
            }
        }
        // ModelFile.read has checked every tensor against the architecture, so equal architectures mean equal
        // names and shapes; they are looked up by name because a file's order is the writer's.
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(first.tensors.count)
        for tensor in first.tensors {
            var sum = [Double](repeating: 0, count: tensor.values.count)
            for (path, file) in models {
                guard let other = file.tensor(named: tensor.name), other.shape == tensor.shape else {
                    throw TrainerStateError("model file \(path): has no tensor \(tensor.name) of shape \(tensor.shape)")
                }
                for i in sum.indices { sum[i] += Double(other.values[i]) }
            }
            let count = Double(models.count)
            tensors.append(NamedTensor(name: tensor.name, shape: tensor.shape, values: sum.map { Float($0 / count) }))
        }
        var provenance: [String: String] = ["averaged_models": String(models.count)]
        for (index, (path, file)) in models.enumerated() {
            var line = "\(path): \(file.header.training.command)"
            if let epoch = file.header.provenance["epoch"] { line += " (epoch \(epoch))" }
            provenance["ingredient_\(index + 1)"] = line
        }
        // Kept so that a mean can itself be averaged (or checked) against models from the same start.
        if warmStartsDiffer(models.map(\.file)) == nil, let start = warmStart(of: first) { provenance["warm_start"] = start }
        let data = Set(models.map(\.file.header.training.data)).count == 1
            ? first.header.training.data
            : models.map(\.file.header.training.data).joined(separator: " | ")
        let training = TrainingProvenance(command: command, data: data,
                                          notes: "the mean of the weights of \(models.count) models (provenance ingredient_N)")
        return ModelFile(header: ModelHeader(architecture: first.header.architecture,
                                             training: training, provenance: provenance),
                         tensors: tensors)
    }

    /// The warm-start paths recorded by `thud-train train` (nil where a model records none), when they are not
    /// all one and the same.
    public static func warmStartsDiffer(_ models: [ModelFile]) -> [String?]? {
        let starts = models.map(warmStart(of:))
        if let shared = starts.first ?? nil, starts.allSatisfy({ $0 == shared }) { return nil }
        return starts
    }

    /// `thud-train train`'s --warm-start (in its settings), or the one start an averaged model's ingredients shared.
    static func warmStart(of model: ModelFile) -> String? {
        if let start = model.header.provenance["warm_start"] { return start }
        guard let settings = model.header.provenance["settings"],
              let object = try? JSONSerialization.jsonObject(with: Data(settings.utf8)) as? [String: Any] else { return nil }
        return object["warmStart"] as? String
    }

    /// Absent optional fields spelled as their defaults' absence, so a file that writes `onsetOutput: false`
    /// matches one that leaves it out.
    static func normalized(_ architecture: ModelArchitecture) -> ModelArchitecture {
        var a = architecture
        a.onsetOutput = a.hasOnsetOutput ? true : nil
        a.outputDelaySteps = a.outputDelay > 0 ? a.outputDelay : nil
        return a
    }

    static func difference(_ a: ModelArchitecture, _ b: ModelArchitecture) -> String {
        var parts: [String] = []
        if a.input != b.input { parts.append("input \(b.input.width)x\(b.input.height), not \(a.input.width)x\(a.input.height)") }
        if a.encoder != b.encoder { parts.append("another encoder") }
        if a.lstmHidden != b.lstmHidden || a.lstmLayers != b.lstmLayers {
            parts.append("LSTM \(b.lstmLayers)x\(b.lstmHidden), not \(a.lstmLayers)x\(a.lstmHidden)")
        }
        if a.headHidden != b.headHidden { parts.append("head \(b.headHidden), not \(a.headHidden)") }
        if a.hasOnsetOutput != b.hasOnsetOutput { parts.append(b.hasOnsetOutput ? "an onset output" : "no onset output") }
        if a.outputDelay != b.outputDelay { parts.append("output delay \(b.outputDelay), not \(a.outputDelay)") }
        return parts.isEmpty ? "another architecture" : parts.joined(separator: "; ")
    }
}
