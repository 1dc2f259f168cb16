import XCTest
import ThudMedia
import ThudModel
import ThudTestSupport

/// `thud predict` on real network streams made in the test: ffmpeg sending MPEG-TS over UDP, pushing RTSP (to thud
/// listening, and through a real RTSP server), serving HTTP (ffmpeg's listen mode; HLS and a progressive file from a
/// static server on 127.0.0.1); a sender killed and restarted mid-stream, one sending garbage, a URL nobody serves.
/// Timeouts here only guard against a hang.
final class NetworkStreamTests: XCTestCase {
    let dir = TemporaryDirectory("network")

    lazy var modelPath: String = {
        let path = dir.path("motion.thud")
        try! ModelFile.random(architecture: .motionEnergyDefault, seed: 7).write(to: path)
        return path
    }()

    struct Line {
        var object: [String: Any]
        var isGap: Bool { object["event"] as? String == "gap" }
        var t: Double { object["t"] as! Double }
    }

    func parse(_ lines: [String], file: StaticString = #filePath, line: UInt = #line) -> [Line] {
        lines.compactMap { text in
            guard let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                XCTFail("not a JSON line: \(text)", file: file, line: line)
                return nil
            }
            return Line(object: o)
        }
    }

    /// Steps come in order, one per twelfth of a second, never repeated; a gap line sits between the step before it
    /// (its `t` is that step's + 1/12) and the step after (at its `until`).
    func assertClock(_ lines: [Line], file: StaticString = #filePath, line: UInt = #line) {
        var previous: Double?
        var pendingGap: Line?
        for l in lines {
            if l.isGap {
                if let p = previous { XCTAssertEqual(l.t, p + 1.0 / 12, accuracy: 1e-5, "the gap starts after the last step", file: file, line: line) }
                XCTAssertGreaterThanOrEqual(l.object["until"] as! Double, l.t, file: file, line: line)
                pendingGap = l
                continue
            }
            if let g = pendingGap {
                XCTAssertEqual(l.t, g.object["until"] as! Double, accuracy: 1e-5, "the clock resumes where the gap ends", file: file, line: line)
                pendingGap = nil
            } else if let p = previous {
                XCTAssertEqual(l.t, p + 1.0 / 12, accuracy: 1e-5, "steps follow one another", file: file, line: line)
            }
            previous = l.t
        }
    }

    func testUDPMPEGTSStepsComeInOrderAndASilentStreamEndsAfterTheTimeout() throws {
        let port = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", modelPath, "--timeout", "3", "udp://127.0.0.1:\(port)"])
        let sender = try StreamSender.udp(port: port, seconds: 4)
        sender.waitForExit()
        let end = thud.waitForExit(timeout: 120)
        XCTAssertFalse(end.timedOut || end.signaled, thud.stderrText)
        XCTAssertEqual(end.status, 33, "a live stream without --reconnect ends when it goes silent: " + thud.stderrText)
        let lines = parse(thud.lines)
        XCTAssertGreaterThanOrEqual(lines.count, 24, "most of 4 s at 12 Hz")
        XCTAssertLessThanOrEqual(lines.count, 49)
        XCTAssertEqual(lines.first?.t, 0)
        assertClock(lines)
        let errors = thud.stderrText.split(separator: "\n")
        XCTAssertTrue(errors.contains { $0 == "thud: udp://127.0.0.1:\(port): no data for 3.0 s (--timeout)" }, thud.stderrText)
    }

    func testRTPMPEGTSAndSRT() throws {
        // RTP: MPEG-TS in RTP to a port thud listens on.
        let rtp = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", modelPath, "--timeout", "3", "rtp://127.0.0.1:\(rtp)"])
        usleep(500_000)
        let sender = try RunningProcess("ffmpeg", StreamSender.h264Input(seconds: 4) + ["-f", "rtp_mpegts", "rtp://127.0.0.1:\(rtp)"])
        sender.waitForExit()
        XCTAssertEqual(thud.waitForExit().status, 33, thud.stderrText)
        XCTAssertGreaterThanOrEqual(thud.lines.count, 24, thud.stderrText)
        assertClock(parse(thud.lines))

        // SRT: the sender listens, thud calls (and calls again until the listener is up).
        let srt = FreePort.pick(udp: true)
        let listener = try RunningProcess("ffmpeg", StreamSender.h264Input(seconds: 4) + ["-f", "mpegts", "srt://127.0.0.1:\(srt)?mode=listener"])
        defer { listener.kill9() }
        let caller = try Executable.run("thud", ["predict", "--model", modelPath, "--timeout", "3", "--reconnect", "--reconnect-max-delay", "0.5",
                                                 "--reconnect-give-up", "4", "srt://127.0.0.1:\(srt)"], timeout: 120)
        XCTAssertEqual(caller.status, 33, "the listener is gone for good after its 4 s: " + caller.stderrText)
        XCTAssertGreaterThanOrEqual(caller.lines.count, 24, caller.stderrText)
        assertClock(parse(caller.lines))
    }

    func testRTSPOverTCPAndUDPPushedToThudListening() throws {
        for transport in ["tcp", "udp"] {
            let port = FreePort.pick()
            let url = "rtsp://127.0.0.1:\(port)/live"
            let thud = try RunningProcess.thud(["predict", "--model", modelPath, "--timeout", "60", "--rtsp-transport", transport,
                                                "--input-option", "rtsp_flags=listen", url])
            // thud listens; the sender retries until it is up (a refused push is no test failure).
            var sender: RunningProcess?
            for _ in 0..<100 {
                let s = try StreamSender.rtspPush(url: url, transport: transport, seconds: 3)
                let r = s.waitForExit(timeout: 120)
                if r.status == 0 { sender = s; break }
                usleep(200_000)
            }
            XCTAssertNotNil(sender, "the RTSP push never got through")
            let end = thud.waitForExit(timeout: 120)
            XCTAssertEqual(end.status, 0, "\(transport): " + thud.stderrText)
            let lines = parse(thud.lines)
            XCTAssertGreaterThanOrEqual(lines.count, 24, transport)
            assertClock(lines)
        }
    }

    func testRTSPFromARealServer() throws {
        let clientPort = FreePort.pick(), sourcePort = FreePort.pick(), rtpPort = 20000 + Int.random(in: 0..<20000) / 2 * 2
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/feeds/rtsp_relay.pl").path
        let server = try RunningProcess("perl", [script, "\(clientPort)", "\(sourcePort)", "\(rtpPort)"])
        XCTAssertTrue(server.waitForLines(1, timeout: 60), "the RTSP server (Debian's librtsp-server-perl, tools/setup.sh) did not start: " + server.stderrText)
        let sender = try StreamSender.rtspPush(url: "rtsp://127.0.0.1:\(sourcePort)/cam", transport: "udp", seconds: 30)
        defer { sender.kill9(); server.kill9() }
        // The mount exists once the sender has announced it; until then the server answers 404: retry.
        let thud = try RunningProcess.thud(["predict", "--model", modelPath, "--timeout", "5", "--reconnect", "--reconnect-max-delay", "0.5",
                                            "rtsp://127.0.0.1:\(clientPort)/cam"])
        XCTAssertTrue(thud.waitForLines(24, timeout: 120), thud.stderrText)
        thud.terminate()
        let end = thud.waitForExit(timeout: 120)
        XCTAssertEqual(end.status, 0, "SIGTERM ends a stream cleanly: " + thud.stderrText)
        let lines = parse(thud.lines)
        XCTAssertGreaterThanOrEqual(lines.count, 24)
        assertClock(lines)
    }

    func testHTTPProgressiveHLSAndALiveHTTPStream() throws {
        try StreamSender.writeClip(dir.path("clip.mp4"), seconds: 4, extra: ["-movflags", "+faststart"])
        try FileManager.default.createDirectory(atPath: dir.path("hls"), withIntermediateDirectories: true)
        try StreamSender.writeClip(dir.path("hls/index.m3u8"), seconds: 4, extra: ["-f", "hls", "-hls_time", "1", "-hls_list_size", "0"])
        let server = try StaticHTTPServer(root: dir.url.path)
        for path in ["clip.mp4", "hls/index.m3u8"] {
            let r = try Executable.run("thud", ["predict", "--model", modelPath, "--timeout", "20", server.url(path)], timeout: 120)
            XCTAssertEqual(r.status, 0, path + ": " + r.stderrText)
            let lines = parse(r.lines)
            XCTAssertEqual(lines.count, 48, "\(path): 4 s at 12 Hz")
            assertClock(lines)
        }
        let missing = try Executable.run("thud", ["predict", "--model", modelPath, server.url("nothing.mp4")])
        XCTAssertEqual(missing.status, 32)
        XCTAssertEqual(missing.stderrText, "thud: \(server.url("nothing.mp4")): cannot connect (Server returned 404 Not Found)\n")
        XCTAssertTrue(missing.stdout.isEmpty)

        // ffmpeg serving one live MPEG-TS client: thud retries until it listens, SIGTERM ends it.
        let port = FreePort.pick()
        let sender = try StreamSender.httpServe(port: port, seconds: 30)
        defer { sender.kill9() }
        let thud = try RunningProcess.thud(["predict", "--model", modelPath, "--reconnect", "--reconnect-max-delay", "0.5", "http://127.0.0.1:\(port)/live.ts"])
        XCTAssertTrue(thud.waitForLines(24, timeout: 120), thud.stderrText)
        thud.terminate()
        XCTAssertEqual(thud.waitForExit().status, 0, thud.stderrText)
        assertClock(parse(thud.lines))
    }

    func testAnUnknownInputOptionIs64AnAbsurdPictureIs17AndLiveStopsAfterItsSteps() throws {
        try StreamSender.writeClip(dir.path("clip.ts"), seconds: 2, extra: ["-f", "mpegts"])
        try StreamSender.writeClip(dir.path("huge.ts"), seconds: 1, extra: ["-vf", "scale=8200:16", "-f", "mpegts"])
        let server = try StaticHTTPServer(root: dir.url.path)
        let option = try Executable.run("thud", ["predict", "--model", modelPath, "--input-option", "bogus_opt=1", server.url("clip.ts")])
        XCTAssertEqual(option.status, 64, option.stderrText)
        // An option no FFmpeg reader or protocol knows is refused before connecting (issue 36 point 9); one another
        // reader knows (RTSP's transport), once the stream's reader is known.
        XCTAssertEqual(option.stderrText, "thud: \(server.url("clip.ts")): option bogus_opt not known to any FFmpeg reader or protocol (--input-option)\n")
        XCTAssertTrue(option.stdout.isEmpty)
        let misplaced = try Executable.run("thud", ["predict", "--model", modelPath, "--input-option", "rtsp_transport=tcp", server.url("clip.ts")])
        XCTAssertEqual(misplaced.status, 64, misplaced.stderrText)
        XCTAssertEqual(misplaced.stderrText, "thud: \(server.url("clip.ts")): option rtsp_transport not known to the mpegts reader or its protocol\n")
        let huge = try Executable.run("thud", ["predict", "--model", modelPath, server.url("huge.ts")])
        XCTAssertEqual(huge.status, 17, huge.stderrText)
        XCTAssertEqual(huge.stderrText, "thud: \(server.url("huge.ts")): absurd picture size 8200x16 (Thud reads 2...8192 pixels a side)\n")
        let live = try Executable.run("thud", ["live", "--model", modelPath, "--steps", "12", server.url("clip.ts")])
        XCTAssertEqual(live.status, 0, live.stderrText)
        XCTAssertEqual(live.lines.count, 12, "thud live on a URL: predict's lines, --steps of them")
    }

    func testASenderKilledAndRestartedIsAGapThenTheClockGoesOn() throws {
        let port = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", modelPath, "--timeout", "2", "--reconnect", "--reconnect-max-delay", "1",
                                            "udp://127.0.0.1:\(port)"])
        let first = try StreamSender.udp(port: port, seconds: 120)
        XCTAssertTrue(thud.waitForLines(12, timeout: 120), thud.stderrText)
        first.kill9()
        // Restart once thud has noticed (its one line for the outage).
        let deadline = Date().addingTimeInterval(120)
        while !thud.stderrText.contains("reconnecting"), Date() < deadline { usleep(100_000) }
        let second = try StreamSender.udp(port: port, seconds: 120)
        defer { second.kill9() }
        XCTAssertTrue(thud.waitForLines(1, matching: { $0.contains("\"gap\"") }, timeout: 120), thud.stderrText)
        let before = thud.lines.count
        XCTAssertTrue(thud.waitForLines(before + 12, timeout: 120), thud.stderrText)
        thud.terminate()
        let end = thud.waitForExit()
        XCTAssertEqual(end.status, 0, thud.stderrText)
        XCTAssertFalse(end.signaled)
        let lines = parse(thud.lines)
        let gaps = lines.filter(\.isGap)
        XCTAssertEqual(gaps.count, 1, thud.stdoutText)
        if let gap = gaps.first {
            XCTAssertGreaterThan(gap.object["missing_steps"] as! Int, 0, "the outage lasted at least the 2 s timeout: no invented steps for it")
            XCTAssertEqual(gap.object["resumed_on"] as? String, "monotonic clock", "a restarted sender starts its timestamps afresh")
        }
        assertClock(lines)
        let outageLines = thud.stderrText.split(separator: "\n").filter { $0.contains("reconnecting") }
        XCTAssertEqual(outageLines.count, 1, "one line per outage: " + thud.stderrText)
    }

    /// A network that drops the stream for a while, the sender going on: the new connection's timestamps continue the
    /// old ones and place the steps after the gap (the gap is the stream's own time, not an estimate).
    func testAfterANetworkCutTheClockResumesOnTheStreamsTimestamps() throws {
        let port = FreePort.pick(udp: true)
        let relay = try UDPRelay(outPort: port)
        let thud = try RunningProcess.thud(["predict", "--model", modelPath, "--timeout", "2", "--reconnect", "--reconnect-max-delay", "0.5",
                                            "udp://127.0.0.1:\(port)"])
        let sender = try StreamSender.udp(port: relay.inPort, seconds: 120)
        defer { sender.kill9() }
        XCTAssertTrue(thud.waitForLines(12, timeout: 120), thud.stderrText)
        relay.cut = true
        let deadline = Date().addingTimeInterval(120)
        while !thud.stderrText.contains("reconnecting"), Date() < deadline { usleep(100_000) }
        usleep(1_000_000)
        relay.cut = false
        XCTAssertTrue(thud.waitForLines(1, matching: { $0.contains("\"gap\"") }, timeout: 120), thud.stderrText)
        XCTAssertTrue(thud.waitForLines(thud.lines.count + 12, timeout: 120), thud.stderrText)
        thud.terminate()
        XCTAssertEqual(thud.waitForExit().status, 0, thud.stderrText)
        let lines = parse(thud.lines)
        let gaps = lines.filter(\.isGap)
        XCTAssertEqual(gaps.count, 1, thud.stdoutText)
        if let gap = gaps.first {
            XCTAssertEqual(gap.object["resumed_on"] as? String, "stream timestamps", thud.stdoutText)
            // The cut lasted at least the 2 s timeout and the extra second: the stream's own clock says so.
            XCTAssertGreaterThanOrEqual(gap.object["missing_steps"] as! Int, 30, thud.stdoutText)
        }
        assertClock(lines)
    }

    func testASenderOfGarbageIsOneLineAndExit13() throws {
        let port = FreePort.pick(udp: true)
        let sender = try StreamSender.garbageUDP(port: port, seconds: 60)
        defer { sender.kill9() }
        let r = try Executable.run("thud", ["predict", "--model", modelPath, "--timeout", "5", "udp://127.0.0.1:\(port)"], timeout: 120)
        XCTAssertEqual(r.status, 13, r.stderrText)
        XCTAssertEqual(r.stderrText, "thud: udp://127.0.0.1:\(port): no video stream\n")
        XCTAssertTrue(r.stdout.isEmpty)
    }

    func testAURLNobodyServesIsOneLineAndExit32WithinTheTimeout() throws {
        let udp = FreePort.pick(udp: true), tcp = FreePort.pick()
        let cases = [
            ("udp://127.0.0.1:\(udp)", "nothing within 2.0 s (--timeout): nobody serves it, or it sends nothing"),
            ("rtsp://127.0.0.1:\(tcp)/cam", "cannot connect (Connection refused)"),
            ("http://127.0.0.1:\(tcp)/x.ts", "cannot connect (Connection refused)"),
        ]
        for (url, problem) in cases {
            let r = try Executable.run("thud", ["predict", "--model", modelPath, "--timeout", "2", url], timeout: 60)
            XCTAssertEqual(r.status, 32, url + ": " + r.stderrText)
            XCTAssertEqual(r.stderrText, "thud: \(url): \(problem)\n")
            XCTAssertTrue(r.stdout.isEmpty)
        }
        // With --reconnect, a bound on the outage ends the retries the same way.
        let r = try Executable.run("thud", ["predict", "--model", modelPath, "--timeout", "1", "--reconnect", "--reconnect-give-up", "3",
                                            "--reconnect-max-delay", "0.5", "rtsp://127.0.0.1:\(tcp)/cam"], timeout: 60)
        XCTAssertEqual(r.status, 32, r.stderrText)
        XCTAssertTrue(r.stderrText.hasSuffix("the last: cannot connect (Connection refused))\n"), r.stderrText)
        XCTAssertEqual(r.stderrText.split(separator: "\n").count, 2, "the outage's line, then the error: " + r.stderrText)
        let usage = try Executable.run("thud", ["predict", "--model", modelPath, "--reconnect", dir.path("clip.mp4")])
        XCTAssertEqual(usage.status, 64, usage.stderrText)
    }

    /// Hundreds of connections (a short HTTP stream served again and again, --reconnect): the resident memory after
    /// the first 40 and after 240 more stays within a few MB (a leak of a decoder or a demuxer per connection would be
    /// ~1 MB each).
    func testMemoryStaysFlatOverManyReconnections() throws {
        try StreamSender.writeClip(dir.path("short.ts"), seconds: 0.5, extra: ["-f", "mpegts"])
        let server = try StaticHTTPServer(root: dir.url.path)
        let thud = try RunningProcess.thud(["predict", "--model", modelPath, "--reconnect", "--reconnect-max-delay", "0.1", server.url("short.ts")])
        defer { thud.kill9() }
        let isGap: (String) -> Bool = { $0.contains("\"gap\"") }
        XCTAssertTrue(thud.waitForLines(40, matching: isGap, timeout: 300), thud.stderrText)
        let early = thud.residentKilobytes ?? 0
        XCTAssertTrue(thud.waitForLines(280, matching: isGap, timeout: 600), thud.stderrText)
        let late = thud.residentKilobytes ?? 0
        print("memory over reconnections: VmRSS \(early) kB after 40, \(late) kB after 280")
        XCTAssertGreaterThan(early, 0)
        XCTAssertLessThan(late - early, 4096, "RSS \(early) kB after 40 reconnections, \(late) kB after 280")
        thud.terminate()
        XCTAssertEqual(thud.waitForExit().status, 0, thud.stderrText)
    }
}

/// Hostile streams (issue 27 point 5), made in the test from MPEG-TS segments cut together: timestamps that jump
/// forward and back by hours, a programme that switches to another stream with another codec, frames of an absurd
/// size mid-stream. Each gives one warning; the clock stays monotonic, one step per twelfth, no hours of steps.
final class HostileStreamTests: XCTestCase {
    let dir = TemporaryDirectory("hostile")

    lazy var modelPath: String = {
        let path = dir.path("motion.thud")
        try! ModelFile.random(architecture: .motionEnergyDefault, seed: 7).write(to: path)
        return path
    }()

    func segment(_ name: String, seconds: Double = 2, size: String = "320x180", codec: [String] = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
                 offset: Double, pid: Int = 0x100) throws -> Data {
        let path = dir.path(name)
        let p = try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=30", "-t", "\(seconds)"]
                                   + codec + ["-g", "15", "-f", "mpegts", "-mpegts_start_pid", "\(pid)", "-output_ts_offset", "\(offset)", "-y", path])
        XCTAssertEqual(p.waitForExit().status, 0, p.stderrText)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    func steps(_ lines: [String]) -> [Double] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }.compactMap { $0["t"] as? Double }
    }

    func testJumpsSwitchesAndAbsurdFramesGiveOneWarningEachAndAMonotonicClock() throws {
        let a = try segment("a.ts", offset: 0), d = try segment("d.ts", offset: 4)
        let cases: [(String, Data, String)] = [
            ("jump.ts", a + (try segment("hours.ts", offset: 3 * 3600)) + d, "timestamps jump forward by 2h59m near 1.97 s; the clock goes on from the previous frame"),
            ("switch.ts", a + (try segment("mpeg2.ts", codec: ["-c:v", "mpeg2video"], offset: 2, pid: 0x200)) + d, "the video changes to another stream (h264 → mpeg2video) at step 24; decoding the new one"),
            ("huge.ts", a + (try segment("huge-frames.ts", seconds: 1, size: "8200x16", offset: 2)) + d, "frames of 8200x16 skipped: absurd picture size (Thud reads 2...8192 pixels a side)"),
        ]
        let server = try StaticHTTPServer(root: dir.url.path)
        for (name, data, warning) in cases {
            try data.write(to: URL(fileURLWithPath: dir.path(name)))
            var inputs = [server.url(name)]
            if name != "switch.ts" { inputs.append(dir.path(name)) }   // a file has one video stream for good
            for input in inputs {
                let r = try Executable.run("thud", ["predict", "--model", modelPath, input], timeout: 120)
                XCTAssertEqual(r.status, 0, "\(input): \(r.stderrText)")
                let warnings: [String] = r.stderrText.split(separator: "\n").map(String.init).filter { $0.hasPrefix("thud: warning:") }
                XCTAssertEqual(warnings, ["thud: warning: " + input + ": " + warning], input)
                let t = steps(r.lines)
                XCTAssertEqual(t.first, 0, input)
                XCTAssertGreaterThanOrEqual(t.count, 48, "\(input): at least the good segments' steps")
                XCTAssertLessThanOrEqual(t.count, 12 * 7, "\(input): no steps invented for a jump")
                for (k, time) in t.enumerated() { XCTAssertEqual(time, Double(k) / 12, accuracy: 1e-5, "\(input): step \(k)") }
            }
        }
    }
}
