import XCTest
import ThudTestSupport

/// `thud-train prepare` on a small dataset with faulty clips: the report and the cache.
final class TrainCommandTests: XCTestCase {
    let dir = TemporaryDirectory("train-e2e")

    func testPrepareReportsTheFilterAndTheFaultyClipsAndThenReadsTheCache() throws {
        let data = try TinyDataset.write(root: dir.path("ds"))
        let cache = dir.path("cache")
        let first = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache])
        XCTAssertEqual(first.status, 0, first.stderrText)
        let report = first.stderrText
        // train: 4 good + 1 silent template + 3 faulty = 8 → 7 after the filter → 4 usable.
        XCTAssertTrue(report.contains("train              8                   7                      4"), report)
        XCTAssertTrue(report.contains("no audio stream: 1"), report)
        XCTAssertTrue(report.contains("audio does not decode: 1"), report)
        XCTAssertTrue(report.contains("not a readable video (empty, corrupt or truncated): 1"), report)
        XCTAssertTrue(report.contains("validation         3                   2                      2"), report)
        XCTAssertTrue(report.contains("(0 clips from the cache)"), report)
        let second = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache])
        XCTAssertEqual(second.status, 0)
        XCTAssertTrue(second.stderrText.contains("(8 clips from the cache)"), second.stderrText)
        // All classes: the silent-template clips come back.
        let all = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache, "--classes", "all"])
        XCTAssertTrue(all.stderrText.contains("train              8                   8                      5"), all.stderrText)
    }

    func testAMissingDatasetIsOneLine() throws {
        let r = try Executable.run("thud-train", ["prepare", dir.path("nothing-here")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("nothing-here"))
    }
}
