import XCTest
import ThudBase
import ThudModel
import ThudTestSupport

/// Issue 38 point 3: `--model M --reload` swaps a model whose file changed in between two steps of a live input,
/// refuses a bad file with one line (the running model stays), and skips no step either way.
final class ModelReloadTests: XCTestCase {
    let dir = TemporaryDirectory("reload")

    /// The steps' times of the step lines (not events), in order.
    private func stepTimes(_ lines: [String]) -> [Double] {
        lines.compactMap { line -> Double? in
            guard !line.contains("\"event\""), let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return obj["t"] as? Double
        }
    }

    func testAChangedModelSwapsInBetweenStepsAndABadOneIsRefused() throws {
        let model = dir.path("m.thud")
        try ModelFile.random(architecture: .default, seed: 1).write(to: model)
        let port = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", model, "--reload", "--timeout", "10", "udp://127.0.0.1:\(port)"])
        defer { thud.kill9() }
        let sender = try StreamSender.udp(port: port, seconds: 120)
        defer { sender.kill9() }
        XCTAssertTrue(thud.waitForLines(24, timeout: 120), thud.stderrText)
        // A file that does not load (written whole, then renamed into place as a learner would): refused, one line.
        let bad = dir.path(".m.tmp")
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: bad))
        XCTAssertEqual(rename(bad, model), 0)
        let refusedBy = Date().addingTimeInterval(60)
        while !thud.stderrText.contains("keeping the running model"), Date() < refusedBy { usleep(100_000) }
        XCTAssertEqual(thud.stderrText.split(separator: "\n").filter { $0.contains("keeping the running model") }.count, 1, thud.stderrText)
        XCTAssertTrue(thud.stderrText.contains("model file \(model): not a Thud model"), thud.stderrText)
        // Another model, renamed into place: it swaps in.
        let linesBefore = thud.lines.count
        try ModelFile.random(architecture: .default, seed: 2).write(to: model)
        XCTAssertTrue(thud.waitForLines(1, matching: { $0.contains("\"event\": \"model\"") }, timeout: 60), thud.stderrText)
        XCTAssertTrue(thud.waitForLines(linesBefore + 36, timeout: 120), "steps go on after the swap: \(thud.stderrText)")
        thud.terminate()
        let end = thud.waitForExit()
        XCTAssertEqual(end.status, 0, thud.stderrText)
        let events = thud.lines.filter { $0.contains("\"event\": \"model\"") }
        XCTAssertEqual(events.count, 1, "one swap: \(events)")
        let event = try JSONSerialization.jsonObject(with: Data(events[0].utf8)) as! [String: Any]
        XCTAssertEqual(event["file"] as? String, model)
        XCTAssertTrue(event["learned_s"] is NSNull)
        XCTAssertNotNil(event["t"] as? Double)
        XCTAssertEqual(thud.stderrText.split(separator: "\n").filter { $0.contains("model \(model) loaded") && $0.contains("zero state") }.count, 1, thud.stderrText)
        // No step skipped or repeated across the swap and the refusal: one step every twelfth of a second.
        let times = stepTimes(thud.lines)
        XCTAssertGreaterThan(times.count, linesBefore + 30)
        for (a, b) in zip(times, times.dropFirst()) { XCTAssertEqual(b - a, 1.0 / 12, accuracy: 1e-5, "steps \(a) → \(b)") }
    }

    func testReloadIsForLiveInputs() throws {
        let clip = dir.path("c.mp4")
        try FrameCounterClip.write(path: clip, times: FrameCounterClip.times(fpsNumerator: 25, seconds: 1), nominalFrameRate: 25)
        let model = dir.path("f.thud")
        try ModelFile.random(architecture: .default, seed: 1).write(to: model)
        let r = try Executable.run("thud", ["predict", "--model", model, "--reload", clip])
        XCTAssertEqual(r.status, 64, r.stderrText)
        XCTAssertEqual(r.stderrText, "thud: --reload is for live inputs (a camera, a network stream), not a file\n")
        XCTAssertTrue(r.stdout.isEmpty)
    }

    func testEveryFeedOfAWatchSwapsToTheNewModel() throws {
        let model = dir.path("w.thud")
        try ModelFile.random(architecture: .default, seed: 3).write(to: model)
        let ports = [FreePort.pick(udp: true), FreePort.pick(udp: true)]
        let thud = try RunningProcess.thud(["watch", "--model", model, "--reload", "--timeout", "10",
                                            "a=udp://127.0.0.1:\(ports[0])", "b=udp://127.0.0.1:\(ports[1])"])
        defer { thud.kill9() }
        let senders = try ports.map { try StreamSender.udp(port: $0, seconds: 120) }
        defer { senders.forEach { $0.kill9() } }
        XCTAssertTrue(thud.waitForLines(48, timeout: 120), thud.stderrText)
        try ModelFile.random(architecture: .default, seed: 4).write(to: model)
        let isEvent = { (line: String) in line.contains("\"event\": \"model\"") }
        XCTAssertTrue(thud.waitForLines(2, matching: isEvent, timeout: 60), thud.stderrText)
        thud.terminate()
        XCTAssertEqual(thud.waitForExit().status, 0, thud.stderrText)
        let feeds = Set(thud.lines.filter(isEvent).compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["feed"] as? String })
        XCTAssertEqual(feeds, ["a", "b"], "each feed swaps on its own thread: \(thud.lines.filter(isEvent))")
    }
}
