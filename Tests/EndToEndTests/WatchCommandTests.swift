import XCTest
import ThudMedia
import ThudModel
import ThudTestSupport

/// `thud watch`: several real feeds in one process, each line tagged with its feed, a dead feed beside live ones
/// holding nobody up, feeds from a file.
final class WatchCommandTests: XCTestCase {
    let dir = TemporaryDirectory("watch")

    func testLiveFeedsRunBesideADeadOneEachLineTaggedAndTheDeadOneIsItsOwnError() throws {
        let model = dir.path("motion.thud")
        try ModelFile.random(architecture: .motionEnergyDefault, seed: 5).write(to: model)
        let a = FreePort.pick(udp: true), b = FreePort.pick(udp: true), dead = FreePort.pick(udp: true)
        try "# two cameras from a file\nyard=udp://127.0.0.1:\(b)\n\n".write(toFile: dir.path("feeds.txt"), atomically: true, encoding: .utf8)
        let thud = try RunningProcess.thud(["watch", "--model", model, "--timeout", "3", "--feeds", dir.path("feeds.txt"),
                                            "door=udp://127.0.0.1:\(a)", "gone=udp://127.0.0.1:\(dead)"])
        let senders = [try StreamSender.udp(port: a, seconds: 4), try StreamSender.udp(port: b, seconds: 4)]
        senders.forEach { $0.waitForExit() }
        let end = thud.waitForExit(timeout: 120)
        XCTAssertFalse(end.timedOut || end.signaled, thud.stderrText)
        // Every feed ends in error here (door and yard: silent after their senders stop, 33; gone: 32): the first's code.
        XCTAssertEqual(end.status, 33, thud.stderrText)
        var times: [String: [Double]] = [:]
        for line in thud.lines {
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertTrue(line.hasPrefix("{\"feed\": "), "the feed comes first: \(line)")
            times[o["feed"] as! String, default: []].append(o["t"] as! Double)
        }
        XCTAssertEqual(Set(times.keys), ["door", "yard"])
        for (feed, t) in times {
            XCTAssertGreaterThanOrEqual(t.count, 24, "\(feed): most of 4 s, not held up by the dead feed")
            for (k, time) in t.enumerated() { XCTAssertEqual(time, Double(k) / 12, accuracy: 1e-5, "\(feed) step \(k)") }
        }
        let err = thud.stderrText
        XCTAssertTrue(err.contains("thud: gone (udp://127.0.0.1:\(dead)): nothing within 3.0 s (--timeout)"), "each message names its feed: " + err)
        for feed in ["door", "yard", "gone"] { XCTAssertTrue(err.contains("thud: \(feed): "), "a figures line per feed: " + err) }
        XCTAssertTrue(err.contains("thud: door: ") && err.contains("0 dropped"), err)

        let bad = try Executable.run("thud", ["watch", "--model", model, "not-a-url"])
        XCTAssertEqual(bad.status, 64, bad.stderrText)
        XCTAssertEqual(bad.stderrText, "thud: not-a-url is not NAME=URL or a network URL (rtsp://, udp://, http://…)\n")
    }
}
