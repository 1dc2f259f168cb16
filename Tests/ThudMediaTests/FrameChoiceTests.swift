import XCTest
import ThudMedia
import ThudTestSupport

/// Step k must show the latest frame whose presentation time is ≤ k/12 s, for every common frame rate and
/// for variable frame rate. Each test clip carries its frame number in the picture.
final class FrameChoiceTests: XCTestCase {
    let dir = TemporaryDirectory("frames")

    struct Decoded { var index: Int; var time: Double; var sourceFrame: Int; var counter: Int }

    func decodeSteps(_ path: String, size: Int = 96) throws -> (steps: [Decoded], summary: DecodeSummary) {
        let input = try MediaInput(path: path)
        var steps: [Decoded] = []
        let summary = try input.decode(video: VideoStepRequest(width: size, height: size), audio: false, onStep: { step in
            steps.append(Decoded(index: step.index, time: step.time, sourceFrame: step.sourceFrameNumber,
                                 counter: FrameCounterClip.read(gray: step.pixels, width: step.width, height: step.height)))
            return true
        })
        return (steps, summary)
    }

    /// Checks every step against frame times given as exact ratios num_i/den.
    func check(path: String, tickTimes: [Int], ticksPerSecond: Int, expectedSteps: ClosedRange<Int>,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let (steps, _) = try decodeSteps(path)
        XCTAssertTrue(expectedSteps.contains(steps.count), "\(path): \(steps.count) steps, expected \(expectedSteps)", file: file, line: line)
        for (k, step) in steps.enumerated() {
            XCTAssertEqual(step.index, k, file: file, line: line)
            XCTAssertEqual(step.time, Double(k) / 12, accuracy: 1e-12, file: file, line: line)
            // latest i with t_i ≤ k/12  ⟺  12·ticks_i ≤ k·ticksPerSecond
            let expected = tickTimes.lastIndex(where: { 12 * $0 <= k * ticksPerSecond }) ?? 0
            XCTAssertEqual(step.sourceFrame, expected, "step \(k) of \(path)", file: file, line: line)
            XCTAssertEqual(step.counter, expected % 256, "picture of step \(k) of \(path)", file: file, line: line)
        }
    }

    func testConstantFrameRates() throws {
        // (fps as num/den, seconds) for 15, 24, 25, 29.97, 30 and 60 fps.
        let rates: [(Int, Int)] = [(15, 1), (24, 1), (25, 1), (30000, 1001), (30, 1), (60, 1)]
        for (num, den) in rates {
            let seconds = 2.5
            let count = Int(seconds * Double(num) / Double(den))
            // Times in the writer's 1/30000 s ticks, which represent all of these rates exactly.
            let ticks = (0..<count).map { $0 * den * 30000 / num }
            let path = dir.path("cfr-\(num)-\(den).mp4")
            try FrameCounterClip.write(path: path, times: ticks.map { Double($0) / 30000 }, nominalFrameRate: Double(num) / Double(den))
            // The clip ends when its last frame does: count/fps seconds; every k with k/12 < that is a step.
            let end = Double(count * den) / Double(num)
            let expected = Int((end * 12 - 1e-9).rounded(.up))
            try check(path: path, tickTimes: ticks, ticksPerSecond: 30000, expectedSteps: expected...expected)
        }
    }

    func testVariableFrameRate() throws {
        // Irregular gaps of 10–120 ms (whole milliseconds: Matroska's time base represents them exactly).
        var state: UInt64 = 7
        var ms: [Int] = [0]
        while ms.last! < 3000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            ms.append(ms.last! + 10 + Int(state >> 33) % 111)
        }
        let path = dir.path("vfr.mkv")
        try FrameCounterClip.write(path: path, times: ms.map { Double($0) / 1000 }, nominalFrameRate: 20)
        let last = Double(ms.last!) / 1000
        let lo = Int((last * 12).rounded(.up)), hi = Int(((last + 0.121) * 12).rounded(.up))
        try check(path: path, tickTimes: ms, ticksPerSecond: 1000, expectedSteps: lo...hi)
    }

    func testOtherCodecsAndContainers() throws {
        let cases: [(VideoCodecChoice, String)] = [(.mpeg4, "avi"), (.vp8, "webm"), (.vp9, "mkv"), (.mjpeg, "mov"), (.h264, "mkv")]
        for (codec, ext) in cases {
            let ticks = (0..<50).map { $0 * 1200 }   // 25 fps in 1/30000 ticks
            let path = dir.path("codec-\(codec.rawValue).\(ext)")
            try FrameCounterClip.write(path: path, times: ticks.map { Double($0) / 30000 }, codec: codec, nominalFrameRate: 25)
            try check(path: path, tickTimes: ticks, ticksPerSecond: 30000, expectedSteps: 24...24)
        }
    }

    func testRGBStepsHonourTheRequestedSize() throws {
        let path = dir.path("rgb.mp4")
        try FrameCounterClip.write(path: path, times: (0..<24).map { Double($0) / 24 }, width: 320, height: 240, nominalFrameRate: 24)
        let input = try MediaInput(path: path)
        var sizes: [Int] = []
        _ = try input.decode(video: VideoStepRequest(width: 50, height: 30, pixelFormat: .rgb24), audio: false, onStep: { step in
            sizes.append(step.pixels.count)
            XCTAssertEqual(step.bytesPerRow, 150)
            return true
        })
        XCTAssertEqual(sizes, Array(repeating: 50 * 30 * 3, count: 12))
    }

    func testStoppingEarly() throws {
        let path = dir.path("stop.mp4")
        try FrameCounterClip.write(path: path, times: (0..<60).map { Double($0) / 30 }, nominalFrameRate: 30)
        let input = try MediaInput(path: path)
        var seen = 0
        let summary = try input.decode(video: VideoStepRequest(width: 32, height: 32), audio: false, onStep: { _ in
            seen += 1
            return seen < 5
        })
        XCTAssertEqual(seen, 5)
        XCTAssertTrue(summary.stoppedEarly)
    }
}
