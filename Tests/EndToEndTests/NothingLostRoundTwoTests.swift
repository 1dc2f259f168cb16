import XCTest
import ThudMedia
import ThudModel
import ThudTrain
import ThudTestSupport

/// Issue 36, "Nothing lost, nothing hangs (round two)": each defect of the issue, reproduced as a user met it, ends
/// in one true line and a documented exit code, with nothing half-written and nothing lost.
final class NothingLostRoundTwoTests: XCTestCase {
    static let dir = TemporaryDirectory("nothing-lost-2")
    var dir: TemporaryDirectory { Self.dir }
    override class func tearDown() { dir.cleanup(); super.tearDown() }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    static let model: String = {
        let path = dir.path("random.thud")
        try! ModelFile.random(architecture: .default, seed: 3).write(to: path)
        return path
    }()

    /// A clip with sound (clicks), written once per name.
    func clip(_ name: String, seconds: Double = 4, fps: Int = 25) throws -> String {
        let path = dir.path(name)
        if !FileManager.default.fileExists(atPath: path) {
            try FrameCounterClip.write(path: path, times: FrameCounterClip.times(fpsNumerator: fps, seconds: seconds), width: 160, height: 96,
                                       codec: .h264, nominalFrameRate: Double(fps), audio: AudioEncodeSettings(sampleRate: 44100, channels: 1),
                                       clicks: stride(from: 0.5, to: seconds, by: 1).map { $0 }, audioSeconds: seconds)
        }
        return path
    }

    /// The files of the test folder whose names contain `part`.
    func leftovers(_ part: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.contains(part) }
    }

    // MARK: 1. A diverged run never replaces the good model

    func testARunThatDivergesAfterAGoodEpochLeavesTheOldModelAndSaysWhatItKept() throws {
        // One batch an epoch: epoch 1 ends with finite (absurd) weights, epoch 2's loss is infinite.
        let data = try TinyDataset.write(root: dir.path("diverge-ds"), good: ["train": 2, "validation": 1], seconds: 2)
        let out = dir.path("good.thud")
        try ModelFile.random(architecture: .default, seed: 9).write(to: out)
        let before = try bytes(out)
        let r = try Executable.run("thud-train", ["train", data.root, "--cache", dir.path("diverge-cache"), "--epochs", "3",
                                                  "--batch-size", "16", "--sequence-length", "12", "--learning-rate", "1e30", "--out", out])
        XCTAssertFalse(r.signaled, r.stderrText)
        XCTAssertEqual(r.status, 65, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("epoch 1/3"), "epoch 1 must end well for this test to mean anything: \(r.stderrText)")
        XCTAssertEqual(try bytes(out), before, "the model at --out must stay untouched by a run that did not end well")
        let errorLines = r.stderrText.split(separator: "\n").filter { $0.hasPrefix("thud-train:") }
        XCTAssertEqual(errorLines.count, 1, r.stderrText)
        let line = String(errorLines.first ?? "")
        XCTAssertTrue(line.contains("diverged in epoch 2"), line)
        XCTAssertTrue(line.contains("\(out) is as it was"), line)
        XCTAssertTrue(line.contains("holds epoch 1"), line)
        XCTAssertFalse(line.contains("nothing written"), "the checkpoint was written: \(line)")
        XCTAssertEqual(try Checkpoint.read(path: out + ".checkpoint").state.epochsDone, 1, "the line says the checkpoint holds epoch 1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".best"), "the diverged run's best-so-far is removed")
        XCTAssertFalse(r.stderrText.contains("best, saved"), "nothing was saved at --out: \(r.stderrText)")
    }

    func testAnInterruptedRunLeavesTheOldModelUntilItsResumedRunEnds() throws {
        let data = try TinyDataset.write(root: dir.path("stop-ds"), good: ["train": 4, "validation": 1], seconds: 2)
        let out = dir.path("kept.thud")
        try ModelFile.random(architecture: .default, seed: 5).write(to: out)
        let before = try bytes(out)
        let common = ["train", data.root, "--cache", dir.path("stop-cache"), "--epochs", "2", "--batch-size", "2",
                      "--sequence-length", "12", "--seed", "7", "--out", out]
        let first = try Executable.run("thud-train", common + ["--stop-after-batches", "5"])
        XCTAssertEqual(first.status, 130, first.stderrText)
        XCTAssertEqual(try bytes(out), before, "an interrupted run leaves --out as it was")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + ".best"), first.stderrText)
        XCTAssertTrue(first.stderrText.contains("the best model so far is in \(out).best"), first.stderrText)
        XCTAssertNoThrow(try ModelFile.read(path: out + ".best"))
        let second = try Executable.run("thud-train", common + ["--resume"])
        XCTAssertEqual(second.status, 0, second.stderrText)
        XCTAssertNotEqual(try bytes(out), before, "the run ended well: its best model is at --out")
        XCTAssertNoThrow(try ModelFile.read(path: out))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".best"))
    }

    // MARK: 2. An interrupted render leaves no temporary file

    /// Starts `thud render`, waits until its temporary output exists (the second pass is writing), sends `sig`.
    private func interruptRender(_ clip: String, out: String, gif: Bool, signal sig: Int32) throws -> (RunningProcess, String) {
        let stem = "." + ((out as NSString).lastPathComponent as NSString).deletingPathExtension + ".tmp-"
        let thud = try RunningProcess.thud(["render", clip, "--model", Self.model, "--out", out] + (gif ? ["--gif"] : []))
        let deadline = Date().addingTimeInterval(300)
        var seen = false
        while Date() < deadline, thud.process.isRunning {
            if (try leftovers(stem)).isEmpty == false { seen = true; break }
            usleep(5_000)
        }
        XCTAssertTrue(seen, "the render's temporary file never appeared: \(thud.stderrText)")
        kill(thud.process.processIdentifier, sig)
        return (thud, stem)
    }

    func testARenderStoppedBySignalLeavesNoTemporaryFileAndNoOutput() throws {
        let long = try clip("long.mp4", seconds: 40)
        for (sig, name, gif) in [(SIGTERM, "SIGTERM", false), (SIGINT, "SIGINT", true), (SIGHUP, "SIGHUP", false)] {
            let out = dir.path("stopped-\(name).mp4")
            let (thud, stem) = try interruptRender(long, out: out, gif: gif, signal: sig)
            let end = thud.waitForExit(timeout: 120)
            XCTAssertFalse(end.timedOut || end.signaled, "\(name): \(thud.stderrText)")
            XCTAssertEqual(end.status, 130, "\(name): \(thud.stderrText)")
            XCTAssertEqual(thud.stderrText, "thud: \(out): render stopped by \(name) before the end; nothing written\n")
            XCTAssertEqual(try leftovers(stem), [], "\(name) left temporary files")
            XCTAssertEqual(try leftovers(".stopped-\(name).tmp-"), [], "\(name) left the GIF's temporary file")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
            XCTAssertTrue(thud.stdoutText.isEmpty)
        }
    }

    func testTemporaryFilesOfADeadProcessAreRemovedByTheNextRender() throws {
        // A process that has ended: its pid is free (kill -9 left its temporary file behind).
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run(); gone.waitUntilExit()
        let dead = dir.path(".again.tmp-\(gone.processIdentifier)-1.mp4")
        let alive = dir.path(".again.tmp-\(getpid())-7.mp4")   // a live process's (this test's): left alone
        XCTAssertTrue(FileManager.default.createFile(atPath: dead, contents: Data(repeating: 1, count: 4096)))
        XCTAssertTrue(FileManager.default.createFile(atPath: alive, contents: Data(repeating: 2, count: 16)))
        let r = try Executable.run("thud", ["render", try clip("short.mp4", seconds: 2), "--model", Self.model, "--out", dir.path("again.mp4")])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead), "a dead process's temporary file must go")
        XCTAssertTrue(FileManager.default.fileExists(atPath: alive), "a live process's temporary file must stay")
        unlink(alive)
    }

    // MARK: 5. render never waits on an input it cannot read twice

    func testRenderRefusesAFIFOAndStandardInputAtOnce() throws {
        let fifo = dir.path("render.fifo")
        unlink(fifo)
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // No writer: a render that opened the FIFO would wait forever (the timeout turns that into a failure).
        let r = try Executable.run("thud", ["render", fifo, "--model", Self.model, "--out", dir.path("fifo.mp4")], timeout: 60)
        XCTAssertEqual(r.status, 64, r.stderrText)
        XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("\(fifo): is not a regular file"), r.stderrText)
        let piped = try Executable.run("thud", ["render", "/dev/stdin", "--model", Self.model, "--out", dir.path("stdin.mp4")],
                                       pipedInput: try bytes(try clip("short.mp4", seconds: 2)), timeout: 60)
        XCTAssertEqual(piped.status, 64, piped.stderrText)
        XCTAssertTrue(piped.stderrText.contains("/dev/stdin: is not a regular file"), piped.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("fifo.mp4")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("stdin.mp4")))
    }

    // MARK: 4. One frame held for 24 days is a discontinuity, not two million steps

    func testAFrameThatClaimsToLastForDaysIsHeldOneStepWithOneWarning() throws {
        // One video frame and 2 s of sound, without an edit list (which would bound the frame's time), at 1/30000 s.
        let one = dir.path("one-frame.mp4")
        let made = try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x96:rate=25:duration=0.04",
                                                 "-f", "lavfi", "-i", "sine=f=440:d=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                                                 "-use_editlist", "0", "-video_track_timescale", "30000", "-movflags", "+faststart", one])
        XCTAssertEqual(made.waitForExit().status, 0, made.stderrText)
        for timescale in [nil, 1000] as [UInt32?] {
            let path = dir.path("held-\(timescale ?? 0).mp4")
            try MP4Surgery.videoSampleDelta(try bytes(one), delta: 0x7FFF_FFFF, timescale: timescale).write(to: URL(fileURLWithPath: path))
            let frames = try Executable.run("thud", ["frames", "--null", path], timeout: 120)
            XCTAssertFalse(frames.signaled, frames.stderrText)
            let held = frames.stderrText.split(separator: "\n").filter { $0.contains("a frame claims to last") }
            XCTAssertEqual(held.count, 1, frames.stderrText)
            let predict = try Executable.run("thud", ["predict", "--model", Self.model, path], timeout: 120)
            XCTAssertFalse(predict.signaled, predict.stderrText)
            XCTAssertLessThanOrEqual(predict.lines.count, 12 * 3, "steps follow what the clip holds, not what its index claims: \(predict.lines.count)")
            XCTAssertEqual(predict.stderrText.split(separator: "\n").filter { $0.contains("a frame claims to last") }.count, 1, predict.stderrText)
            // Training's decoder holds every step's frame in memory: bounded by what the clip holds too (before: 3.6 GB
            // resident for this 30 kB file, and an abort under this limit).
            let data = dir.path("held-ds-\(timescale ?? 0)")
            try? FileManager.default.removeItem(atPath: data)
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: path, toPath: data + "/clip.mp4")
            let prepare = try RunningProcess("prlimit", ["--as=3000000000", Executable.url("thud-train").path, "prepare", data,
                                                         "--classes", "all", "--cache", dir.path("held-cache")])
            let ended = prepare.waitForExit(timeout: 300)
            XCTAssertFalse(ended.timedOut || ended.signaled, prepare.stderrText)
            XCTAssertEqual(ended.status, 0, "prepare must not run out of its 3 GB of address space (it did: 3.6 GB resident): \(prepare.stderrText)")
            XCTAssertTrue(prepare.stderrText.contains("too short: 1"), "one frame is a clip too short to teach: \(prepare.stderrText)")
        }
    }

    // MARK: 6. NaN never leaves the program

    /// A model whose head weights are finite but enormous (3e38): its arithmetic overflows to NaN.
    static let overflowingModel: String = {
        let path = dir.path("overflowing.thud")
        var file = ModelFile.random(architecture: .default, seed: 4)
        for i in file.tensors.indices where file.tensors[i].name.hasPrefix("head.") {
            file.tensors[i].values = file.tensors[i].values.enumerated().map { $0.offset % 2 == 0 ? 3e38 : -3e38 }
        }
        try! file.write(to: path)
        return path
    }()

    func testAModelWhoseOutputIsNotANumberIsRefusedWithOneLine() throws {
        let video = try clip("nan.mp4", seconds: 4)
        let predict = try Executable.run("thud", ["predict", "--model", Self.overflowingModel, video])
        XCTAssertEqual(predict.status, 20, predict.stderrText)
        XCTAssertFalse(predict.stdoutText.lowercased().contains("nan"), predict.stdoutText)
        XCTAssertTrue(predict.stdout.isEmpty, predict.stdoutText)
        XCTAssertEqual(predict.stderrText.split(separator: "\n").count, 1, predict.stderrText)
        XCTAssertTrue(predict.stderrText.contains("model file \(Self.overflowingModel): its output is not a number"), predict.stderrText)
        let data = try TinyDataset.write(root: dir.path("nan-ds"), good: ["train": 0, "validation": 0, "test": 1], seconds: 2)
        let report = dir.path("ev.json")
        let eval = try Executable.run("thud", ["eval", data.root, "--model", Self.overflowingModel, "--out", report])
        XCTAssertEqual(eval.status, 20, eval.stderrText)
        XCTAssertFalse(eval.stderrText.contains("NSCocoaErrorDomain"), eval.stderrText)
        XCTAssertFalse(FileManager.default.fileExists(atPath: report))
    }

    // MARK: 3. A long-GOP stream starts at its first keyframe; a stream that sends something says what

    /// Waits until a process has bound UDP `port` on 127.0.0.1 (/proc/net/udp), so that nothing sent is lost.
    private func waitUntilBound(udp port: Int, timeout: TimeInterval = 60) -> Bool {
        let needle = String(format: ":%04X ", port)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let table = try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8), table.contains(needle) { return true }
            usleep(20_000)
        }
        return false
    }

    /// 6 s of H.264 with x264's default GOP (one keyframe, at the start) and AAC sound, as the issue made it.
    private func longGOPClip() throws -> String {
        let path = dir.path("long-gop.mp4")
        if !FileManager.default.fileExists(atPath: path) {
            let made = try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
                                                     "-f", "lavfi", "-i", "sine", "-t", "6", "-c:v", "libx264", "-c:a", "aac", path])
            XCTAssertEqual(made.waitForExit().status, 0, made.stderrText)
        }
        return path
    }

    private func sendOverUDP(_ clip: String, port: Int) throws -> RunningProcess {
        try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "mpegts",
                                      "udp://127.0.0.1:\(port)?pkt_size=1316"])
    }

    func testALongGOPStreamIsDecodedFromTheKeyframeTheProbeRead() throws {
        let clip = try longGOPClip()
        let port = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", Self.model, "--timeout", "3", "udp://127.0.0.1:\(port)"])
        defer { thud.kill9() }
        XCTAssertTrue(waitUntilBound(udp: port), thud.stderrText)
        let sender = try sendOverUDP(clip, port: port)
        sender.waitForExit()
        let end = thud.waitForExit(timeout: 120)
        XCTAssertFalse(end.timedOut || end.signaled, thud.stderrText)
        XCTAssertEqual(end.status, 33, thud.stderrText)
        XCTAssertGreaterThanOrEqual(thud.lines.count, 60, "6 s at 12 Hz from the first keyframe on (before: 0 lines): \(thud.stderrText)")
        XCTAssertTrue(thud.stderrText.hasSuffix("udp://127.0.0.1:\(port): no data for 3.0 s (--timeout)\n"), thud.stderrText)
    }

    func testAStreamJoinedBetweenKeyframesSaysThatPacketsCameButNothingDecoded() throws {
        let clip = try longGOPClip()
        let port = FreePort.pick(udp: true)
        let sender = try sendOverUDP(clip, port: port)
        defer { sender.kill9() }
        usleep(1_500_000)   // the only keyframe has gone by
        let r = try Executable.run("thud", ["predict", "--model", Self.model, "--timeout", "3", "udp://127.0.0.1:\(port)"], timeout: 120)
        XCTAssertFalse(r.signaled, r.stderrText)
        XCTAssertEqual(r.status, 33, r.stderrText)
        XCTAssertTrue(r.stdout.isEmpty, r.stdoutText)
        XCTAssertFalse(r.stderrText.contains("absurd picture size"), "a size not yet sent is not absurd: \(r.stderrText)")
        let last = r.stderrText.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.contains("video packets arrived but no frame decoded (no keyframe came)"), r.stderrText)
        XCTAssertFalse(last.contains("thud: udp://127.0.0.1:\(port): no data for"), r.stderrText)
    }

    func testRandomBytesSentToAUDPPortAreCountedNotCalledNothing() throws {
        let port = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", Self.model, "--timeout", "2", "udp://127.0.0.1:\(port)"])
        defer { thud.kill9() }
        XCTAssertTrue(waitUntilBound(udp: port), thud.stderrText)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5 {
            let datagram = (0..<1316).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = withUnsafePointer(to: &addr) { a in
                a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, datagram, datagram.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            usleep(50_000)
        }
        let end = thud.waitForExit(timeout: 120)
        XCTAssertFalse(end.timedOut || end.signaled, thud.stderrText)
        XCTAssertEqual(end.status, 32, thud.stderrText)
        XCTAssertEqual(thud.stderrText, "thud: udp://127.0.0.1:\(port): 6580 bytes arrived within 2.0 s (--timeout), but not a stream FFmpeg recognises (not MPEG-TS, RTP or another format it reads)\n")
    }

    // MARK: 8. Output that cannot be written is an error

    func testPickHitsIntoAFullDiskIsExit74WithOneLine() throws {
        let requests = dir.path("requests.jsonl")
        try Data(String(repeating: "{\"envelope\": [0, 0.2, 0.9, 0.1, 0, 0.8, 0.1]}\n", count: 50).utf8).write(to: URL(fileURLWithPath: requests))
        let r = try Executable.launch("thud-train", ["pick-hits"], timeout: 60, stdin: .file(requests), stdout: .file("/dev/full"))
        XCTAssertFalse(r.signaled, r.stderrText)
        XCTAssertEqual(r.status, 74, r.stderrText)
        XCTAssertEqual(r.stderrText, "thud-train: stdout: cannot be written (No space left on device)\n")
        // Into a pipe the same input is fine.
        let ok = try Executable.run("thud-train", ["pick-hits"], stdinFile: requests)
        XCTAssertEqual(ok.status, 0, ok.stderrText)
        XCTAssertEqual(ok.lines.count, 50)
    }

    // MARK: 9. Codes and messages that say what happened, at once

    /// Runs a built executable with `cwd` as its working directory.
    private func run(_ name: String, _ args: [String], in cwd: String) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = Executable.url(name)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    func testNetworkUsageErrorsAreRefusedBeforeConnecting() throws {
        let port = FreePort.pick(udp: true)
        // No sender: before, each waited out the --timeout and said 32 (unreachable).
        let bogus = try Executable.run("thud", ["predict", "--model", Self.model, "--timeout", "60", "--input-option", "bogus=1",
                                                "udp://127.0.0.1:\(port)"], timeout: 300)
        XCTAssertEqual(bogus.status, 64, bogus.stderrText)
        XCTAssertEqual(bogus.stderrText, "thud: udp://127.0.0.1:\(port): option bogus not known to any FFmpeg reader or protocol (--input-option)\n")
        let known = try Executable.run("thud", ["predict", "--model", Self.model, "--timeout", "1", "--input-option", "fifo_size=65536",
                                                "udp://127.0.0.1:\(port)"], timeout: 300)
        XCTAssertEqual(known.status, 32, "a real option is passed on and the stream waited for: \(known.stderrText)")
        let range = try Executable.run("thud", ["predict", "--model", Self.model, "--timeout", "60", "udp://127.0.0.1:99999"], timeout: 300)
        XCTAssertEqual(range.status, 64, range.stderrText)
        XCTAssertEqual(range.stderrText, "thud: udp://127.0.0.1:99999: port 99999 is out of range (1…65535)\n")
    }

    func testAdaptOfAMissingFolderIs10AndTheBundledModelIsFoundFromAnyFolder() throws {
        // From a folder with no models/ in it: thud-train finds the bundled model as thud does, then the dataset is missing.
        let elsewhere = dir.path("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let adapt = try run("thud-train", ["adapt", "MISSING"], in: elsewhere)
        XCTAssertEqual(adapt.status, 10, adapt.stderr)
        XCTAssertEqual(adapt.stderr, "thud-train: MISSING: no such dataset folder\n")
        let empty = dir.path("empty-ds")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let fp16 = try run("thud-train", ["fp16", empty], in: elsewhere)
        XCTAssertFalse(fp16.stderr.contains("models/default.thud: not found"), fp16.stderr)
        XCTAssertEqual(fp16.status, 11, fp16.stderr)
        let eval = try Executable.run("thud", ["eval", "--model", Self.model, dir.path("MISSING")])
        XCTAssertEqual(eval.status, 10, eval.stderrText)
    }

    func testAOnePixelFrameSizeIsRefusedAsHelpSays() throws {
        let r = try Executable.run("thud", ["frames", "--null", "--size", "1x1", try clip("short.mp4", seconds: 2)])
        XCTAssertEqual(r.status, 64, r.stderrText)
        XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, r.stderrText)
        XCTAssertTrue(r.stdout.isEmpty)
    }
}
