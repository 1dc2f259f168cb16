import XCTest
import ThudModel
import Foundation

/// Live capture against a real kernel V4L2 driver: Debian's kernel with `vivid` under qemu (TCG),
/// booted once per test run by tools/vivid/run-in-vm.sh, which runs tools/vivid/capture-checks.sh
/// (every check of thud-capture-check in one VM session, about a minute). Each test asserts on the
/// files those checks leave. Skipped, with the reason, only when the VM cannot be set up (no qemu
/// and no root to install it, no kernel package to download).
final class VividCaptureTests: XCTestCase {
    struct Check {
        var name: String
        var status: Int32
        var steps: [[String: Any]]
        var stderr: String
        var seconds: Double
        var summary: [String: Any]?
        var negotiated: [String: Any]?
        var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("thud-capture-check: ") } }
    }

    enum Outcome {
        case ran([String: Check])
        case skipped(String)
        case failed(String)
    }

    /// Lines for capture-checks.sh's extra-checks.sh hook, run in the same boot; each
    /// `run_cmd NAME TIMEOUT COMMAND...` is then available as `check(NAME)`. `thud live` itself runs
    /// here with a random model written into the shared run folder (the guest's /tmp is its own).
    static func extraChecks(runDir: URL, thud: URL) -> [String] {
        let model = runDir.appendingPathComponent("live-model.thud")
        try? ModelFile.random(architecture: .default, seed: 5).write(to: model.path)
        // The same network with an output delay of one step (thud-train --output-delay 1), as the bundled model.
        let delayed = runDir.appendingPathComponent("live-model-delayed.thud")
        var delayedFile = ModelFile.random(architecture: .default, seed: 5)
        delayedFile.header.architecture.outputDelaySteps = 1
        try? delayedFile.write(to: delayed.path)
        return ["run_cmd live 180 \(thud.path) live /dev/video0 --model \(model.path) --steps 36 --jsonl -",
                "run_cmd live-delayed 180 \(thud.path) live /dev/video0 --model \(delayed.path) --frames 36 --jsonl -",
                // Two pixel formats at two frame rates, through thud live itself.
                "run_cmd live-yuyv30 180 \(thud.path) live /dev/video0 --model \(model.path) --pixel-format yuyv --fps 30 --steps 36 --jsonl -",
                "run_cmd live-nv12-15 180 \(thud.path) live /dev/video0 --model \(model.path) --pixel-format nv12 --fps 15 --size 640x360 --steps 36 --jsonl -",
                // predict on a camera never ends by itself: head takes 24 steps and the pipe closes it.
                "run_cmd live-predict 180 sh -c '\(thud.path) predict --model \(model.path) /dev/video1 | head -n 24'",
                // On a terminal (a pty from script(1); the guest needs devpts mounted) `thud live` draws its view.
                "mkdir -p /dev/pts; mount -t devpts devpts /dev/pts 2>/dev/null",
                "run_cmd live-tty 180 script -qfec '\(thud.path) live /dev/video2 --model \(model.path) --frames 24' /dev/null"]
    }

    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let outcome: Outcome = bootAndRunChecks()

    static func shell(_ args: [String], timeout: TimeInterval) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec \"$@\" 2>&1", "sh"] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func checkBinary() -> URL? {
        let exeDir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for candidate in [exeDir.appendingPathComponent("thud-capture-check"),
                          repo.appendingPathComponent(".build/debug/thud-capture-check")]
        where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        return nil
    }

    static func bootAndRunChecks() -> Outcome {
        let script = repo.appendingPathComponent("tools/vivid/run-in-vm.sh").path
        let (prep, prepText) = shell([script, "--prepare"], timeout: 600)
        if prep != 0 {
            return .skipped("vivid VM cannot be set up here: " + prepText.split(separator: "\n").suffix(3).joined(separator: " / "))
        }
        guard let bin = checkBinary() else {
            return .failed("thud-capture-check is not built (swift build --product thud-capture-check)")
        }
        let runDir = repo.appendingPathComponent(".vm/test-run")
        try? FileManager.default.removeItem(at: runDir)
        try? FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
        let thud = bin.deletingLastPathComponent().appendingPathComponent("thud")
        if FileManager.default.isExecutableFile(atPath: thud.path) {
            try? (extraChecks(runDir: runDir, thud: thud).joined(separator: "\n") + "\n")
                .write(to: runDir.appendingPathComponent("extra-checks.sh"), atomically: true, encoding: .utf8)
        }
        let start = Date()
        // Every check inside has its own limit (a hang is its status 124); the VM's budget only catches a VM that
        // never comes back, so it is generous: a loaded fresh machine ran out of 170 s with every check passing.
        let (status, text) = shell([script, "--run-dir", runDir.path, "--timeout", "1800", "--",
                                    "sh", repo.appendingPathComponent("tools/vivid/capture-checks.sh").path, bin.path, runDir.path],
                                   timeout: 1900)
        print("vivid VM: status \(status) after \(String(format: "%.1f", Date().timeIntervalSince(start))) s\n\(text)")
        guard status == 0 else { return .failed("the VM run failed (status \(status)): \(text.suffix(600))") }
        var checks: [String: Check] = [:]
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: runDir.path)) ?? [])
            .filter { $0.hasSuffix(".rc") }.map { String($0.dropLast(3)) }
        for name in names {
            func read(_ ext: String) -> String {
                (try? String(contentsOf: runDir.appendingPathComponent("\(name).\(ext)"), encoding: .utf8)) ?? ""
            }
            func json(_ line: Substring) -> [String: Any]? {
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
            let err = read("err")
            let tagged = { (tag: String) in err.split(separator: "\n").first { $0.hasPrefix(tag) }.flatMap { json($0.dropFirst(tag.count)) } }
            checks[name] = Check(name: name,
                                 status: Int32(read("rc").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
                                 steps: read("out").split(separator: "\n").compactMap(json),
                                 stderr: err,
                                 seconds: Double(read("secs").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
                                 summary: tagged("capture-check: summary "),
                                 negotiated: tagged("capture-check: negotiated "))
        }
        return .ran(checks)
    }

    func checks() throws -> [String: Check] {
        switch Self.outcome {
        case .ran(let c): return c
        case .skipped(let reason):
            print("VividCaptureTests skipped: \(reason)")
            throw XCTSkip(reason)
        case .failed(let reason):
            XCTFail(reason)
            throw XCTSkip("VM run failed")
        }
    }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Check {
        let c = try XCTUnwrap(try checks()[name], "check \(name) left no result", file: file, line: line)
        XCTAssertNotEqual(c.status, 124, "\(name) hung (killed by timeout)", file: file, line: line)
        return c
    }

    /// Steps are on the 12 Hz grid, increasing, causal; returns how many steps were skipped.
    @discardableResult
    func assertTwelveHertz(_ c: Check, steps n: Int, file: StaticString = #filePath, line: UInt = #line) -> Int {
        XCTAssertEqual(c.status, 0, "\(c.name): \(c.errorLines)", file: file, line: line)
        XCTAssertEqual(c.steps.count, n, "\(c.name): steps", file: file, line: line)
        var previous: (step: Int, t: Double, seq: Int)? = nil
        for s in c.steps {
            guard let k = s["step"] as? Int, let t = s["t"] as? Double, let seq = s["seq"] as? Int,
                  let ft = s["frame_t"] as? Double, let lat = s["latency_ms"] as? Double else {
                XCTFail("\(c.name): malformed step \(s)", file: file, line: line); return 0
            }
            XCTAssertEqual(t, Double(k) / 12, accuracy: 1e-4, "\(c.name): step \(k) stands at k/12", file: file, line: line)
            XCTAssertLessThanOrEqual(ft, t + 1e-4, "\(c.name): step \(k) used a future frame", file: file, line: line)
            XCTAssertGreaterThanOrEqual(lat, 0, file: file, line: line)
            if let p = previous {
                XCTAssertGreaterThan(k, p.step, file: file, line: line)
                XCTAssertGreaterThan(t, p.t, "\(c.name): timestamps increase", file: file, line: line)
                XCTAssertGreaterThanOrEqual(seq, p.seq, file: file, line: line)
            }
            previous = (k, t, seq)
        }
        let skipped = (c.steps.last?["step"] as? Int ?? 0) + 1 - c.steps.count
        // How many steps a loaded machine makes the consumer skip is not the point (newest wins, by design); that
        // every gap in the numbers is a stale step the session counted is.
        XCTAssertEqual(skipped, c.summary?["skipped_steps"] as? Int, "\(c.name): gaps in the step numbers = skipped steps counted",
                       file: file, line: line)
        return skipped
    }

    /// `thud live --steps 36 --jsonl -`: 36 predict lines, every step on the 12 Hz grid, strictly increasing, the
    /// first at 0. Not necessarily k/12 for the k-th line: when the emulated guest falls behind, a stale step is
    /// dropped (newest wins) by design.
    func assertThirtySixLiveLines(_ c: Check, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(c.status, 0, "\(c.name): \(c.stderr)", file: file, line: line)
        XCTAssertEqual(c.steps.count, 36, "\(c.name): \(c.stderr)", file: file, line: line)
        var lastStep = -1
        for s in c.steps {
            let t = s["t"] as? Double ?? -1, step = (t * 12).rounded()
            XCTAssertEqual(t * 12, step, accuracy: 1e-4, "\(c.name): t \(t) is not on the 12 Hz grid", file: file, line: line)
            XCTAssertGreaterThan(Int(step), lastStep, "\(c.name): steps must increase", file: file, line: line)
            lastStep = Int(step)
            XCTAssertNotNil(s["envelope"] as? Double, file: file, line: line)
            XCTAssertNotNil(s["hit"] as? Bool, file: file, line: line)
        }
        XCTAssertEqual(c.steps.first?["t"] as? Double, 0, c.name, file: file, line: line)
        XCTAssertTrue(c.stderr.contains("thud: 36 steps"), c.stderr, file: file, line: line)
        // Steps dropped because the (emulated, possibly starved) consumer was late are by design; each is counted in
        // the summary line, so the numbers' gaps must add up to it.
        let reported = c.stderr.range(of: #"stale steps skipped (\d+)"#, options: .regularExpression).flatMap {
            Int(c.stderr[$0].split(separator: " ").last ?? "")
        }
        XCTAssertEqual(lastStep + 1 - 36, reported, "\(c.name): gaps in the step numbers = stale steps skipped", file: file, line: line)
    }

    /// `thud live` on a real kernel driver: 36 JSON steps at 12 Hz from the model, and `thud predict
    /// /dev/videoN` takes the same live path (24 steps, then its reader goes away).
    func testThudLiveGivesThirtySixPredictedStepsAt12Hz() throws {
        for (name, negotiated) in [("live", ""), ("live-yuyv30", "YUYV"), ("live-nv12-15", "NV12")] {
            let c = try check(name)
            assertThirtySixLiveLines(c)
            if !negotiated.isEmpty { XCTAssertTrue(c.stderr.contains(negotiated), "\(name) negotiated: \(c.stderr)") }
        }
        let nv12 = try check("live-nv12-15").stderr, yuyv = try check("live-yuyv30").stderr
        XCTAssertTrue(nv12.contains("15.00 fps"), nv12)
        XCTAssertTrue(yuyv.contains("30.00 fps"), yuyv)
        let view = try check("live-tty")
        XCTAssertEqual(view.status, 0, view.stderr)
        let screen = (try? String(contentsOf: Self.repo.appendingPathComponent(".vm/test-run/live-tty.out"), encoding: .utf8)) ?? ""
        XCTAssertTrue(screen.contains("cam ") && screen.contains(" fps") && screen.contains("latency"), String(screen.suffix(300)))
        XCTAssertTrue(screen.contains("\r\u{1B}[2K"), "the view redraws one line in place")
        XCTAssertTrue(screen.unicodeScalars.contains { (0x2581...0x2588).contains($0.value) }, "the envelope strip")
        XCTAssertFalse(screen.contains("\"t\":"), "no JSON lines on a terminal")
        let p = try check("live-predict")
        XCTAssertEqual(p.steps.count, 24, p.stderr)
        XCTAssertEqual(p.steps.first?["t"] as? Double, 0)
    }

    /// A model with an output delay through `thud live`: still one line per frame taken (the first frame's output
    /// describes nothing, the last step is described from the last frame held still), each at its own step's time.
    func testADelayedModelLiveWritesEachStepAtItsOwnTime() throws {
        assertThirtySixLiveLines(try check("live-delayed"))
    }

    func testTwoFormatsAndThreeFrameRatesGiveStepsAt12Hz() throws {
        for (name, fourcc, fps) in [("yuyv_30", "YUYV", 30.0), ("nv12_15", "NV12", 15.0), ("rgb24_10", "RGB3", 10.0)] {
            let c = try check(name)
            assertTwelveHertz(c, steps: 36)
            XCTAssertEqual(c.negotiated?["format"] as? String, fourcc, name)
            XCTAssertEqual(c.negotiated?["fps"] as? Double ?? 0, fps, accuracy: 0.01, "\(name): rate read back from the driver")
            XCTAssertTrue(c.errorLines.isEmpty, "\(name): \(c.errorLines)")
            print("\(name): latency median \(c.summary?["latency_ms_median"] ?? "?") ms, p99 \(c.summary?["latency_ms_p99"] ?? "?") ms, captured \(c.summary?["frames_captured"] ?? "?"), decimated \(c.summary?["frames_decimated"] ?? "?"), repeated steps \(c.summary?["repeated_steps"] ?? "?")")
        }
        let nv12 = try check("nv12_15")
        XCTAssertEqual(nv12.negotiated?["width"] as? Int, 640, "nearest offered size to --size 640x360")
        XCTAssertEqual(nv12.negotiated?["model_size"] as? String, "96x96")
        let auto = try check("auto")
        assertTwelveHertz(auto, steps: 12)
        XCTAssertEqual(auto.negotiated?["format"] as? String, "GREY", "cheapest luma source when none is asked for")
    }

    func testCameraSlowerThan12HzRepeatsFramesButKeepsTheClock() throws {
        let c = try check("rgb24_10")
        assertTwelveHertz(c, steps: 36)
        XCTAssertGreaterThan(c.steps.filter { $0["repeat"] as? Bool == true }.count, 0, "10 fps under a 12 Hz clock repeats frames")
    }

    func testSlowConsumerSkipsStaleStepsNewestWins() throws {
        let c = try check("slow")
        XCTAssertEqual(c.status, 0)
        XCTAssertEqual(c.steps.count, 24)
        XCTAssertGreaterThan(c.summary?["skipped_steps"] as? Int ?? 0, 0)
        XCTAssertTrue(c.stderr.contains("fell behind"), "the policy is logged")
        for s in c.steps {
            XCTAssertLessThanOrEqual(s["frame_t"] as? Double ?? 99, (s["t"] as? Double ?? 0) + 1e-4, "still causal")
        }
    }

    func testRecoverableFaultsKeepStreaming() throws {
        let buf = try check("buf_error")
        assertTwelveHertz(buf, steps: 36)
        XCTAssertGreaterThanOrEqual(buf.summary?["error_frames"] as? Int ?? 0, 1)
        XCTAssertTrue(buf.stderr.contains("driver flagged a buffer error"))

        let qbuf = try check("qbuf_error")
        assertTwelveHertz(qbuf, steps: 36)
        XCTAssertTrue(qbuf.stderr.contains("succeeded on retry"))

        let dropped = try check("dropped")
        assertTwelveHertz(dropped, steps: 36)
        let lost = dropped.summary?["frames_dropped_by_driver"] as? Int ?? 0
        XCTAssertGreaterThan(lost, 0, "vivid dropped 30% of buffers: sequence gaps are counted")
        XCTAssertEqual(dropped.steps.last?["dropped"] as? Int ?? -1, lost, "running total on the steps")
    }

    func testStartupFaultsExit30WithOneLine() throws {
        for (name, needle) in [("streamon_error", "VIDIOC_STREAMON"), ("reqbufs_error", "VIDIOC_REQBUFS"),
                               ("no_device", "/dev/video9: cannot open"), ("busy", "/dev/video0: is busy")] {
            let c = try check(name)
            XCTAssertEqual(c.status, 30, name)
            XCTAssertEqual(c.errorLines.count, 1, "\(name): \(c.stderr)")
            XCTAssertTrue(c.errorLines.first?.contains(needle) ?? false, "\(name): \(c.errorLines)")
            XCTAssertFalse(c.stderr.contains("libv4l2"), "only our one line")
            XCTAssertTrue(c.steps.isEmpty)
        }
    }

    func testFatalFaultsExit31PromptlyNeverHang() throws {
        for (name, needle) in [("fatal", "EIO"), ("disconnect", "disconnected"), ("stall", "no frame for 0.5 s")] {
            let c = try check(name)
            XCTAssertEqual(c.status, 31, "\(name): \(c.stderr)")
            XCTAssertEqual(c.errorLines.count, 1, "\(name): \(c.stderr)")
            XCTAssertTrue(c.errorLines.first?.contains(needle) ?? false, "\(name): \(c.errorLines)")
            // Promptly: it stops at the fault, long before the frame count it asked for (a wall-clock bound would
            // fail on a busy machine; the check's own limit catches a hang as status 124).
            XCTAssertLessThan(c.steps.count, name == "stall" ? 10 : 200, "\(name) ended at the fault")
            XCTAssertNotNil(c.summary, "\(name): shut down and summarised")
        }
        assertTwelveHertz(try check("after_fatal"), steps: 6)
        // Unharmed by the refused second session: it streamed on at 12 Hz until our SIGTERM after the refusal.
        let first = try check("busy_first")
        XCTAssertTrue(first.stderr.contains("signal 15"), "busy_first: \(first.stderr)")
        XCTAssertGreaterThanOrEqual(first.steps.count, 4, "busy_first: steps")
        assertTwelveHertz(first, steps: first.steps.count)
    }

    func testSigtermStopsCleanlyAndFreesTheDevice() throws {
        let c = try check("sigterm")
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(c.stderr.contains("signal 15"))
        XCTAssertGreaterThanOrEqual(c.summary?["steps"] as? Int ?? 0, 7)
        assertTwelveHertz(try check("after_sigterm"), steps: 6)
    }
}
