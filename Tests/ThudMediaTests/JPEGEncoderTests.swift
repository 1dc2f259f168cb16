// The JPEG encoder (a feed's picture for the web page, a hit's snapshot): FFmpeg reads back what it wrote, the
// picture it wrote, and a bad size is refused.
import Foundation
import ThudMedia
import ThudTestSupport
import XCTest

final class JPEGEncoderTests: XCTestCase {
    func testAGrayFrameComesBackAsThatFrame() throws {
        let (w, h) = (96, 64)
        // A horizontal ramp with a bright square: something a codec could get wrong in position or level.
        var gray = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { gray[y * w + x] = (x >= 40 && x < 56 && y >= 24 && y < 40) ? 250 : UInt8(x * 2) } }
        let encoder = try JPEGEncoder(width: w, height: h)
        var jpegs: [[UInt8]] = []
        for _ in 0..<3 { jpegs.append(try gray.withUnsafeBufferPointer { try encoder.encode(gray: $0) }) }
        XCTAssertEqual(jpegs[0], jpegs[2], "the same frame gives the same bytes every time")
        XCTAssertEqual(Array(jpegs[0].prefix(2)), [0xFF, 0xD8], "a JPEG starts with SOI")
        XCTAssertEqual(Array(jpegs[0].suffix(2)), [0xFF, 0xD9], "and ends with EOI")
        XCTAssertLessThan(jpegs[0].count, 8000)

        let dir = TemporaryDirectory()
        let file = dir.url.appendingPathComponent("p.jpg")
        try Data(jpegs[0]).write(to: file)
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ffmpeg.arguments = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", file.path, "-f", "rawvideo", "-pix_fmt", "gray", "-"]
        let out = Pipe()
        ffmpeg.standardOutput = out
        try ffmpeg.run()
        let back = [UInt8](out.fileHandleForReading.readDataToEndOfFile())
        ffmpeg.waitUntilExit()
        XCTAssertEqual(ffmpeg.terminationStatus, 0)
        XCTAssertEqual(back.count, w * h, "FFmpeg reads a \(w)x\(h) picture back")
        guard back.count == w * h else { return }
        let meanError = zip(back, gray).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(w * h)
        XCTAssertLessThan(meanError, 4, "the picture is the frame (mean absolute error \(meanError))")
        XCTAssertGreaterThan(back[32 * w + 48], 200, "the bright square is where it was")
        XCTAssertLessThan(back[32 * w + 8], 40, "and the dark end of the ramp too")
    }

    func testAnOddSizeIsRefused() {
        XCTAssertThrowsError(try JPEGEncoder(width: 95, height: 64))
        let encoder = try? JPEGEncoder(width: 16, height: 16)
        XCTAssertThrowsError(try [UInt8](repeating: 0, count: 10).withUnsafeBufferPointer { try encoder!.encode(gray: $0) })
    }
}
