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
        // The feed is the clip's path: its /s percent-escaped in the topic level.
        let level = clip.replacingOccurrences(of: "/", with: "%2F")
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
        // The end line: online, streaming, the hits, ended, offline, all acknowledged.
        XCTAssertTrue(r.stderrText.hasSuffix("thud: mqtt: 127.0.0.1:\(port): \(hits.count + 4) messages delivered\n"), r.stderrText)
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

/// Issue 36's MQTT losses: each case as a user meets it, against real mosquitto brokers (127.0.0.1, ::1, one that
/// asks for a password) or none at all.
final class MQTTLossTests: XCTestCase {
    let dir = TemporaryDirectory("mqtt-loss")

    /// A 2 s clip and a weight-free model: a quick predict whose messages are the statuses and its few hits.
    func quickInput() throws -> (clip: String, model: String) {
        let model = dir.path("motion.thud"), clip = dir.path("clip.mp4")
        if !FileManager.default.fileExists(atPath: clip) {
            try ModelFile.random(architecture: .motionEnergyDefault, seed: 5).write(to: model)
            try StreamSender.writeClip(clip, seconds: 2)
        }
        return (clip, model)
    }

    /// mosquitto with `config` (its listener lines and options), once something accepts connections on `port`
    /// (mosquitto_pub gets through: it also tries ::1).
    func broker(port: Int, host: String = "127.0.0.1", config: String, auth: [String] = []) throws -> RunningProcess {
        let file = dir.path("mosquitto-\(port).conf")
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        let b = try RunningProcess("mosquitto", ["-c", file])
        for _ in 0..<200 {
            let p = try RunningProcess("mosquitto_pub", ["-h", host, "-p", "\(port)", "-t", "probe", "-m", "x"] + auth)
            if p.waitForExit(timeout: 10).status == 0 { return b }
            usleep(50_000)
        }
        XCTFail("mosquitto did not start: " + b.stderrText)
        return b
    }

    /// The statuses retained under `topic` once the run is over, as "topic payload" lines (a late subscriber).
    func retained(port: Int, host: String = "127.0.0.1", _ topic: String, count: Int, auth: [String] = []) throws -> [String] {
        let s = try RunningProcess("mosquitto_sub", ["-h", host, "-p", "\(port)", "-t", topic, "-v", "-C", "\(count)", "-W", "20"] + auth)
        s.waitForExit(timeout: 60)
        return s.lines
    }

    /// The run's last stderr line: the MQTT one, "mqtt: HOST:PORT: …".
    func endLine(_ stderr: String) -> String { stderr.split(separator: "\n").last.map(String.init) ?? "" }

    /// Nobody at the broker's address: every line is still written (exit 0), and the run ends saying, in one line,
    /// how many messages never reached a broker (before: nothing said so).
    func testAnUnreachableBrokerEndsWithTheCountOfUndeliveredMessages() throws {
        let (clip, model) = try quickInput()
        let port = FreePort.pick()
        let r = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "127.0.0.1:\(port)/site", clip], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(r.lines.count, 24)
        let hits = r.lines.filter { $0.contains("\"hit\": true") }.count
        // online, streaming, ended, offline and one per hit.
        XCTAssertEqual(endLine(r.stderrText),
                       "thud: warning: mqtt: 127.0.0.1:\(port): \(hits + 4) of \(hits + 4) messages not delivered (never connected to the broker)",
                       r.stderrText)
    }

    /// A topic that MQTT's 65,535-byte limit cannot hold (with /FEED/status) is refused at the start, one line, 64
    /// (before: exit 0 and nothing delivered); so is a feed name that takes its topics over.
    func testATopicBeyondMQTTsLimitIsRefusedAtTheStart() throws {
        let (clip, model) = try quickInput()
        let long = String(repeating: "t", count: 65_530)
        let r = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "127.0.0.1:1883/\(long)", clip], timeout: 120)
        XCTAssertEqual(r.status, 64, r.stderrText.prefix(300) + "")
        XCTAssertEqual(r.lines.count, 0)
        XCTAssertEqual(r.stderrText.filter { $0 == "\n" }.count, 1, r.stderrText.prefix(300) + "")
        XCTAssertTrue(r.stderrText.hasPrefix("thud: --mqtt 127.0.0.1:1883/tttt"), r.stderrText.prefix(300) + "")
        XCTAssertLessThan(r.stderrText.count, 300, "the line does not repeat the whole topic")

        let name = String(repeating: "n", count: 65_530)
        let w = try Executable.run("thud", ["watch", "--model", model, "--timeout", "1", "--mqtt", "127.0.0.1:1883/site",
                                            "\(name)=udp://127.0.0.1:\(FreePort.pick(udp: true))"], timeout: 120)
        XCTAssertEqual(w.status, 64, w.stderrText.prefix(300) + "")
        XCTAssertEqual(w.stderrText.filter { $0 == "\n" }.count, 1, w.stderrText.prefix(300) + "")
        XCTAssertTrue(w.stderrText.contains("past MQTT's limit of 65535"), w.stderrText.prefix(300) + "")
        XCTAssertLessThan(w.stderrText.count, 300)
    }

    /// Feeds named a+b, a#b, a_b and one with a newline: four feeds, four status topics, each retained with its own
    /// feed (before: a+b and a#b shared a_b's topics, and the newline's messages were refused by libmosquitto unsaid).
    func testFeedNamesWithWildcardsOrControlCharactersGetTopicsOfTheirOwn() throws {
        let (_, model) = try quickInput()
        let port = FreePort.pick()
        let b = try broker(port: port, config: "listener \(port) 127.0.0.1\nallow_anonymous true\n")
        defer { b.kill9() }
        let names = ["a+b", "a#b", "a_b", "a\nb"]
        let r = try Executable.run("thud", ["watch", "--model", model, "--timeout", "1", "--mqtt", "127.0.0.1:\(port)/site"]
                                   + names.map { "\($0)=udp://127.0.0.1:\(FreePort.pick(udp: true))" }, timeout: 120)
        XCTAssertEqual(r.status, 32, r.stderrText)
        XCTAssertTrue(endLine(r.stderrText).hasPrefix("thud: mqtt: 127.0.0.1:\(port): ") && endLine(r.stderrText).hasSuffix(" messages delivered"), r.stderrText)
        var feedOf: [String: String] = [:]
        for line in try retained(port: port, "site/+/status", count: 4) {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(parts[1].utf8)) as? [String: Any], line)
            XCTAssertEqual(o["state"] as? String, "ended", line)
            feedOf[parts[0]] = o["feed"] as? String
        }
        XCTAssertEqual(feedOf, ["site/a%2Bb/status": "a+b", "site/a%23b/status": "a#b", "site/a_b/status": "a_b", "site/a%0Ab/status": "a\nb"])
    }

    /// A broker that comes up after Thud has started is connected to and gets what was queued for it (before: a
    /// first connection that failed was never tried again, libmosquitto's thread waiting for it; every message lost).
    func testABrokerThatComesUpLaterGetsWhatWasQueued() throws {
        let (_, model) = try quickInput()
        let port = FreePort.pick(), udp = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", model, "--timeout", "5", "--mqtt", "127.0.0.1:\(port)/site", "udp://127.0.0.1:\(udp)"])
        let sender = try StreamSender.udp(port: udp, seconds: 120)
        defer { sender.kill9(); thud.kill9() }
        XCTAssertTrue(thud.waitForLines(12, timeout: 120), thud.stderrText)
        XCTAssertTrue(thud.stderrText.contains("thud: warning: mqtt: 127.0.0.1:\(port): cannot reach the broker"), thud.stderrText)
        let b = try broker(port: port, config: "listener \(port) 127.0.0.1\nallow_anonymous true\n")
        defer { b.kill9() }
        // Retried after 1, 2, 4, 8… s: the feed's status, queued before there was a broker, is retained on it.
        let status = try RunningProcess("mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(port)", "-t", "site/+/status", "-C", "1", "-W", "60"])
        status.waitForExit(timeout: 90)
        XCTAssertTrue(status.stdoutText.contains("\"state\": \"streaming\""), status.stdoutText + thud.stderrText)
        thud.terminate()
        XCTAssertEqual(thud.waitForExit().status, 0, thud.stderrText)
        XCTAssertTrue(endLine(thud.stderrText).hasPrefix("thud: mqtt: 127.0.0.1:\(port): ") && endLine(thud.stderrText).hasSuffix(" messages delivered"), thud.stderrText)
    }

    /// USER:PASSWORD@ in --mqtt: the broker that asks for them gets them (mosquitto_username_pw_set), and the password
    /// is in no message, whether the broker is there, refuses them, or is not there (before: the retry warning
    /// printed it).
    func testCredentialsReachTheBrokerAndThePasswordIsNeverPrinted() throws {
        let (clip, model) = try quickInput()
        let port = FreePort.pick()
        let passwords = dir.path("passwords")
        try "thud:s3cret-pw\n".write(toFile: passwords, atomically: true, encoding: .utf8)
        XCTAssertEqual(try RunningProcess("mosquitto_passwd", ["-U", passwords]).waitForExit().status, 0)
        let auth = ["-u", "thud", "-P", "s3cret-pw"]
        let b = try broker(port: port, config: "listener \(port) 127.0.0.1\nallow_anonymous false\npassword_file \(passwords)\n", auth: auth)
        defer { b.kill9() }

        let good = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "thud:s3cret-pw@127.0.0.1:\(port)/site", clip], timeout: 120)
        XCTAssertEqual(good.status, 0, good.stderrText)
        XCTAssertFalse(good.stderrText.contains("s3cret"), good.stderrText)
        XCTAssertTrue(endLine(good.stderrText).hasPrefix("thud: mqtt: 127.0.0.1:\(port): ") && endLine(good.stderrText).hasSuffix(" messages delivered"), good.stderrText)
        XCTAssertTrue(try retained(port: port, "site/+/status", count: 1, auth: auth).first?.contains("\"state\": \"ended\"") == true)

        let wrong = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "thud:wrong-pw@127.0.0.1:\(port)/site", clip], timeout: 120)
        XCTAssertEqual(wrong.status, 0, wrong.stderrText)
        XCTAssertFalse(wrong.stderrText.contains("wrong-pw"), wrong.stderrText)
        // The broker's refusal (CONNACK 5), or, when libmosquitto meets the closed socket before it reads that, the
        // failed first connection: one line, as it happens.
        XCTAssertTrue(wrong.stderrText.contains("thud: warning: mqtt: 127.0.0.1:\(port): the broker refused the connection: Connection Refused: not authorised; retrying")
                      || wrong.stderrText.contains("thud: warning: mqtt: 127.0.0.1:\(port): cannot reach the broker; retrying"), wrong.stderrText)
        XCTAssertTrue(endLine(wrong.stderrText).hasSuffix(" messages not delivered (never connected to the broker)"), wrong.stderrText)

        let away = FreePort.pick()
        let gone = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "thud:s3cret-pw@127.0.0.1:\(away)/site", clip], timeout: 120)
        XCTAssertEqual(gone.status, 0, gone.stderrText)
        XCTAssertFalse(gone.stderrText.contains("s3cret"), gone.stderrText)
        XCTAssertTrue(endLine(gone.stderrText).hasPrefix("thud: warning: mqtt: 127.0.0.1:\(away): "), gone.stderrText)

        // A malformed --mqtt is quoted with the password hidden, as network URLs are.
        let bad = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "thud:s3cret-pw@127.0.0.1:99999/site", clip])
        XCTAssertEqual(bad.status, 64, bad.stderrText)
        XCTAssertTrue(bad.stderrText.hasPrefix("thud: --mqtt thud:***@127.0.0.1:99999/site is not "), bad.stderrText)
    }

    /// `[::1]:PORT/TOPIC` reaches a broker listening on IPv6 loopback (before: accepted, then every connection
    /// failed); an unbracketed IPv6 address is refused at once.
    func testAnIPv6LiteralInBracketsReachesABrokerOnIPv6Loopback() throws {
        let (clip, model) = try quickInput()
        let port = FreePort.pick()
        let b = try broker(port: port, host: "::1", config: "listener \(port) ::1\nallow_anonymous true\n")
        defer { b.kill9() }
        let r = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "[::1]:\(port)/site", clip], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertTrue(endLine(r.stderrText).hasPrefix("thud: mqtt: [::1]:\(port): ") && endLine(r.stderrText).hasSuffix(" messages delivered"), r.stderrText)
        XCTAssertTrue(try retained(port: port, host: "::1", "site/+/status", count: 1).first?.contains("\"state\": \"ended\"") == true)

        let bare = try Executable.run("thud", ["predict", "--model", model, "--mqtt", "::1:\(port)/site", clip])
        XCTAssertEqual(bare.status, 64, bare.stderrText)
        XCTAssertEqual(bare.stderrText.filter { $0 == "\n" }.count, 1, bare.stderrText)
        XCTAssertTrue(bare.stderrText.contains("[::1]"), "the line shows how to write it: " + bare.stderrText)
    }
}
