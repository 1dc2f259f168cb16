import XCTest
import ThudMedia
import ThudModel
@testable import ThudRuntime
import ThudPipeline
import ThudTestSupport

/// The network runtime's pieces that need no network: a feed's tagged lines and gap events, feed specs and files.
final class FeedOutputTests: XCTestCase {
    func testTaggedLinesAndTheGapEvent() throws {
        let dir = TemporaryDirectory("feed-output")
        let path = dir.path("out.jsonl")
        let printer = StepPrinter(format: .jsonl, out: try LineWriter(path: path), feed: "door \"east\"")
        try printer.submit(DescribedStep(step: 3, time: 0.25, envelope: 0.5, onset: 0, hit: nil))
        try printer.event(.gap(fromStep: 4, toStep: 40, seconds: 2.9876, attempts: 2, onStreamTimestamps: false))
        try printer.event(.lost(reason: "no data", afterStep: 4))   // stderr's business, not a line
        try printer.submit(DescribedStep(step: 40, time: 40.0 / 12, envelope: 0.75, onset: 0, hit: HitEvent(step: 39, time: 3.25, strength: 0.5)))
        fflush(nil)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, [
            #"{"feed": "door \"east\"", "t": 0.250000, "envelope": 0.500000, "hit": false}"#,
            #"{"feed": "door \"east\"", "event": "gap", "t": 0.333333, "until": 3.333333, "missing_steps": 36, "seconds": 2.988, "attempts": 2, "resumed_on": "monotonic clock"}"#,
            #"{"feed": "door \"east\"", "t": 3.333333, "envelope": 0.750000, "hit": true, "strength": 0.500000}"#,
        ])
        for line in lines { XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8))) }
    }

    func testFeedSpecsAndFeedsFiles() throws {
        XCTAssertEqual(FeedSpec(argument: "yard=rtsp://u:secret@10.0.0.5:554/s1"), FeedSpec(name: "yard", url: "rtsp://u:secret@10.0.0.5:554/s1"))
        XCTAssertEqual(FeedSpec(argument: "rtsp://u:secret@10.0.0.5:554/s1")?.name, "10.0.0.5:554/s1", "named without its password")
        XCTAssertEqual(FeedSpec(argument: "udp://127.0.0.1:5000?a=b")?.url, "udp://127.0.0.1:5000?a=b", "an = in the URL is no name")
        XCTAssertNil(FeedSpec(argument: "clip.mp4"))
        XCTAssertEqual(NetworkStream.redacted("rtsp://admin:hunter2@cam/live"), "rtsp://admin:***@cam/live")
        let feeds = try FeedSpec.parseFile("# cameras\n\nyard=udp://127.0.0.1:1 # the yard\nhttp://h/x.m3u8\n", path: "f.txt")
        XCTAssertEqual(feeds.map(\.name), ["yard", "h/x.m3u8"])
        XCTAssertThrowsError(try FeedSpec.parseFile("yard=udp://127.0.0.1:1\nnot a feed\n", path: "f.txt")) { error in
            XCTAssertEqual((error as? MediaError)?.message, "f.txt: line 2 is not NAME=URL or a network URL: not a feed")
            XCTAssertEqual((error as? MediaError)?.exitCode, 64)
        }
    }
}
