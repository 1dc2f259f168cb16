import Foundation
import XCTest
import ThudBase
import ThudSound
import ThudSoundTestSupport

/// Capture through real alsa-lib with no sound card: `default` is the file plugin over `null` with an `infile`
/// holding clicks at known times, so what AlsaCapture delivers, and when it says each sample was heard, can be
/// checked against the file.
final class AlsaCaptureFileTests: XCTestCase {
    static let rate = 48_000
    static let clickTimes = [0.5, 1.25, 2.0]

    /// 2.5 s of silence with a 1 ms click (alternating ±20000) at each of `clickTimes`.
    static func clicks() -> [Int16] {
        var s = [Int16](repeating: 0, count: rate * 5 / 2)
        for t in clickTimes {
            let i = Int(t * Double(rate))
            for k in 0..<48 { s[i + k] = k % 2 == 0 ? 20_000 : -20_000 }
        }
        return s
    }

    func testClicksComeOutAtTheirTimesOnTheMonotonicClock() throws {
        let fixture = try AlsaFileFixture(name: "capture", captureInput: Self.clicks())
        defer { fixture.tearDown() }
        let capture = try AlsaCapture(settings: CaptureAudioSettings(device: "default", sampleRate: Self.rate, channels: 1))
        XCTAssertEqual(capture.sampleRate, Self.rate)
        XCTAssertEqual(capture.channels, 1)
        let started = MonotonicClock.seconds()
        try capture.start()
        var firstTime: Double?
        var expectedNext: Double?
        var frames = 0
        var found: [Double] = []
        var previous: Float = 0
        let deadline = MonotonicClock.seconds() + 60   // guards a hang only
        while frames < Self.rate * 23 / 10, MonotonicClock.seconds() < deadline {
            guard let block = try capture.nextBlock(timeout: 1) else { continue }
            if firstTime == nil { firstTime = block.time }
            if let expectedNext {
                // file over null is paced by the clock: every block follows the last without a gap or an overlap.
                XCTAssertEqual(block.time, expectedNext, accuracy: 1e-6)
            }
            expectedNext = block.time + Double(block.frames) / Double(Self.rate)
            for i in 0..<block.frames {
                let v = block.samples[i]
                if abs(v) > 0.3 && abs(previous) <= 0.3 { found.append(block.time + Double(i) / Double(Self.rate) - firstTime!) }
                previous = v
            }
            frames += block.frames
        }
        let elapsed = MonotonicClock.seconds() - started
        capture.stop()
        XCTAssertTrue(capture.pacedByWallClock, "file over null never waits: the clock must pace it")
        XCTAssertEqual(found.count, Self.clickTimes.count, "clicks found at \(found)")
        for (got, want) in zip(found, Self.clickTimes) {
            XCTAssertEqual(got, want, accuracy: 0.001, "a click is stamped where the file has it")
        }
        // Paced, not read as fast as the CPU allows: 2.3 s of audio cannot come in much less than 2.3 s.
        XCTAssertGreaterThan(elapsed, 2.0)
        XCTAssertEqual(capture.statistics.overruns, 0)
        XCTAssertGreaterThanOrEqual(capture.statistics.frames, frames)
        // The stamps are on CLOCK_MONOTONIC, the clock of V4L2's frames: near the moment capture started.
        XCTAssertEqual(firstTime!, started, accuracy: 1.0)
    }

    func testADeviceThatCannotBeOpenedIsOneLineAndExit41() throws {
        let fixture = try AlsaFileFixture(name: "nodev")
        defer { fixture.tearDown() }
        XCTAssertThrowsError(try AlsaCapture(settings: CaptureAudioSettings(device: "no_such_pcm_here"))) { error in
            guard let e = error as? SoundError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.exitCode, 41)
            XCTAssertTrue(e.message.contains("no_such_pcm_here"), e.message)
            XCTAssertTrue(e.message.contains("capture"), e.message)
            XCTAssertFalse(e.message.contains("\n"))
        }
    }

    func testStopEndsTheThreadAndQueuedBlocksStayReadable() throws {
        let fixture = try AlsaFileFixture(name: "stop", captureInput: Self.clicks())
        defer { fixture.tearDown() }
        let capture = try AlsaCapture(settings: CaptureAudioSettings(device: "default"))
        try capture.start()
        usleep(300_000)
        capture.stop()
        var blocks = 0
        while try capture.nextBlock(timeout: 0) != nil { blocks += 1 }
        XCTAssertGreaterThan(blocks, 0)
        XCTAssertNil(try capture.nextBlock(timeout: 0.1), "nothing more after stop, no hang")
    }
}
