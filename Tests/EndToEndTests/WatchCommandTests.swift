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

    /// A feeds file written on Windows (CRLF) or an old Mac (CR) runs every feed it names (before: CRLF ran one feed,
    /// the second swallowed into the first's URL); one that names none (empty, /dev/null, comments only) says so.
    func testAFeedsFileWithCRLFOrCRLineEndsRunsEveryFeedAndAnEmptyOneSaysItNamesNone() throws {
        let model = dir.path("motion.thud")
        try ModelFile.random(architecture: .motionEnergyDefault, seed: 5).write(to: model)
        for (label, end) in [("crlf", "\r\n"), ("cr", "\r")] {
            let file = dir.path("feeds-\(label).txt")
            let a = FreePort.pick(udp: true), b = FreePort.pick(udp: true)
            try "# two cameras\(end)a=udp://127.0.0.1:\(a)\(end)\(end)b=udp://127.0.0.1:\(b)\(end)".write(toFile: file, atomically: true, encoding: .utf8)
            let r = try Executable.run("thud", ["watch", "--model", model, "--timeout", "1", "--feeds", file], timeout: 120)
            XCTAssertEqual(r.status, 32, label + ": " + r.stderrText)
            XCTAssertTrue(r.stderrText.contains("thud: watching 2 feeds (a, b), "), label + ": " + r.stderrText)
            XCTAssertTrue(r.stderrText.contains("thud: a (udp://127.0.0.1:\(a)): nothing within 1.0 s (--timeout)"), label + ": " + r.stderrText)
        }
        try "# nothing yet\r\n\r\n".write(toFile: dir.path("comments.txt"), atomically: true, encoding: .utf8)
        for file in ["/dev/null", dir.path("comments.txt")] {
            let r = try Executable.run("thud", ["watch", "--model", model, "--feeds", file])
            XCTAssertEqual(r.status, 64, r.stderrText)
            XCTAssertEqual(r.stderrText, "thud: \(file): names no feeds\n")
        }
    }

    /// A feed name with control characters (an escape sequence, a newline) is written on stderr as stdout's JSON
    /// writes it, in every message that names it (before: raw, so it could rewrite the terminal or split a line).
    func testControlCharactersInFeedNamesAreEscapedOnStderr() throws {
        let model = dir.path("motion.thud")
        try ModelFile.random(architecture: .motionEnergyDefault, seed: 5).write(to: model)
        let port = FreePort.pick(udp: true)
        let r = try Executable.run("thud", ["watch", "--model", model, "--timeout", "1", "a\u{1b}[31mb\nc\u{7f}=udp://127.0.0.1:\(port)"], timeout: 120)
        XCTAssertEqual(r.status, 32, r.stderrText)
        let err = r.stderrText
        XCTAssertFalse(err.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7f }, err)
        let shown = #""a\u001b[31mb\u000ac\u007f""#
        XCTAssertTrue(err.contains("thud: watching 1 feed (\(shown)), "), err)
        XCTAssertTrue(err.contains("thud: \(shown) (udp://127.0.0.1:\(port)): nothing within 1.0 s (--timeout)"), err)
        XCTAssertTrue(err.contains("thud: \(shown): 0 steps"), err)
        XCTAssertEqual(err.split(separator: "\n").count, 3, err)
        // A feed argument that is not one is quoted the same way.
        let bad = try Executable.run("thud", ["watch", "--model", model, "x\u{1b}y"])
        XCTAssertEqual(bad.status, 64, bad.stderrText)
        XCTAssertEqual(bad.stderrText, #"thud: "x\u001by" is not NAME=URL or a network URL (rtsp://, udp://, http://…)"# + "\n")
    }
}
