import Foundation
import XCTest
import ThudTestSupport

/// `--http` (issue 39): the page as a person meets it in headless Chromium against two real UDP feeds (the bundled
/// sample clip and a flashing picture), its events list with snapshots, /metrics as Prometheus text, the token rule,
/// and clients that never read while the feeds go on.
final class WebPageTests: XCTestCase {
    let dir = TemporaryDirectory("web")

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let model = WebPageTests.root.appendingPathComponent("models/default.thud").path
    let sample = WebPageTests.root.appendingPathComponent("models/sample.mp4").path

    /// models/sample.mp4 over UDP MPEG-TS in real time, looped (its packets copied).
    func sampleStream(port: Int, seconds: Double) throws -> RunningProcess {
        try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", sample, "-t", "\(seconds)",
                                      "-c", "copy", "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"])
    }

    /// A picture that flashes for 0.15 s every second (hits to the bundled model), over UDP.
    func flashingStream(port: Int, seconds: Double) throws -> RunningProcess {
        try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
                                      "-vf", "eq=brightness='if(lt(mod(t,1),0.15),0.6,0)':eval=frame",
                                      "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
                                      "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"])
    }

    /// /api/feeds parsed, by name.
    func feeds(_ base: String) -> [String: [String: Any]] {
        guard let reply = try? HTTP.get(base + "api/feeds"), reply.status == 200,
              let list = try? JSONSerialization.jsonObject(with: reply.body) as? [[String: Any]] else { return [:] }
        return Dictionary(uniqueKeysWithValues: list.map { ($0["name"] as! String, $0) })
    }

    func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end { if condition() { return true }; Thread.sleep(forTimeInterval: 0.25) }
        return condition()
    }

    /// Checks Prometheus's text format line by line (HELP, TYPE, samples with labels and a number) and returns the
    /// samples by their name with labels.
    func parsePrometheus(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [String: Double] {
        var samples: [String: Double] = [:]
        let sample = try! NSRegularExpression(pattern: #"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)$"#)
        for l in text.split(separator: "\n").map(String.init) where !l.isEmpty {
            if l.hasPrefix("# HELP ") || l.hasPrefix("# TYPE ") {
                if l.hasPrefix("# TYPE ") {
                    XCTAssertTrue(["counter", "gauge", "histogram", "summary", "untyped"].contains(l.split(separator: " ").last.map(String.init) ?? ""), l, file: file, line: line)
                }
                continue
            }
            guard let m = sample.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)) else { XCTFail("not Prometheus text: \(l)", file: file, line: line); continue }
            let valueText = String(l[Range(m.range(at: 5), in: l)!])
            guard let value = valueText == "+Inf" ? Double.infinity : Double(valueText) else { XCTFail("not a number: \(l)", file: file, line: line); continue }
            samples[String(l[..<l.lastIndex(of: " ")!])] = value
        }
        return samples
    }

    /// (5) Two real feeds in headless Chromium: both cards streaming in the DOM, their pictures in the screenshot, the
    /// strips moving between two screenshots, hits drawn red; the events list holds the sample clip's hits with their
    /// snapshots; /api/feeds, /api/events and /metrics say the same.
    func testTwoFeedsInABrowserWithTheirHitsSnapshotsAndMetrics() throws {
        XCTAssertNotNil(Browser.path, "chromium is not installed (tools/setup.sh installs it)")
        let port = FreePort.pick()
        let (pa, pb) = (FreePort.pick(udp: true), FreePort.pick(udp: true))
        let db = dir.path("events.db")
        let thud = try RunningProcess.thud(["watch", "--model", model, "--timeout", "20", "--http", "\(port)", "--events", db,
                                            "sample=udp://127.0.0.1:\(pa)", "flashes=udp://127.0.0.1:\(pb)"])
        let senders = [try sampleStream(port: pa, seconds: 240), try flashingStream(port: pb, seconds: 240)]
        defer { senders.forEach { $0.kill9() }; thud.kill9() }
        let base = "http://127.0.0.1:\(port)/"
        XCTAssertTrue(FreePort.waitUntilListening(port), thud.stderrText)
        XCTAssertTrue(thud.stderrText.contains("thud: the page is at \(base) (2 feeds)"), thud.stderrText)
        let streaming = waitUntil(120) {
            let f = feeds(base)
            return ["sample", "flashes"].allSatisfy { (f[$0]?["state"] as? String) == "streaming" && ((f[$0]?["hits"] as? Int) ?? 0) >= 2 }
        }
        XCTAssertTrue(streaming, "both feeds stream and have hits: \(feeds(base)) " + thud.stderrText)

        // The page open for real seconds (its live stream, pictures and events list running), screenshot twice.
        let page = try BrowserPage(base)
        Thread.sleep(forTimeInterval: 4)
        let shots = dir.path("page.png")
        let first = try page.screenshot(keep: shots)
        Thread.sleep(forTimeInterval: 2)
        let second = try page.screenshot()
        let dom = try page.dom()

        // The DOM lists both feeds, streaming, each with pictures come through the live stream (JPEGs inside it).
        for name in ["sample", "flashes"] {
            XCTAssertNotNil(dom.range(of: #"<div class="feed( flash)?" data-feed="\#(name)" id="feed-\#(name)"[^>]*data-state="streaming""#, options: .regularExpression), dom)
            XCTAssertNotNil(dom.range(of: #"data-feed="\#(name)"[^>]*data-picture-serial="[1-9][0-9]*""#, options: .regularExpression), "feed \(name)'s picture came: " + dom)
        }
        // The pictures: gray (the model's view), two of 144x144 on the page; nothing else on it is gray.
        for shot in [first, second] {
            let gray = shot.count { r, g, b in abs(r - g) <= 3 && abs(g - b) <= 3 && r > 20 && r < 225 }
            XCTAssertGreaterThan(gray, 20_000, "both pictures are on the page (\(gray) gray pixels); screenshot: \(shots)")
            let red = shot.count { r, g, b in r > 225 && (35...85).contains(g) && (25...75).contains(b) }
            XCTAssertGreaterThan(red, 200, "hits flash red on the strips (\(red) red pixels)")
        }
        // The strips move: their line is elsewhere two seconds later.
        var moved = 0
        for y in 0..<first.height { for x in 0..<first.width {
            func line(_ p: (r: Int, g: Int, b: Int)) -> Bool { abs(p.r - 79) < 30 && abs(p.g - 195) < 30 && abs(p.b - 247) < 30 }
            if line(first.pixel(x, y)) != line(second.pixel(x, y)) { moved += 1 }
        } }
        XCTAssertGreaterThan(moved, 300, "the envelope strips moved between the screenshots")

        // The events list shows the sample clip's hits with their snapshots, and each snapshot is a JPEG.
        let snapshot = try NSRegularExpression(pattern: #"<tr class="event" data-feed="sample"><td><img alt="snapshot" src="/api/events/(\d+)/snapshot.jpg">"#)
        let rows = snapshot.matches(in: dom, range: NSRange(dom.startIndex..., in: dom))
        XCTAssertGreaterThan(rows.count, 1, "the events list shows the sample's hits with snapshots: " + dom)
        if let row = rows.first {
            let id = String(dom[Range(row.range(at: 1), in: dom)!])
            let jpeg = try HTTP.get(base + "api/events/\(id)/snapshot.jpg")
            XCTAssertEqual(jpeg.status, 200)
            XCTAssertEqual(jpeg.headers["content-type"], "image/jpeg")
            XCTAssertEqual(Array(jpeg.body.prefix(2)), [0xFF, 0xD8])
        }
        let events = try XCTUnwrap(try JSONSerialization.jsonObject(with: HTTP.get(base + "api/events?feed=sample&limit=5").body) as? [[String: Any]])
        XCTAssertFalse(events.isEmpty)
        XCTAssertTrue(events.allSatisfy { $0["feed"] as? String == "sample" && ($0["snapshot_bytes"] as? Int ?? 0) > 0 }, "\(events)")

        // A feed's latest picture for a script (the page gets them inside its live stream).
        let picture = try HTTP.get(base + "api/feeds/sample/picture.jpg")
        XCTAssertEqual(picture.status, 200)
        XCTAssertEqual(Array(picture.body.prefix(2)), [0xFF, 0xD8])
        XCTAssertEqual(try HTTP.get(base + "api/feeds/nobody/picture.jpg").status, 404)

        // /metrics: Prometheus text, counting what the page shows.
        let metrics = try HTTP.get(base + "metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") ?? false, "\(metrics.headers)")
        let samples = parsePrometheus(metrics.text)
        for name in ["sample", "flashes"] {
            XCTAssertGreaterThan(samples["thud_steps_total{feed=\"\(name)\"}"] ?? 0, 60, metrics.text)
            XCTAssertGreaterThanOrEqual(samples["thud_hits_total{feed=\"\(name)\"}"] ?? 0, 2, metrics.text)
            XCTAssertEqual(samples["thud_dropped_steps_total{feed=\"\(name)\"}"], 0, metrics.text)
            XCTAssertNotNil(samples["thud_reconnects_total{feed=\"\(name)\"}"], metrics.text)
            let buckets = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.15", "0.25", "0.5", "1.0", "2.5", "+Inf"].map {
                samples["thud_step_latency_seconds_bucket{feed=\"\(name)\",le=\"\($0)\"}"] ?? -1
            }
            XCTAssertEqual(buckets, buckets.sorted(), "cumulative buckets: \(buckets)")
            XCTAssertEqual(buckets.last, samples["thud_step_latency_seconds_count{feed=\"\(name)\"}"], metrics.text)
        }
        thud.terminate()
        XCTAssertEqual(thud.waitForExit(timeout: 60).status, 0, thud.stderrText)
        XCTAssertEqual(thud.lines.filter { !$0.hasPrefix("{\"feed\": ") }, [], "stdout holds the feeds' lines only")
    }

    /// (4) Off loopback a token is needed, and then every request needs it (query once, then the cookie; or a
    /// bearer header); a token file works the same.
    func testAnAddressOffLoopbackNeedsTheTokenAndEveryRequestCarriesIt() throws {
        let refused = try Executable.run("thud", ["predict", "udp://127.0.0.1:9", "--http", "0.0.0.0:8099"], timeout: 60)
        XCTAssertEqual(refused.status, 64, refused.stderrText)
        XCTAssertEqual(refused.stdoutText, "")
        XCTAssertTrue(refused.stderrText.contains("--http 0.0.0.0:8099 is reachable from other machines: give --http-token or --http-token-file"), refused.stderrText)

        let token = "k3y-\(UUID().uuidString.prefix(18))"
        let tokenFile = dir.path("token")
        try (token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let port = FreePort.pick(), feedPort = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", model, "--timeout", "20", "udp://127.0.0.1:\(feedPort)",
                                            "--http", "0.0.0.0:\(port)", "--http-token-file", tokenFile])
        let sender = try flashingStream(port: feedPort, seconds: 120)
        defer { sender.kill9(); thud.kill9() }
        XCTAssertTrue(FreePort.waitUntilListening(port), thud.stderrText)
        let base = "http://127.0.0.1:\(port)/"
        for path in ["", "api/feeds", "api/stream", "metrics", "api/feeds/x/picture.jpg"] {
            XCTAssertEqual(try HTTP.get(base + path).status, 401, "/\(path) without the token")
            XCTAssertEqual(try HTTP.get(base + path, headers: ["Authorization": "Bearer wrong-\(token)"]).status, 401)
        }
        let first = try HTTP.get(base + "?token=\(token)")
        XCTAssertEqual(first.status, 200)
        XCTAssertTrue(first.text.contains("<title>thud</title>"))
        let cookie = try XCTUnwrap(first.headers["set-cookie"]?.split(separator: ";").first.map(String.init))
        XCTAssertEqual(cookie, "thud_token=\(token)")
        XCTAssertEqual(try HTTP.get(base + "api/feeds", headers: ["Cookie": cookie]).status, 200, "the page's own requests carry the cookie")
        XCTAssertEqual(try HTTP.get(base + "metrics", headers: ["Authorization": "Bearer \(token)"]).status, 200)
        XCTAssertTrue(thud.stderrText.contains("thud: the page is at http://localhost:\(port)/?token=… (1 feed)"), thud.stderrText)
        XCTAssertFalse(thud.stderrText.contains(token), "the token is never printed")
        // A port already taken is one line and 74, before any feed is opened.
        let second = try Executable.run("thud", ["watch", "--timeout", "5", "cam=udp://127.0.0.1:\(FreePort.pick(udp: true))", "--http", "\(port)"], timeout: 60)
        XCTAssertEqual(second.status, 74, second.stderrText)
        XCTAssertEqual(second.stderrText, "thud: --http 127.0.0.1:\(port): cannot listen: Address already in use\n")
        XCTAssertEqual(second.stdoutText, "")
    }

    /// (4) Clients that open the live stream and never read: the feed's steps all come, none skipped, and thud ends
    /// on time; one stream more than --http-max-clients is refused.
    func testClientsThatNeverReadDoNotSlowTheFeed() throws {
        let port = FreePort.pick(), feedPort = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["watch", "--model", model, "--timeout", "20", "--steps", "240", "--http", "\(port)",
                                            "--http-max-clients", "4", "--http-client-queue", "4", "cam=udp://127.0.0.1:\(feedPort)"])
        let sender = try flashingStream(port: feedPort, seconds: 120)
        defer { sender.kill9(); thud.kill9() }
        XCTAssertTrue(FreePort.waitUntilListening(port), thud.stderrText)
        // Four streams opened with a tiny receive window and never read.
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        for _ in 0..<4 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var small: Int32 = 1024
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            XCTAssertEqual(connected, 0)
            let request = "GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            XCTAssertEqual(request.withCString { send(fd, $0, strlen($0), 0) }, request.utf8.count)
            sockets.append(fd)
        }
        XCTAssertTrue(waitUntil(60) { (try? HTTP.get("http://127.0.0.1:\(port)/metrics").text.contains("thud_web_clients 4")) ?? false })
        XCTAssertEqual(try HTTP.get("http://127.0.0.1:\(port)/api/stream").status, 503, "a fifth stream is refused")
        let end = thud.waitForExit(timeout: 180)
        XCTAssertEqual(end.status, 0, thud.stderrText)
        XCTAssertEqual(thud.lines.filter { $0.hasPrefix("{\"feed\": \"cam\", \"t\"") }.count, 240, thud.stderrText)
        XCTAssertTrue(thud.stderrText.contains("thud: cam: 240 steps, 0 dropped"), thud.stderrText)
    }
}
