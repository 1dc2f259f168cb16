import XCTest
import ThudMedia
import ThudModel
import ThudTestSupport

/// Issue 31, "Nothing lost, nothing crashes": damaged, lying and streamed inputs, outputs that cannot be written, and
/// numbers out of range each end in one line naming the file and a documented exit code: never a crash, a hang, a
/// destroyed input or a half-written output.
final class NothingLostTests: XCTestCase {
    static let dir = TemporaryDirectory("nothing-lost")
    var dir: TemporaryDirectory { Self.dir }
    override class func tearDown() { dir.cleanup(); super.tearDown() }

    /// A 4-second clip with sound (clicks), written once per name; mp4 (faststart), mkv, or avi (MJPEG).
    func clip(_ name: String, codec: VideoCodecChoice = .h264) throws -> String {
        let path = dir.path(name)
        if !FileManager.default.fileExists(atPath: path) {
            try FrameCounterClip.write(path: path, times: FrameCounterClip.times(fpsNumerator: 25, seconds: 4), width: 160, height: 96,
                                       codec: codec, nominalFrameRate: 25, audio: AudioEncodeSettings(sampleRate: 44100, channels: 1),
                                       clicks: [0.5, 1.5, 2.5, 3.5], audioSeconds: 4)
        }
        return path
    }

    func write(_ data: Data, _ name: String) -> String {
        let path = dir.path(name)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: data))
        return path
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// One line on stderr naming `names`, nothing on stdout, exit `code`, no crash.
    func assertOneLine(_ r: Executable.Result, code: Int32, names: String, _ what: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(r.signaled, "\(what) crashed (signal \(r.status)): \(r.stderrText)", file: file, line: line)
        XCTAssertEqual(r.status, code, "\(what): \(r.stderrText)", file: file, line: line)
        XCTAssertTrue(r.stdout.isEmpty, "\(what) wrote to stdout: \(r.stdoutText.prefix(200))", file: file, line: line)
        XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, "\(what): \(r.stderrText)", file: file, line: line)
        XCTAssertTrue(r.stderrText.contains(names), "\(what): \(r.stderrText)", file: file, line: line)
    }

    static let model: String = {
        let path = dir.path("random.thud")
        try! ModelFile.random(architecture: .default, seed: 3).write(to: path)
        return path
    }()

    // MARK: 1. render never destroys its input; outputs are written whole or not at all

    func testRenderRefusesToOverwriteItsOwnClipEvenThroughALink() throws {
        let original = try clip("keep.mp4")
        let before = try bytes(original)
        let r = try Executable.run("thud", ["render", original, "--model", Self.model, "--out", original])
        assertOneLine(r, code: 64, names: original, "render --out CLIP")
        let link = dir.path("keep-link.mp4")
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: original)
        let viaLink = try Executable.run("thud", ["render", original, "--model", Self.model, "--out", link])
        assertOneLine(viaLink, code: 64, names: link, "render --out LINK-TO-CLIP")
        let gifTwin = try Executable.run("thud", ["render", link, "--model", Self.model, "--out", dir.path("keep.mkv"), "--gif"])
        XCTAssertEqual(gifTwin.status, 0, gifTwin.stderrText)
        XCTAssertEqual(try bytes(original), before, "the clip must be untouched")
        // A good render leaves its files and no temporary ones.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.url.path)
        XCTAssertFalse(names.contains { $0.contains(".tmp-") }, "\(names)")
    }

    func testAFailedRenderLeavesTheOldOutputAndNoTemporaryFile() throws {
        let out = write(Data("an old render".utf8), "old-render.mp4")
        let notAVideo = write(Data("not a video at all\n".utf8), "words.mp4")
        let r = try Executable.run("thud", ["render", notAVideo, "--model", Self.model, "--out", out])
        XCTAssertEqual(r.status, 11, r.stderrText)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "an old render")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.url.path)
        XCTAssertFalse(names.contains { $0.contains(".tmp-") }, "\(names)")
        // An output whose folder is a file: refused before anything is decoded.
        let blocked = write(Data("x".utf8), "a-file")
        let cannot = try Executable.run("thud", ["render", try clip("good.mp4"), "--model", Self.model, "--out", blocked + "/r.mp4"])
        assertOneLine(cannot, code: 74, names: blocked + "/r.mp4", "render --out under a file")
    }

    // MARK: 2. a container's claim never sizes a buffer

    func testAMovieHeaderClaiming136YearsCrashesNothing() throws {
        let lying = write(MP4Surgery.lyingMovieHeader(try bytes(try clip("good.mp4"))), "lying.mp4")
        for args in [["probe", lying], ["envelope", lying], ["predict", "--model", Self.model, lying],
                     ["frames", "--index", lying], ["render", lying, "--model", Self.model, "--out", dir.path("lying-render.mp4")]] {
            let r = try Executable.run("thud", args)
            XCTAssertFalse(r.signaled, "\(args) crashed: \(r.stderrText)")
            XCTAssertFalse(r.stderrText.contains("Fatal error"), "\(args): \(r.stderrText)")
            // Its tracks say what they hold: the clip is read as the 4 s it is.
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderrText)")
        }
        let folder = dir.path("lying-folder/knocks")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: lying, toPath: folder + "/a.mp4")
        try? FileManager.default.copyItem(atPath: try clip("good.mp4"), toPath: folder + "/b.mp4")
        let eval = try Executable.run("thud", ["eval", dir.path("lying-folder"), "--model", Self.model])
        XCTAssertFalse(eval.signaled, eval.stderrText)
        XCTAssertEqual(eval.status, 0, eval.stderrText)
        let prepare = try Executable.run("thud-train", ["prepare", dir.path("lying-folder"), "--cache", dir.path("lying-cache")])
        XCTAssertFalse(prepare.signaled, prepare.stderrText)
        XCTAssertEqual(prepare.status, 0, prepare.stderrText)
    }

    // MARK: 3. no decodable video is not success

    func testNoDecodableFrameIsExit12ForEveryCommandAndProbeAgrees() throws {
        let zeroed = write(MP4Surgery.zeroedMediaData(try bytes(try clip("good.mp4"))), "zeroed.mp4")
        let huge = write(JPEGSurgery.declaringSize(try bytes(try clip("good.avi", codec: .mjpeg)), width: 60000, height: 60000), "huge-frames.avi")
        for bad in [zeroed, huge] {
            assertOneLine(try Executable.run("thud", ["predict", "--model", Self.model, bad]), code: 12, names: bad, "predict \(bad)")
            assertOneLine(try Executable.run("thud", ["frames", "--index", bad]), code: 12, names: bad, "frames \(bad)")
            let probe = try Executable.run("thud", ["probe", bad])
            XCTAssertEqual(probe.status, 12, probe.stdoutText + probe.stderrText)
            XCTAssertTrue(probe.stdoutText.contains("usable:    no"), probe.stdoutText)
        }
        // The good clip is still fine.
        XCTAssertEqual(try Executable.run("thud", ["probe", try clip("good.avi", codec: .mjpeg)]).status, 0)
    }

    // MARK: 4. write errors are errors

    func testAFullStdoutIsExit74ForEveryCommand() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full here") }
        let good = try clip("good.mp4")
        let data = try TinyDataset.write(root: dir.path("full-ds"), good: ["train": 1, "validation": 0, "test": 1], seconds: 2)
        for args in [["predict", "--model", Self.model, good], ["envelope", good], ["probe", good], ["frames", good],
                     ["frames", "--index", good], ["eval", data.root, "--model", Self.model]] {
            let r = try Executable.run("thud", args, stdoutPath: "/dev/full")
            XCTAssertEqual(r.status, 74, "\(args): \(r.stderrText)")
            XCTAssertTrue(r.stderrText.contains("stdout: cannot be written"), "\(args): \(r.stderrText)")
        }
    }

    // MARK: 5. FIFOs and pipes are streams

    func testAFIFOAndDevStdinAreReadOnceAsStreams() throws {
        let good = try clip("good.mkv")
        let expected = try Executable.run("thud", ["predict", "--model", Self.model, good])
        XCTAssertEqual(expected.status, 0, expected.stderrText)
        let fifo = dir.path("clip.fifo")
        unlink(fifo)
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let content = try bytes(good)
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            guard fd >= 0 else { return }
            signal(SIGPIPE, SIG_IGN)
            content.withUnsafeBytes { raw in
                var at = 0
                while at < raw.count {
                    let n = Foundation.write(fd, raw.baseAddress! + at, raw.count - at)
                    if n <= 0 { break }
                    at += n
                }
            }
            close(fd)
        }
        writer.start()
        // Generous: it guards against a hang, it does not time anything.
        let r = try Executable.run("thud", ["predict", "--model", Self.model, fifo], timeout: 300)
        // Whatever happened, let a writer still waiting for a reader go.
        let unblock = open(fifo, O_RDONLY | O_NONBLOCK)
        if unblock >= 0 { close(unblock) }
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(r.stdoutText, expected.stdoutText)
        // /dev/stdin on a pipe (what `… | thud predict /dev/stdin` and `thud predict <(…)` give).
        let viaDevStdin = try Executable.run("thud", ["predict", "--model", Self.model, "/dev/stdin"], pipedInput: content)
        XCTAssertEqual(viaDevStdin.status, 0, viaDevStdin.stderrText)
        XCTAssertEqual(viaDevStdin.stdoutText, expected.stdoutText)
    }

    // MARK: 6. truncation is noticed in Matroska and in an MP4 on a pipe

    func testACutMatroskaFileOrPipedMP4WarnsAndProbeDoesNotCallItUsable() throws {
        let whole = try bytes(try clip("good.mkv"))
        let cut = write(whole.prefix(whole.count * 2 / 5), "cut.mkv")
        let predict = try Executable.run("thud", ["predict", "--model", Self.model, cut])
        XCTAssertFalse(predict.signaled)
        XCTAssertEqual(predict.status, 12, predict.stderrText)
        XCTAssertTrue(predict.stderrText.contains("input ends early"), predict.stderrText)
        let probe = try Executable.run("thud", ["probe", cut])
        XCTAssertEqual(probe.status, 12, probe.stdoutText)
        XCTAssertTrue(probe.stdoutText.contains("usable:    no"), probe.stdoutText)
        let envelope = try Executable.run("thud", ["envelope", cut])
        XCTAssertEqual(envelope.status, 12, envelope.stderrText)
        // The whole file is still fine.
        XCTAssertEqual(try Executable.run("thud", ["probe", try clip("good.mkv")]).status, 0)

        let mp4 = try bytes(try clip("good.mp4"))
        let piped = try Executable.run("thud", ["predict", "--model", Self.model, "-"], pipedInput: mp4.prefix(mp4.count / 2))
        XCTAssertEqual(piped.status, 12, piped.stderrText)
        XCTAssertTrue(piped.stderrText.contains("input ends early"), piped.stderrText)
        let pipedProbe = try Executable.run("thud", ["probe", "-"], pipedInput: mp4.prefix(mp4.count / 2))
        XCTAssertNotEqual(pipedProbe.status, 0, pipedProbe.stdoutText)
    }

    // MARK: 7. numbers out of range in a hit list

    func testAHitTimeOutOfRangeSkipsTheClipWithAWarning() throws {
        let data = try TinyDataset.write(root: dir.path("hits-ds"), good: ["train": 1, "validation": 0, "test": 2], seconds: 2)
        let hits = try FileManager.default.contentsOfDirectory(atPath: data.root + "/hits").sorted()
        // The test split's clips are the last ones written; spoil the first of them.
        let test = try JSONSerialization.jsonObject(with: bytes(data.root + "/test.json")) as! [[String: Any]]
        let spoiled = test[0]["id"] as! String
        XCTAssertTrue(hits.contains("\(spoiled).json"))
        try Data(#"{"hits":[{"time":1e18,"visible":true}]}"#.utf8).write(to: URL(fileURLWithPath: "\(data.root)/hits/\(spoiled).json"))
        let r = try Executable.run("thud", ["eval", data.root, "--model", Self.model])
        XCTAssertFalse(r.signaled, r.stderrText)
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertTrue(r.stderrText.contains("clip \(spoiled) not scored") && r.stderrText.contains("out of range"), r.stderrText)
        // NaN cannot be written in JSON; a huge negative one can.
        try Data(#"{"hits":[{"time":-1e300}]}"#.utf8).write(to: URL(fileURLWithPath: "\(data.root)/hits/\(spoiled).json"))
        let negative = try Executable.run("thud", ["eval", data.root, "--model", Self.model])
        XCTAssertEqual(negative.status, 0, negative.stderrText)
        // Training reads the same lists: the clip is left out, named, and the run goes on.
        let prepare = try Executable.run("thud-train", ["prepare", data.root, "--cache", dir.path("hits-cache")])
        XCTAssertFalse(prepare.signaled, prepare.stderrText)
        XCTAssertEqual(prepare.status, 0, prepare.stderrText)
        XCTAssertTrue(prepare.stderrText.contains("out of range"), prepare.stderrText)
    }

    // MARK: 9. every numeric option is checked up front

    func testNumericOptionsOutOfRangeAreOneLineExit64() throws {
        let good = try clip("good.mp4")
        let cases: [(String, [String], String)] = [
            ("thud", ["predict", "--model", Self.model, "--threshold", "-5", good], "--threshold"),
            ("thud", ["predict", "--model", Self.model, "--sensitivity", "nan", good], "--sensitivity"),
            ("thud", ["probe", "--min-duration", "nan", good], "--min-duration"),
            ("thud", ["probe", "--min-duration", "-1", good], "--min-duration"),
            ("thud", ["frames", "--limit=-1", good], "--limit"),
            ("thud", ["frames", "--limit", "0", good], "--limit"),
            ("thud", ["live", "--fps", "0"], "--fps"),
            ("thud", ["eval", dir.url.path, "--constant", "-0.5"], "--constant"),
            ("thud-train", ["train", dir.url.path, "--batch-size", "0"], "--batch-size"),
            ("thud-train", ["train", dir.url.path, "--sequence-length", "0"], "--sequence-length"),
            ("thud-train", ["train", dir.url.path, "--epochs", "0"], "--epochs"),
            ("thud-train", ["train", dir.url.path, "--learning-rate", "-1"], "--learning-rate"),
            ("thud-train", ["train", dir.url.path, "--learning-rate", "inf"], "--learning-rate"),
            ("thud-train", ["prepare", dir.url.path, "--jobs", "0"], "--jobs"),
            ("thud-train", ["prepare", dir.url.path, "--validation-share", "2"], "--validation-share"),
            ("thud-train", ["set-picker", Self.model, "--threshold", "-5"], "--threshold"),
        ]
        for (tool, args, option) in cases {
            let r = try Executable.run(tool, args)
            assertOneLine(r, code: 64, names: option, "\(tool) \(args)")
        }
    }

    // MARK: 11. exit codes and messages

    func testAnMP4OnAPipeWithItsIndexLastIsTheSameMessageForEveryCommand() throws {
        let indexLast = MP4Surgery.indexLast(try bytes(try clip("good.mp4")))
        // As a file it is fine (the index can be sought).
        let asFile = write(indexLast, "index-last.mp4")
        XCTAssertEqual(try Executable.run("thud", ["probe", asFile]).status, 0)
        for args in [["predict", "--model", Self.model, "-"], ["envelope", "-"], ["probe", "-"], ["frames", "--index", "-"]] {
            let r = try Executable.run("thud", args, pipedInput: indexLast)
            assertOneLine(r, code: 12, names: "an MP4 on a pipe needs its index first: -movflags +faststart", "\(args)")
        }
    }

    func testAHugeY4MIsAnAbsurdSizeNotAnUnreadableFile() throws {
        let huge = write(Data("YUV4MPEG2 W60000 H60000 F25:1 Ip A1:1 C420jpeg\nFRAME\n".utf8) + Data(count: 4096), "huge.y4m")
        assertOneLine(try Executable.run("thud", ["frames", "--index", huge]), code: 17, names: huge, "frames huge.y4m")
    }

    func testUnwritableOutputsAre74InOneLineNamingTheFileAndFailBeforeTheRun() throws {
        // A path under a regular file cannot be created by anyone (root included).
        let blocker = write(Data("x".utf8), "blocker")
        let data = try TinyDataset.write(root: dir.path("unwritable-ds"), good: ["train": 2, "validation": 1, "test": 1], seconds: 2)
        let html = try Executable.run("thud", ["eval", data.root, "--model", Self.model, "--html", blocker + "/r.html"])
        assertOneLine(html, code: 74, names: blocker + "/r.html", "eval --html under a file")
        let out = try Executable.run("thud", ["eval", data.root, "--model", Self.model, "--out", blocker + "/r.json"])
        assertOneLine(out, code: 74, names: blocker + "/r.json", "eval --out under a file")

        let cache = try Executable.run("thud-train", ["prepare", data.root, "--cache", blocker + "/cache"])
        XCTAssertEqual(cache.status, 74, cache.stderrText)
        XCTAssertEqual(cache.stderrText.split(separator: "\n").count, 1, cache.stderrText)
        XCTAssertTrue(cache.stderrText.contains(blocker + "/cache"), cache.stderrText)
        XCTAssertFalse(cache.stderrText.contains("NSCocoaErrorDomain"), cache.stderrText)

        let train = try Executable.run("thud-train", ["train", data.root, "--cache", dir.path("unwritable-cache"), "--epochs", "1",
                                                      "--batch-size", "2", "--sequence-length", "12",
                                                      "--out", dir.path("unwritable.thud"), "--checkpoint", blocker + "/c.checkpoint"])
        XCTAssertEqual(train.status, 74, train.stderrText)
        XCTAssertTrue(train.stderrText.contains(blocker + "/c.checkpoint"), train.stderrText)
        XCTAssertFalse(train.stderrText.contains("NSCocoaErrorDomain"), train.stderrText)
    }

    /// A phone's portrait clip is stored sideways with a display matrix: its frames are turned as FFmpeg's tools show
    /// them. The frame counter's bars (bit 7 on the left) read down the middle column after a clockwise quarter turn.
    func testTheDisplayMatrixRotationIsHonoured() throws {
        let good = try bytes(try clip("good.mp4"))
        let w = 32, h = 64
        // Step 5 (5/12 s) shows source frame 10 at 25 fps: 0b00001010.
        func number(turned clockwise: Int) throws -> Int {
            let path = write(MP4Surgery.rotated(good, clockwise: clockwise), "turned-\(clockwise).mp4")
            let size = clockwise == 180 ? "\(h)x\(w)" : "\(w)x\(h)"
            let r = try Executable.run("thud", ["frames", "--size", size, "--limit", "6", path])
            XCTAssertEqual(r.status, 0, r.stderrText)
            let frame = [UInt8](r.stdout.suffix(w * h))
            XCTAssertEqual(frame.count, w * h)
            guard frame.count == w * h else { return -1 }
            var n = 0
            for bit in 0..<8 {
                let along = (bit * h + h / 2) / 8
                let pixel: UInt8
                switch clockwise {
                case 90: pixel = frame[along * w + w / 2]                        // top to bottom
                case 270: pixel = frame[(h - 1 - along) * w + w / 2]             // bottom to top
                default: pixel = frame[(w / 2) * h + (h - 1 - along)]            // 64 wide: right to left
                }
                n = n << 1 | (pixel > 128 ? 1 : 0)
            }
            return n
        }
        XCTAssertEqual(try number(turned: 90), 10)
        XCTAssertEqual(try number(turned: 270), 10)
        XCTAssertEqual(try number(turned: 180), 10)
        let probe = try Executable.run("thud", ["probe", "--json", dir.path("turned-90.mp4")])
        XCTAssertTrue(probe.stdoutText.contains("\"rotation\":90"), probe.stdoutText)
    }

    func testTheHTMLReportNamesTheModelFileNotItsFolder() throws {
        let data = try TinyDataset.write(root: dir.path("html-ds"), good: ["train": 1, "validation": 0, "test": 1], seconds: 2)
        let page = dir.path("report.html")
        let r = try Executable.run("thud", ["eval", data.root, "--model", Self.model, "--html", page])
        XCTAssertEqual(r.status, 0, r.stderrText)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("random.thud"))
        XCTAssertFalse(html.contains(dir.url.path + "/random.thud"), "the page must not carry the local folder")
    }
}

/// Points 8 and 10: a run that diverges writes nothing, and the feature cache checks its entries.
final class TrainingSafetyTests: XCTestCase {
    let dir = TemporaryDirectory("train-safety")

    func testADivergedRunKeepsTheOldModelAndWritesNoCheckpoint() throws {
        let data = try TinyDataset.write(root: dir.path("ds"), good: ["train": 2, "validation": 1], seconds: 2)
        let out = dir.path("good.thud")
        try ModelFile.random(architecture: .default, seed: 9).write(to: out)
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let r = try Executable.run("thud-train", ["train", data.root, "--cache", dir.path("cache"), "--epochs", "2", "--batch-size", "2",
                                                  "--sequence-length", "12", "--learning-rate", "1e30", "--out", out])
        XCTAssertFalse(r.signaled, r.stderrText)
        XCTAssertEqual(r.status, 65, r.stderrText)
        let errorLines = r.stderrText.split(separator: "\n").filter { $0.hasPrefix("thud-train:") }
        XCTAssertEqual(errorLines.count, 1, r.stderrText)
        XCTAssertTrue(errorLines.first?.contains("diverged") == true, r.stderrText)
        XCTAssertFalse(r.stderrText.contains("EncodingError"), r.stderrText)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), before, "the working model must stay")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".checkpoint"))
        XCTAssertNoThrow(try ModelFile.read(path: out))
    }

    func testADamagedCacheEntryIsDecodedAgainWithOneLine() throws {
        let data = try TinyDataset.write(root: dir.path("cache-ds"), good: ["train": 2, "validation": 1, "test": 0], seconds: 2)
        let cache = dir.path("cache")
        let first = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache])
        XCTAssertEqual(first.status, 0, first.stderrText)
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".clip") }.sorted()
        XCTAssertFalse(entries.isEmpty)
        let damaged = cache + "/" + entries[0]
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: damaged)))
        XCTAssertEqual(Array(bytes[8..<12]), [3, 0, 0, 0], "cache version 3")
        bytes[bytes.count / 2] ^= 0x5A   // one frame byte: the sizes still agree, only the checksum can tell
        try Data(bytes).write(to: URL(fileURLWithPath: damaged))
        let second = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache])
        XCTAssertEqual(second.status, 0, second.stderrText)
        let warnings = second.stderrText.split(separator: "\n").filter { $0.contains("damaged cache entry") }
        XCTAssertEqual(warnings.count, 1, second.stderrText)
        XCTAssertTrue(warnings.first?.contains(entries[0]) == true, second.stderrText)
        // Decoded again and written back whole: a third run reads every entry from the cache, silently.
        let third = try Executable.run("thud-train", ["prepare", data.root, "--cache", cache])
        XCTAssertFalse(third.stderrText.contains("damaged"), third.stderrText)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: damaged)).count, bytes.count)
        XCTAssertNotEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: damaged))), bytes)
    }
}
