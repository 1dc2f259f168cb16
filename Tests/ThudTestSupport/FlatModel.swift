import Foundation
import ThudModel

/// A small model (16×16 input) whose output never moves (its last layer zeroed, its bias low): r and hit F1 0 on any
/// clip, so the first adapted model that learns anything beats it, and a learner's rounds that write a model are
/// sure to come (AdaptFollowTests, LearnFeedTests).
public enum FlatModel {
    public static func write(to path: String) throws {
        if FileManager.default.fileExists(atPath: path) { return }
        let architecture = ModelArchitecture(input: InputSpec(width: 16, height: 16), encoder: .conv(channels: [4, 8]),
                                             lstmHidden: 16, lstmLayers: 2, headHidden: [8])
        var file = ModelFile.random(architecture: architecture, seed: 4)
        guard let last = file.tensors.last(where: { $0.name.hasPrefix("head.") && $0.name.hasSuffix(".weight") })?.name else {
            throw NSError(domain: "FlatModel", code: 1, userInfo: [NSLocalizedDescriptionKey: "no head weight"])
        }
        file.tensors = file.tensors.map { t in
            var t = t
            if t.name == last { t.values = t.values.map { _ in 0 } }
            if t.name == last.replacingOccurrences(of: ".weight", with: ".bias") { t.values = t.values.map { _ in -2 } }
            return t
        }
        try file.write(to: path)
    }
}
