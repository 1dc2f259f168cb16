import Foundation
import XCTest
import ThudModel
@testable import ThudTrain

/// `ModelAverage`: the element-wise mean of models of one architecture, and what it refuses.
final class ModelAverageTests: XCTestCase {
    func model(_ architecture: ModelArchitecture = tinyArchitecture, seed: UInt64, warmStart: String? = nil) -> ModelFile {
        var file = ModelFile.random(architecture: architecture, seed: seed,
                                    training: TrainingProvenance(command: "thud-train train seed \(seed)", data: "tiny"))
        file.header.provenance["epoch"] = "3"
        if let warmStart { file.header.provenance["settings"] = "{\"seed\":\(seed),\"warmStart\":\"\(warmStart)\"}" }
        file.header.picker = PeakPicker.Configuration.defaults(for: .level)
        return file
    }

    func testEveryValueIsTheMeanAndTheHeaderNamesTheIngredients() throws {
        let a = model(seed: 1), b = model(seed: 2), c = model(seed: 3)
        let mean = try ModelAverage.average([("a.thud", a), ("b.thud", b), ("c.thud", c)], command: "thud-train average a b c")
        XCTAssertEqual(mean.tensors.map(\.name), a.tensors.map(\.name))
        XCTAssertEqual(mean.tensors.map(\.shape), a.tensors.map(\.shape))
        var largestError: Float = 0
        for (index, tensor) in mean.tensors.enumerated() {
            for i in tensor.values.indices {
                let expected = (Double(a.tensors[index].values[i]) + Double(b.tensors[index].values[i]) + Double(c.tensors[index].values[i])) / 3
                largestError = max(largestError, abs(tensor.values[i] - Float(expected)))
            }
        }
        XCTAssertEqual(largestError, 0, "each value is the Double mean rounded once")
        XCTAssertNotEqual(mean.tensors, a.tensors)
        XCTAssertEqual(mean.header.architecture, a.header.architecture)
        XCTAssertNil(mean.header.picker, "an averaged model's picker is chosen anew")
        XCTAssertEqual(mean.header.training.command, "thud-train average a b c")
        XCTAssertEqual(mean.header.training.data, "tiny")
        XCTAssertEqual(mean.header.provenance["averaged_models"], "3")
        XCTAssertEqual(mean.header.provenance["ingredient_2"], "b.thud: thud-train train seed 2 (epoch 3)")
        // A model averaged with itself is itself, and the mean does not depend on the models' order.
        XCTAssertEqual(try ModelAverage.average([("a", a), ("a", a)], command: "").tensors, a.tensors)
        let swapped = try ModelAverage.average([("b.thud", b), ("a.thud", a)], command: "")
        XCTAssertEqual(swapped.tensors, try ModelAverage.average([("a.thud", a), ("b.thud", b)], command: "").tensors)
        // It is a model file like any other: it writes, reads back and runs.
        let decoded = try ModelFile.decode(mean.encoded(), path: "mean.thud")
        XCTAssertEqual(decoded.tensors, mean.tensors)
        XCTAssertNoThrow(try StreamingModel(file: decoded))
    }

    func testModelsThatDoNotFitAreRefusedInOneLineNamingTheFile() throws {
        let a = model(seed: 1)
        var wider = tinyArchitecture
        wider.lstmHidden = 24
        XCTAssertThrowsError(try ModelAverage.average([("a.thud", a), ("wide.thud", model(wider, seed: 2))], command: "")) { error in
            let message = (error as? TrainerStateError)?.message ?? ""
            XCTAssertEqual(message, "model file wide.thud: cannot be averaged with a.thud: its architecture differs (LSTM 2x24, not 2x16)")
            XCTAssertEqual((error as? TrainerStateError)?.exitCode, 20)
        }
        var delayed = tinyArchitecture
        delayed.outputDelaySteps = 1
        XCTAssertThrowsError(try ModelAverage.average([("a.thud", a), ("d.thud", model(delayed, seed: 2))], command: "")) { error in
            XCTAssertTrue("\(error)".contains("output delay 1, not 0"), "\(error)")
        }
        XCTAssertThrowsError(try ModelAverage.average([("a.thud", a)], command: ""))
        // An absent optional field and its default are the same architecture.
        var spelledOut = model(seed: 2)
        spelledOut.header.architecture.onsetOutput = false
        spelledOut.header.architecture.outputDelaySteps = 0
        XCTAssertNoThrow(try ModelAverage.average([("a.thud", a), ("b.thud", spelledOut)], command: ""))
    }

    func testWarmStartsThatDifferOrAreNotRecordedAreReported() {
        XCTAssertNil(ModelAverage.warmStartsDiffer([model(seed: 1, warmStart: "s1.thud"), model(seed: 2, warmStart: "s1.thud")]))
        XCTAssertEqual(ModelAverage.warmStartsDiffer([model(seed: 1, warmStart: "s1.thud"), model(seed: 2, warmStart: "other.thud")]),
                       ["s1.thud", "other.thud"])
        XCTAssertEqual(ModelAverage.warmStartsDiffer([model(seed: 1, warmStart: "s1.thud"), model(seed: 2)]), ["s1.thud", nil])
        XCTAssertEqual(ModelAverage.warmStartsDiffer([model(seed: 1), model(seed: 2)]), [nil, nil])
        // A mean records the start its ingredients shared, so it can be averaged again without a warning.
        let shared = try? ModelAverage.average([("a", model(seed: 1, warmStart: "s1.thud")), ("b", model(seed: 2, warmStart: "s1.thud"))], command: "")
        XCTAssertEqual(shared?.header.provenance["warm_start"], "s1.thud")
        XCTAssertNil(ModelAverage.warmStartsDiffer([shared!, model(seed: 3, warmStart: "s1.thud")]))
        let mixed = try? ModelAverage.average([("a", model(seed: 1, warmStart: "s1.thud")), ("b", model(seed: 2))], command: "")
        XCTAssertNil(mixed?.header.provenance["warm_start"])
    }
}
