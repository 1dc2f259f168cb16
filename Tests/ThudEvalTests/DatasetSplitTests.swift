import XCTest
@testable import ThudEval

/// A plain folder's split.tsv (realtrain's fixed split) and the motion-onset baseline.
final class DatasetSplitTests: XCTestCase {
    func folder(_ files: [String], split: String?) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("thud-split-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/clips", withIntermediateDirectories: true)
        for f in files { XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/clips/" + f, contents: Data([0]))) }
        if let split { try split.write(toFile: dir + "/split.tsv", atomically: true, encoding: .utf8) }
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testASplitFileFixesEachClipsSplitAndLeavesOutClipsItDoesNotName() throws {
        let dir = try folder(["a.mp4", "b.mp4", "c.mp4", "d.mp4"],
                             split: "file\tsplit\na.mp4\ttrain\nb.mp4\tvalidation\n# a comment\n\nc.mp4\ttest\n")
        let dataset = try Dataset.load(dir, validationShare: 0.99)
        XCTAssertEqual(dataset.clips.map(\.id), ["clips/a.mp4", "clips/b.mp4", "clips/c.mp4"], "d.mp4 is not named: no part")
        XCTAssertEqual(dataset.clips.map(\.split), [.train, .validation, .test], "the file's split, not the hash share")
        XCTAssertEqual(dataset.layout, .folder)
    }

    func testABadSplitFileIsRefusedNamingTheFileAndLine() throws {
        let dir = try folder(["a.mp4"], split: "file\tsplit\na.mp4\tholdout\n")
        XCTAssertThrowsError(try Dataset.load(dir)) { error in
            let e = error as? DatasetError
            XCTAssertEqual(e?.path, dir + "/split.tsv")
            XCTAssertEqual(e?.problem.hasPrefix("line 2 "), true, "\(String(describing: e))")
        }
    }

    func testCombinedDatasetsNumberTheirClipsBySource() throws {
        let a = try Dataset.load(try folder(["a.mp4"], split: nil), validationShare: 0)
        let b = try Dataset.load(try folder(["b.mp4", "c.mp4"], split: nil), validationShare: 0)
        XCTAssertEqual(Dataset(combining: [a, b]).clips.map(\.source), [0, 1, 1])
    }

    /// Motion that starts scores; motion that goes on or stops does not; scaled by the largest rise so far.
    func testMotionOnsetIsTheRiseOfMotionEnergyScaledByItsRunningMaximum() {
        var onset = MotionOnsetEnvelope()
        let values = [0, 0.1, 0.5, 0.5, 0.2, 0.3, 0.9].map { onset.step(energy: Float($0)) }
        XCTAssertEqual(values[0], 0)
        XCTAssertEqual(values[1], 1, "the first rise is the largest so far")
        XCTAssertEqual(values[2], 1)
        XCTAssertEqual(values[3], 0, "steady motion")
        XCTAssertEqual(values[4], 0, "motion that stops")
        XCTAssertEqual(values[5], 0.1 / 0.4, accuracy: 1e-6)
        XCTAssertEqual(values[6], 1)
        onset.reset()
        XCTAssertEqual(onset.step(energy: 0.7), 0, "a clip starts without a previous step")
    }
}
