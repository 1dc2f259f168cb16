import XCTest
import ThudMedia
import ThudModel
import ThudTestSupport

/// `--mqtt`: hits as MQTT messages on a real mosquitto broker started on 127.0.0.1, read with mosquitto_sub.
final class MQTTTests: XCTestCase {
    let dir = TemporaryDirectory("mqtt")

    func broker(port: Int) throws -> RunningProcess {
        let b = try RunningProcess("mosquitto", ["-p", "\(port)"])
        XCTAssertTrue(FreePort.waitUntilListening(port), "mosquitto (tools/setup.sh installs it) did not start: " + b.stderrText)
        return b
    }

    func subscriber(port: Int, topic: String) throws -> RunningProcess {
        let s = try RunningProcess("mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-v", "-q", "1"])
        usleep(300_000)
        return s
    }

    /// One message per hit (feed, t, strength), the same hits as the JSON lines; the feed's retained status.
    func testEachHitIsOneMessageAndTheStatusIsRetained() throws {
        let port = FreePort.pick()
        let b = try broker(port: port)
        defer { b.kill9() }
        // The bundled model hears the flashes of a clip that lights up for 0.15 s every second.
        let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/default.thud").path
        let clip = dir.path("clip.mp4")
        try StreamSender.writeClip(clip, seconds: 6, extra: ["-vf", "eq=brightness='if(lt(mod(t,1),0.15),0.6,0)':eval=frame"])
        let sub = try subscriber(port: port, topic: "site/#")
        defer { sub.kill9() }
        let r = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "127.0.0.1:\(port)/site", clip], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderrText)
        let hits = r.lines.filter { $0.contains("\"hit\": true") }
        XCTAssertGreaterThan(hits.count, 0, "flashes are hits to the bundled model")
        let level = clip.replacingOccurrences(of: "/", with: "_")
        XCTAssertTrue(sub.waitForLines(hits.count, matching: { $0.hasPrefix("site/\(level)/hit ") }, timeout: 60), sub.stdoutText)
        XCTAssertTrue(sub.waitForLines(1, matching: { $0.contains("\"state\": \"ended\"") }, timeout: 60), sub.stdoutText)
        let messages = sub.lines.filter { $0.hasPrefix("site/\(level)/hit ") }.map { line in
            try! JSONSerialization.jsonObject(with: Data(line.split(separator: " ", maxSplits: 1)[1].utf8)) as! [String: Any]
        }
        XCTAssertEqual(messages.count, hits.count)
        for m in messages {
            XCTAssertEqual(m["feed"] as? String, clip)
            XCTAssertNotNil(m["t"] as? Double)
            XCTAssertNotNil(m["strength"] as? Double)
        }
        // A subscriber arriving later still gets the feed's last status: retained.
        let late = try RunningProcess("mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(port)", "-t", "site/\(level)/status", "-C", "1", "-W", "30"])
        XCTAssertEqual(late.waitForExit(timeout: 60).status, 0, late.stderrText)
        XCTAssertTrue(late.stdoutText.contains("\"state\": \"ended\""), late.stdoutText)
    }

    /// The broker goes away mid-stream and comes back: the lines never stop, one line says so, and the restarted
    /// broker gets the feed's status again.
    func testABrokerRestartLosesNoPredictions() throws {
        let port = FreePort.pick(), udp = FreePort.pick(udp: true)
        var b = try broker(port: port)
        let model = dir.path("motion.thud")
        try ModelFile.random(architecture: .motionEnergyDefault, seed: 5).write(to: model)
        let thud = try RunningProcess.thud(["predict", "--model", model, "--timeout", "5", "--mqtt", "127.0.0.1:\(port)/site", "udp://127.0.0.1:\(udp)"])
        let sender = try StreamSender.udp(port: udp, seconds: 120)
        defer { sender.kill9(); thud.kill9() }
        XCTAssertTrue(thud.waitForLines(12, timeout: 120), thud.stderrText)
        b.kill9()
        let during = thud.lines.count
        XCTAssertTrue(thud.waitForLines(during + 24, timeout: 120), "predictions go on without the broker: " + thud.stderrText)
        b = try broker(port: port)
        defer { b.kill9() }
        // After the reconnection the retained status is on the new broker.
        var found = false
        for _ in 0..<60 where !found {
            let s = try RunningProcess("mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(port)", "-t", "site/+/status", "-C", "1", "-W", "2"])
            s.waitForExit(timeout: 60)
            found = s.stdoutText.contains("\"state\": \"streaming\"")
        }
        XCTAssertTrue(found, "status republished after the broker came back: " + thud.stderrText)
        let after = thud.lines.count
        XCTAssertTrue(thud.waitForLines(after + 12, timeout: 120), thud.stderrText)
        thud.terminate()
        XCTAssertEqual(thud.waitForExit().status, 0, thud.stderrText)
        XCTAssertTrue(thud.stderrText.contains("lost the broker; reconnecting (the predictions go on)"), thud.stderrText)
        XCTAssertTrue(thud.stderrText.contains("connected again"), thud.stderrText)
    }
}
