import XCTest
import ThudBase
import ThudModel
import ThudTestSupport

/// Issue 38 points 1–4 on a real UDP feed with sound: `thud predict URL --learn DIR` records the stream's own packets
/// into DIR/NAME, its learner (a child `thud-train adapt --follow`) learns from them and writes DIR/NAME/model.thud,
/// the feed swaps it in between two steps and skips none; a learner killed with -9 is one line and prediction goes
/// on; the next run starts from the learned model; a feed without sound says so once and predicts on.
final class LearnFeedTests: XCTestCase {
    let dir = TemporaryDirectory("learn-feed")

    /// A feed a model can learn from in seconds: a dark picture where a bright box shows for 80 ms at each click of
    /// the sound (every 0.9 s), H.264 (a GOP of 15) and AAC in MPEG-TS over UDP, in real time.
    private func flashAndClickSender(port: Int, seconds: Double) throws -> RunningProcess {
        let period = 0.9
        return try RunningProcess("ffmpeg", [
            "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "color=c=0x282828:size=160x96:rate=25,drawbox=x=40:y=24:w=80:h=48:color=white:t=fill:enable='lt(mod(t\\,\(period))\\,0.08)'",
            "-f", "lavfi", "-i", "aevalsrc='if(lt(mod(t\\,\(period))\\,0.02)\\,0.8*sin(2*PI*1500*t)\\,0)':s=48000:c=mono",
            "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"])
    }

    /// The steps' times (not events), in order.
    private func stepTimes(_ lines: [String]) -> [Double] {
        lines.compactMap { line -> Double? in
            guard !line.contains("\"event\""), let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return obj["t"] as? Double
        }
    }

    private func assertNoStepSkipped(_ lines: [String], _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        let times = stepTimes(lines)
        XCTAssertGreaterThan(times.count, 24, context, file: file, line: line)
        for (a, b) in zip(times, times.dropFirst()) where abs(b - a - 1.0 / 12) > 1e-5 {
            XCTFail("steps \(a) → \(b): \(context)", file: file, line: line)
            return
        }
    }

    /// The learner's arguments for tiny rounds (the flat starting model, 2 s segments, a few epochs).
    private let tinyRounds = ["--learn-segment-seconds", "2", "--learn-every", "2",
                              "--learner-option", "--min-seconds", "--learner-option", "4",
                              "--learner-option", "--poll", "--learner-option", "0.5",
                              "--learner-option", "--epochs", "--learner-option", "8",
                              "--learner-option", "--learning-rate", "--learner-option", "0.02"]

    func testAFeedRecordsItselfLearnsAndSwapsInItsModelWithoutASkippedStep() throws {
        let base = dir.path("flat.thud")
        try FlatModel.write(to: base)
        let learn = dir.path("learn")
        let port = FreePort.pick(udp: true)
        let feed = "\(learn)/127.0.0.1_\(port)"
        let thud = try RunningProcess.thud(["predict", "--model", base, "--learn", learn, "--timeout", "20"] + tinyRounds
                                           + ["udp://127.0.0.1:\(port)"])
        defer { thud.kill9() }
        let sender = try flashAndClickSender(port: port, seconds: 240)
        defer { sender.kill9() }
        XCTAssertTrue(thud.waitForLines(1, matching: { $0.contains("\"event\": \"model\"") }, timeout: 200),
                      "a learned model swapped in: \(thud.stderrText)\n\((try? String(contentsOfFile: "\(feed)/learner.log", encoding: .utf8)) ?? "no learner log")")
        // The learner crashes (kill -9): one line, prediction goes on (and the learner is started again later).
        let learner = try XCTUnwrap(childProcess(of: thud.process.processIdentifier, named: "thud-train"), thud.stderrText)
        kill(learner, SIGKILL)
        let before = thud.lines.count
        XCTAssertTrue(thud.waitForLines(before + 36, timeout: 120), thud.stderrText)
        let crashLines = thud.stderrText.split(separator: "\n").filter { $0.contains("the learner") && $0.contains("killed by signal 9") }
        XCTAssertEqual(crashLines.count, 1, thud.stderrText)
        thud.terminate()
        let end = thud.waitForExit()
        XCTAssertEqual(end.status, 0, thud.stderrText)
        XCTAssertFalse(end.signaled)
        sender.kill9()

        // The swap: a JSON line with the file and the seconds learned, one stderr line; no step skipped throughout.
        let swap = try XCTUnwrap(thud.lines.first { $0.contains("\"event\": \"model\"") })
        let event = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(swap.utf8)) as? [String: Any])
        XCTAssertEqual(event["file"] as? String, "\(feed)/model.thud")
        XCTAssertGreaterThan(event["learned_s"] as? Double ?? 0, 0, swap)
        XCTAssertTrue(thud.stderrText.contains("model \(feed)/model.thud loaded"), thud.stderrText)
        assertNoStepSkipped(thud.lines, thud.stderrText)
        // The folder: finished segments (no temporary left), the learner's journal and model, which loads.
        let names = try FileManager.default.contentsOfDirectory(atPath: feed)
        XCTAssertGreaterThanOrEqual(names.filter { $0.hasPrefix("rec-") && $0.hasSuffix(".mkv") }.count, 3, "\(names)")
        XCTAssertFalse(names.contains { $0.hasSuffix(".partial") }, "\(names)")
        XCTAssertTrue(names.contains("learning.jsonl"), "\(names)")
        let learned = try StreamingModel(path: "\(feed)/model.thud")
        XCTAssertNotNil(learned.header.provenance["learned_seconds"])
        XCTAssertTrue(thud.stderrText.contains("learning into \(feed)"), "the run's learning line: \(thud.stderrText)")
        XCTAssertEqual(childProcess(of: thud.process.processIdentifier, named: "thud-train"), nil, "no learner outlives thud")

        // The next run of the same feed, without --model, starts from what it learned (and says so).
        // ($THUD_MODEL stands for the bundled model, which the learned one derives from: here the flat model.)
        let again = try RunningProcess(Executable.url("thud").path, ["predict", "--learn", learn, "--learn-record-only", "--timeout", "20",
                                                                     "udp://127.0.0.1:\(port)"], environment: ["THUD_MODEL": base])
        defer { again.kill9() }
        let sender2 = try flashAndClickSender(port: port, seconds: 60)
        defer { sender2.kill9() }
        XCTAssertTrue(again.waitForLines(12, timeout: 120), again.stderrText)
        again.terminate()
        XCTAssertEqual(again.waitForExit().status, 0, again.stderrText)
        XCTAssertTrue(again.stderrText.contains("starting from the model learned from this feed before, \(feed)/model.thud"), again.stderrText)
    }

    func testAFeedWithoutSoundSaysSoOnceAndPredictsOn() throws {
        let base = dir.path("flat.thud")
        try FlatModel.write(to: base)
        let learn = dir.path("learn-silent")
        let port = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", base, "--learn", learn, "--learn-record-only", "--timeout", "20",
                                            "udp://127.0.0.1:\(port)"])
        defer { thud.kill9() }
        let sender = try StreamSender.udp(port: port, seconds: 60)
        defer { sender.kill9() }
        XCTAssertTrue(thud.waitForLines(60, timeout: 120), thud.stderrText)
        thud.terminate()
        XCTAssertEqual(thud.waitForExit().status, 0, thud.stderrText)
        // (A UDP datagram lost on a busy machine may add a line about corrupt video: not this test's business.)
        let warnings = thud.stderrText.split(separator: "\n").filter { $0.hasPrefix("thud: warning:") && !$0.contains("corrupt video") }
        XCTAssertEqual(warnings.count, 1, thud.stderrText)
        XCTAssertTrue(warnings.first?.contains("the stream has no audio: nothing to learn from") ?? false, thud.stderrText)
        assertNoStepSkipped(thud.lines, thud.stderrText)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(learn)/127.0.0.1_\(port)")) ?? []
        XCTAssertTrue(names.filter { $0.hasSuffix(".mkv") || $0.hasSuffix(".partial") }.isEmpty, "\(names)")
    }

    func testEveryFeedOfAWatchRecordsIntoItsOwnFolder() throws {
        let learn = dir.path("learn-watch")
        let ports = [FreePort.pick(udp: true), FreePort.pick(udp: true)]
        let thud = try RunningProcess.thud(["watch", "--learn", learn, "--learn-record-only", "--learn-segment-seconds", "2", "--timeout", "20",
                                            "door=udp://127.0.0.1:\(ports[0])", "yard=udp://127.0.0.1:\(ports[1])"])
        defer { thud.kill9() }
        let senders = try ports.map { try flashAndClickSender(port: $0, seconds: 60) }
        defer { senders.forEach { $0.kill9() } }
        XCTAssertTrue(thud.waitForLines(2 * 84, timeout: 120), thud.stderrText)   // 7 s of each
        thud.terminate()
        XCTAssertEqual(thud.waitForExit().status, 0, thud.stderrText)
        for name in ["door", "yard"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(learn)/\(name)")) ?? []
            XCTAssertGreaterThanOrEqual(names.filter { $0.hasPrefix("rec-") && $0.hasSuffix(".mkv") }.count, 2, "\(name): \(names)")
            XCTAssertTrue(thud.stderrText.contains("\(name): learning into \(learn)/\(name)"), thud.stderrText)
            XCTAssertEqual(thud.lines.filter { $0.contains("\"feed\": \"\(name)\"") && !$0.contains("\"event\"") }.count > 60, true, name)
        }
    }

    func testLearnIsForLiveInputs() throws {
        let clip = dir.path("c.mp4")
        try FrameCounterClip.write(path: clip, times: FrameCounterClip.times(fpsNumerator: 25, seconds: 1), nominalFrameRate: 25)
        let r = try Executable.run("thud", ["predict", clip, "--learn", dir.path("l")])
        XCTAssertEqual(r.status, 64, r.stderrText)
        XCTAssertEqual(r.stderrText, "thud: --learn is for live inputs (a camera, a network stream), not a file\n")
        XCTAssertTrue(r.stdout.isEmpty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("l")), "nothing made for a file")
    }

    /// A child of `parent` whose command line contains `name` (pgrep -P).
    private func childProcess(of parent: Int32, named name: String) -> Int32? {
        guard let p = try? RunningProcess("pgrep", ["-P", "\(parent)", "-f", name]) else { return nil }
        p.waitForExit(timeout: 10)
        return p.lines.first.flatMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
    }
}
