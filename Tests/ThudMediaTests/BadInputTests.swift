import XCTest
import ThudMedia
import ThudTestSupport

/// Each bad input gives a MediaError of a documented kind whose message names the file; never a crash.
final class BadInputTests: XCTestCase {
    let dir = TemporaryDirectory("bad")

    func expect(_ kind: MediaError.Kind, _ path: String, video: Bool = true, audio: Bool = false,
                file: StaticString = #filePath, line: UInt = #line) {
        do {
            let input = try MediaInput(path: path)
            _ = try input.decode(video: video ? VideoStepRequest(width: 32, height: 32) : nil, audio: audio)
            XCTFail("\(path) was accepted", file: file, line: line)
        } catch let error as MediaError {
            XCTAssertEqual(error.kind, kind, error.message, file: file, line: line)
            XCTAssertTrue(error.message.hasPrefix(path), error.message, file: file, line: line)
            XCTAssertFalse(error.message.contains("\n"), file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    func testMissingFile() { expect(.notFound, dir.path("nope.mp4")) }
    func testDirectory() { expect(.notFound, dir.url.path) }

    func testEmptyFile() {
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.path("empty.mp4"), contents: Data()))
        expect(.notMedia, dir.path("empty.mp4"))
    }

    func testTextFile() {
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.path("notes.txt"), contents: Data("hello, this is not a video\n".utf8)))
        expect(.notMedia, dir.path("notes.txt"))
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.path("notes.mp4"), contents: Data(String(repeating: "lorem ipsum ", count: 500).utf8)))
        expect(.notMedia, dir.path("notes.mp4"))
    }

    func testTruncatedMP4() throws {
        let path = dir.path("whole.mp4")
        try FrameCounterClip.write(path: path, times: (0..<60).map { Double($0) / 30 }, nominalFrameRate: 30,
                                   audio: AudioEncodeSettings(sampleRate: 44100, channels: 1), clicks: [1])
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        // faststart: the index is at the front, so a cut keeps it and loses media data.
        let cut = dir.path("cut.mp4")
        XCTAssertTrue(FileManager.default.createFile(atPath: cut, contents: data.prefix(data.count / 2)))
        expect(.truncated, cut)
        // Cut inside the index itself.
        let cutEarly = dir.path("cut-early.mp4")
        XCTAssertTrue(FileManager.default.createFile(atPath: cutEarly, contents: data.prefix(300)))
        expect(.truncated, cutEarly)
    }

    func testNoVideoStream() throws {
        let path = dir.path("audio-only.m4a")
        let writer = try MediaWriter(path: path, video: nil, audio: AudioEncodeSettings(sampleRate: 44100, channels: 1))
        let samples = FrameCounterClip.clickTrack(rate: 44100, channels: 1, seconds: 1, clicks: [0.5])
        try samples.withUnsafeBufferPointer { try writer.writeAudio(interleaved: $0) }
        try writer.finish()
        expect(.noVideo, path)
        // ...while its envelope is fine.
        XCTAssertNoThrow(try MediaInput(path: path).decode(video: nil, audio: true))
    }

    func testNoAudioStreamForTheEnvelope() throws {
        let path = dir.path("silent-movie.mp4")
        try FrameCounterClip.write(path: path, times: (0..<30).map { Double($0) / 30 }, nominalFrameRate: 30)
        expect(.noAudio, path, video: false, audio: true)
        XCTAssertEqual(ClipCheck.run(path: path).problem?.kind, .noAudio)
    }

    func testAbsurdDimensions() throws {
        // A raw YUV4MPEG stream declaring a 16000x16 picture.
        var data = Data("YUV4MPEG2 W16000 H16 F30:1 Ip A1:1 C420jpeg\nFRAME\n".utf8)
        data.append(Data(count: 16000 * 16 * 3 / 2))
        let path = dir.path("wide.y4m")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: data))
        expect(.unsupported, path)
    }

    func testGarbledAudioIsUnusableButTheVideoStillDecodes() throws {
        let path = dir.path("garbled.mp4")
        try FrameCounterClip.write(path: path, times: (0..<60).map { Double($0) / 30 }, nominalFrameRate: 30,
                                   audio: AudioEncodeSettings(sampleRate: 44100, channels: 1, garblePackets: true), clicks: [1])
        XCTAssertEqual(ClipCheck.run(path: path).problem?.kind, .audioUnusable)
        var steps = 0
        _ = try MediaInput(path: path).decode(video: VideoStepRequest(width: 32, height: 32), audio: false, onStep: { _ in steps += 1; return true })
        XCTAssertEqual(steps, 24)
    }

    func testCorruptPacketsInTheMiddleWarnOnceAndGoOn() throws {
        let path = dir.path("corrupt.mkv")
        try FrameCounterClip.write(path: path, times: (0..<90).map { Double($0) / 30 }, codec: .mpeg4, nominalFrameRate: 30)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        // Scribble over a stretch in the middle of the media data.
        let start = data.count / 2
        for i in start..<start + 600 { data[i] = UInt8(truncatingIfNeeded: i &* 151) }
        try data.write(to: URL(fileURLWithPath: path))
        var warnings: [String] = []
        var steps = 0
        let summary = try MediaInput(path: path).decode(video: VideoStepRequest(width: 32, height: 32), audio: false,
                                                        warn: { warnings.append($0) }) { _ in steps += 1; return true }
        XCTAssertGreaterThan(steps, 30)
        XCTAssertGreaterThanOrEqual(warnings.count, 1)
        XCTAssertGreaterThan(summary.corruptVideoPackets, 0)
        XCTAssertLessThanOrEqual(warnings.count, 2)   // at most once per kind (decode, read)
        XCTAssertEqual(Set(warnings).count, warnings.count)
        _ = summary
    }

    func testClipCheckAcceptsAGoodClipAndRejectsSilenceAndShortness() throws {
        let good = dir.path("good.mp4")
        try FrameCounterClip.write(path: good, times: (0..<60).map { Double($0) / 30 }, nominalFrameRate: 30,
                                   audio: AudioEncodeSettings(sampleRate: 44100, channels: 2), clicks: [0.5, 1.5])
        XCTAssertNil(ClipCheck.run(path: good).problem)
        let silent = dir.path("silent.mp4")
        try FrameCounterClip.write(path: silent, times: (0..<60).map { Double($0) / 30 }, nominalFrameRate: 30,
                                   audio: AudioEncodeSettings(sampleRate: 44100, channels: 1), clicks: [])
        XCTAssertEqual(ClipCheck.run(path: silent).problem?.kind, .audioUnusable)
        let short = dir.path("short.mp4")
        try FrameCounterClip.write(path: short, times: (0..<10).map { Double($0) / 30 }, nominalFrameRate: 30,
                                   audio: AudioEncodeSettings(sampleRate: 44100, channels: 1), clicks: [0.1], audioSeconds: 0.33)
        XCTAssertEqual(ClipCheck.run(path: short).problem?.kind, .tooShort)
    }
}
