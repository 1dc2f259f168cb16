import XCTest
import ThudMedia
import ThudTestSupport

/// `thud probe`, `thud envelope` and `thud frames` run as a user runs them: real files, pipes, exit codes.
final class MediaCommandTests: XCTestCase {
    let dir = TemporaryDirectory("e2e")

    func clip(_ name: String = "clip.mp4", seconds: Double = 3, fps: Int = 30) throws -> String {
        let path = dir.path(name)
        if !FileManager.default.fileExists(atPath: path) {
            try FrameCounterClip.write(path: path, times: (0..<Int(seconds * Double(fps))).map { Double($0) / Double(fps) },
                                       nominalFrameRate: Double(fps), audio: AudioEncodeSettings(sampleRate: 44100, channels: 2),
                                       clicks: [0.5, 1.25, 2.5], audioSeconds: seconds)
        }
        return path
    }

    /// Exactly one line on stderr naming the file, nothing on stdout, the documented exit code.
    func assertBad(_ args: [String], code: Int32, names file: String, file sourceFile: StaticString = #filePath, line: UInt = #line) throws {
        let r = try Executable.run("thud", args)
        XCTAssertEqual(r.status, code, "\(args): \(r.stderrText)", file: sourceFile, line: line)
        XCTAssertTrue(r.stdout.isEmpty, "stdout must stay empty for \(args)", file: sourceFile, line: line)
        let errLines = r.stderrText.split(separator: "\n")
        XCTAssertEqual(errLines.count, 1, r.stderrText, file: sourceFile, line: line)
        XCTAssertTrue(r.stderrText.contains(file), r.stderrText, file: sourceFile, line: line)
    }

    func testBadInputsGiveOneLineAndTheirExitCode() throws {
        let missing = dir.path("missing.mp4")
        try assertBad(["envelope", missing], code: 10, names: missing)
        try assertBad(["frames", "--index", dir.url.path], code: 10, names: dir.url.path)
        let empty = dir.path("empty.mkv")
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        try assertBad(["envelope", empty], code: 11, names: empty)
        let text = dir.path("readme.txt")
        XCTAssertTrue(FileManager.default.createFile(atPath: text, contents: Data("just words\n".utf8)))
        try assertBad(["frames", "--index", text], code: 11, names: text)
        let whole = try Data(contentsOf: URL(fileURLWithPath: try clip()))
        let cut = dir.path("cut.mp4")
        XCTAssertTrue(FileManager.default.createFile(atPath: cut, contents: whole.prefix(whole.count * 2 / 3)))
        try assertBad(["frames", "--index", cut], code: 12, names: cut)
        try assertBad(["envelope", cut], code: 12, names: cut)
        let silentMovie = dir.path("no-audio.mp4")
        try FrameCounterClip.write(path: silentMovie, times: (0..<30).map { Double($0) / 30 }, nominalFrameRate: 30)
        try assertBad(["envelope", silentMovie], code: 14, names: silentMovie)
        let audioOnly = dir.path("audio.m4a")
        let writer = try MediaWriter(path: audioOnly, video: nil, audio: AudioEncodeSettings(sampleRate: 44100, channels: 1))
        try FrameCounterClip.clickTrack(rate: 44100, channels: 1, seconds: 1, clicks: [0.2]).withUnsafeBufferPointer { try writer.writeAudio(interleaved: $0) }
        try writer.finish()
        try assertBad(["frames", "--index", audioOnly], code: 13, names: audioOnly)
        var y4m = Data("YUV4MPEG2 W9000 H90 F25:1 Ip A1:1 C420jpeg\nFRAME\n".utf8)
        y4m.append(Data(count: 9000 * 90 * 3 / 2))
        let wide = dir.path("wide.y4m")
        XCTAssertTrue(FileManager.default.createFile(atPath: wide, contents: y4m))
        try assertBad(["frames", "--index", wide], code: 17, names: wide)
        // Not on stdin either: a text stream through a pipe.
        let r = try Executable.run("thud", ["envelope", "-"], stdinFile: text)
        XCTAssertEqual(r.status, 11)
        XCTAssertTrue(r.stdout.isEmpty)
        XCTAssertTrue(r.stderrText.hasPrefix("thud: stdin: "), r.stderrText)
    }

    func testProbeReportsAndJudgesUsability() throws {
        let good = try Executable.run("thud", ["probe", "--json", try clip()])
        XCTAssertEqual(good.status, 0, good.stderrText)
        let object = try JSONSerialization.jsonObject(with: good.stdout) as! [String: Any]
        XCTAssertEqual(object["usable"] as? Bool, true)
        XCTAssertEqual((object["video"] as? [String: Any])?["width"] as? Int, 160)
        XCTAssertEqual((object["audio"] as? [String: Any])?["sample_rate"] as? Int, 44100)
        let silentMovie = dir.path("no-audio.mp4")
        try FrameCounterClip.write(path: silentMovie, times: (0..<30).map { Double($0) / 30 }, nominalFrameRate: 30)
        let bad = try Executable.run("thud", ["probe", silentMovie])
        XCTAssertEqual(bad.status, 14)
        XCTAssertTrue(bad.stdoutText.contains("usable:    no: no audio stream"), bad.stdoutText)
    }

    func testEnvelopeLinesAreTheDocumentedJSON() throws {
        let r = try Executable.run("thud", ["envelope", try clip()])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(r.lines.count, 36)
        for (k, line) in r.lines.enumerated() {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Double]
            XCTAssertEqual(Set(o.keys), ["t", "envelope", "db"])
            XCTAssertEqual(o["t"]!, Double(k) / 12, accuracy: 1e-6)
            XCTAssertTrue((0...1).contains(o["envelope"]!))
        }
        let csv = try Executable.run("thud", ["envelope", "--format", "csv", try clip()])
        XCTAssertEqual(csv.lines.first, "t,envelope,db")
        XCTAssertEqual(csv.lines.count, 37)
    }

    func testStdinAndFileGiveIdenticalOutput() throws {
        let mp4 = try clip()
        let mkv = dir.path("clip.mkv")
        try FrameCounterClip.write(path: mkv, times: (0..<75).map { Double($0) / 25 }, codec: .mpeg4, nominalFrameRate: 25,
                                   audio: AudioEncodeSettings(sampleRate: 48000, channels: 1, codec: .flac), clicks: [1, 2], audioSeconds: 3)
        for path in [mp4, mkv] {
            for args in [["envelope"], ["frames", "--index"], ["frames", "--size", "24x16"]] {
                let fromFile = try Executable.run("thud", args + [path])
                let fromPipe = try Executable.run("thud", args + ["-"], stdinFile: path)
                XCTAssertEqual(fromFile.status, 0, fromFile.stderrText)
                XCTAssertEqual(fromPipe.status, 0, fromPipe.stderrText)
                XCTAssertFalse(fromFile.stdout.isEmpty)
                XCTAssertEqual(fromFile.stdout, fromPipe.stdout, "\(args) \(path)")
            }
        }
    }

    /// Output starts while the input is still arriving: feed half a Matroska stream, read a step, then the rest.
    func testPipeOutputStartsBeforeTheInputEnds() throws {
        let path = dir.path("long.mkv")
        try FrameCounterClip.write(path: path, times: (0..<600).map { Double($0) / 30 }, width: 320, height: 240,
                                   nominalFrameRate: 30, audio: AudioEncodeSettings(sampleRate: 44100, channels: 1), clicks: [1], audioSeconds: 20)
        let r = try Executable.feedHalfThenRest("thud", ["frames", "--index", "-"], input: try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertTrue(String(decoding: r.early, as: UTF8.self).hasPrefix("{\"step\": 0,"), String(decoding: r.early, as: UTF8.self))
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(String(decoding: r.all, as: UTF8.self).split(separator: "\n").count, 240)
    }

    func testCorruptMiddleWarnsOnceAndKeepsGoing() throws {
        let path = dir.path("corrupt.mkv")
        try FrameCounterClip.write(path: path, times: (0..<90).map { Double($0) / 30 }, codec: .mpeg4, nominalFrameRate: 30)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        for i in data.count / 2..<data.count / 2 + 600 { data[i] = UInt8(truncatingIfNeeded: i &* 151) }
        try data.write(to: URL(fileURLWithPath: path))
        let r = try Executable.run("thud", ["frames", "--index", path])
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertGreaterThan(r.lines.count, 30)
        let warnings = r.stderrText.split(separator: "\n")
        XCTAssertGreaterThanOrEqual(warnings.count, 1)
        XCTAssertLessThanOrEqual(warnings.count, 2)
        XCTAssertTrue(warnings.allSatisfy { $0.contains(path) && $0.contains("warning") }, r.stderrText)
    }
}
