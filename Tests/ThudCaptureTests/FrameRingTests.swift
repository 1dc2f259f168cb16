import XCTest
@testable import ThudMedia
import ThudBase

/// The ring's newest-wins policy and the 12 Hz consumer clock, without any device: frames get
/// synthetic timestamps and the stepper is polled at chosen times, so every case is exact.
final class FrameRingTests: XCTestCase {
    let w = 4, h = 2

    /// A frame whose every pixel is `value`, so a taken frame shows which push it came from.
    func frame(_ value: UInt8) -> [UInt8] { [UInt8](repeating: value, count: w * h) }

    func push(_ ring: FrameRing, _ value: UInt8, at t: Double, seq: UInt32? = nil) {
        frame(value).withUnsafeBufferPointer { ring.push($0.baseAddress!, timestamp: t, sequence: seq ?? UInt32(value)) }
    }

    func take(_ ring: FrameRing, at t: Double) -> (FrameRing.Taken, UInt8)? {
        var out = [UInt8](repeating: 0, count: w * h)
        guard let taken = out.withUnsafeMutableBufferPointer({ ring.take(atOrBefore: t, into: $0.baseAddress!) }) else { return nil }
        XCTAssertTrue(out.allSatisfy { $0 == out[0] }, "a frame was torn")
        return (taken, out[0])
    }

    func testTakesNewestFrameAtOrBeforeTimeNeverAFutureOne() {
        let ring = FrameRing(capacity: 8, width: w, height: h)
        XCTAssertNil(take(ring, at: 10), "empty ring")
        push(ring, 1, at: 1.0)
        push(ring, 2, at: 1.1)
        push(ring, 3, at: 1.2)
        XCTAssertNil(take(ring, at: 0.99), "every frame is in the future")
        XCTAssertEqual(take(ring, at: 1.0)?.1, 1, "a frame exactly at the time counts")
        XCTAssertEqual(take(ring, at: 1.15)?.1, 2)
        XCTAssertEqual(take(ring, at: 5)?.1, 3)
        XCTAssertEqual(take(ring, at: 1.15)?.0.timestamp, 1.1)
    }

    func testCountsDecimatedAndRepeatedFrames() {
        let ring = FrameRing(capacity: 8, width: w, height: h)
        for v in 0..<5 { push(ring, UInt8(v), at: Double(v)) }
        XCTAssertEqual(take(ring, at: 3.5)?.1, 3)               // frames 0,1,2 were never used: decimated
        XCTAssertEqual(ring.counters.decimated, 3)
        XCTAssertEqual(take(ring, at: 3.9)?.0.repeated, true)  // same frame again: a repeat
        XCTAssertEqual(ring.counters.repeats, 1)
        XCTAssertEqual(take(ring, at: 4)?.1, 4)
        XCTAssertEqual(ring.counters.decimated, 3, "used frames are not counted again")
    }

    func testFullRingOverwritesOldestAndCountsUnusedOnes() {
        let ring = FrameRing(capacity: 3, width: w, height: h)
        push(ring, 0, at: 0)
        XCTAssertEqual(take(ring, at: 0)?.1, 0)
        for v in 1...5 { push(ring, UInt8(v), at: Double(v)) }  // 0 (used), 1, 2 overwritten
        XCTAssertEqual(ring.counters.decimated, 2)
        XCTAssertNil(take(ring, at: 2.5), "frames 1 and 2 are gone; frame 3 would be from the future")
        XCTAssertEqual(take(ring, at: 10)?.1, 5)
        XCTAssertEqual(ring.counters.pushed, 6)
    }

    func testTimestampGoingBackwardsIsMovedAfterTheNewest() {
        let ring = FrameRing(capacity: 4, width: w, height: h)
        push(ring, 1, at: 2.0)
        push(ring, 2, at: 1.0)
        XCTAssertEqual(ring.counters.reorderedTimestamps, 1)
        XCTAssertEqual(take(ring, at: 1.5)?.1, nil)
        XCTAssertEqual(take(ring, at: 2.1)?.1, 2)
    }

    // MARK: the 12 Hz stepper

    func step(_ stepper: LiveStepper, at now: Double, file: StaticString = #filePath, line: UInt = #line) -> CapturedStep? {
        switch try? stepper.poll(now: now) {
        case .step(let s)?: return s
        default: XCTFail("no step due at \(now)", file: file, line: line); return nil
        }
    }

    func testStepsRunAt12HzOnTheFramesClockAndTakeTheNewestCausalFrame() throws {
        let ring = FrameRing(capacity: 8, width: w, height: h)
        let stepper = LiveStepper(ring: ring)
        let t0 = 100.0
        var nextFrame = 0
        func pushFramesUpTo(_ now: Double, fps: Double) {
            while t0 + Double(nextFrame) / fps <= now + 1e-12 {
                push(ring, UInt8(truncatingIfNeeded: nextFrame), at: t0 + Double(nextFrame) / fps, seq: UInt32(nextFrame))
                nextFrame += 1
            }
        }
        pushFramesUpTo(t0, fps: 30)
        for k in 0..<36 {
            let target = t0 + Double(k) / 12
            pushFramesUpTo(target + 0.01, fps: 30)   // frames up to 10 ms in the future are already in
            let s = try XCTUnwrap(step(stepper, at: target))
            XCTAssertEqual(s.index, k)
            XCTAssertEqual(s.time, Double(k) / 12, accuracy: 1e-12)
            XCTAssertLessThanOrEqual(s.frameTimestamp, target + 1e-12, "causal")
            let newest = Int((Double(k) / 12 * 30 + 1e-9).rounded(.down))
            XCTAssertEqual(Int(s.sequence), newest, "newest frame at or before step \(k)")
            XCTAssertEqual(s.skippedNow, 0)
            XCTAssertFalse(s.repeated)
        }
        if case .waitUntil(let t)? = try? stepper.poll(now: t0 + 36.0 / 12 - 0.001) {
            XCTAssertEqual(t, t0 + 36.0 / 12, accuracy: 1e-9, "the next step waits for its time")
        } else { XCTFail("step 36 is not due yet") }
    }

    func testCameraRateDropDoesNotMoveTheOutputClock() throws {
        // Auto-exposure lowers the camera rate: 30 fps for 1 s, then 7.5 fps.
        let ring = FrameRing(capacity: 8, width: w, height: h)
        let stepper = LiveStepper(ring: ring)
        var times: [Double] = (0..<30).map { Double($0) / 30 }
        times += (0..<23).map { 1.0 + Double($0) / 7.5 }
        var pushed = 0
        var repeats = 0
        for k in 0..<48 {
            let target = Double(k) / 12
            while pushed < times.count && times[pushed] <= target + 1e-12 { push(ring, UInt8(pushed % 250), at: times[pushed], seq: UInt32(pushed)); pushed += 1 }
            let s = try XCTUnwrap(step(stepper, at: target))
            XCTAssertEqual(s.index, k)
            XCTAssertEqual(s.time, target, accuracy: 1e-12)
            XCTAssertEqual(s.frameTimestamp, times[pushed - 1], "newest frame at or before the step")
            if s.repeated { repeats += 1 }
        }
        XCTAssertGreaterThan(repeats, 10, "at 7.5 fps some 12 Hz steps must reuse a frame")
        XCTAssertEqual(ring.counters.repeats, repeats)
    }

    func testLateConsumerSkipsStaleStepsAndServesTheNewestFrame() throws {
        let ring = FrameRing(capacity: 8, width: w, height: h)
        let stepper = LiveStepper(ring: ring)
        push(ring, 0, at: 0, seq: 0)
        XCTAssertEqual(step(stepper, at: 0)?.index, 0)
        for i in 1...25 { push(ring, UInt8(i), at: Double(i) / 50, seq: UInt32(i)) }    // 50 fps up to 0.5 s
        // Inference took 0.45 s: steps 1…4 are stale, step 5 (t = 0.4167) is the newest due.
        let s = try XCTUnwrap(step(stepper, at: 0.45))
        XCTAssertEqual(s.index, 5)
        XCTAssertEqual(s.skippedNow, 4)
        XCTAssertEqual(s.skippedSteps, 4)
        XCTAssertEqual(s.sequence, 20, "newest frame at or before 5/12 s, not one from after it")
        XCTAssertEqual(s.latency, 0.45 - 0.4, accuracy: 1e-9)
        XCTAssertEqual(step(stepper, at: 0.5)?.index, 6)
        XCTAssertEqual(stepper.skippedSteps, 4)
    }

    func testWhenTheRingHoldsOnlyNewerFramesTheStepWaitsForTheFirstCausalOne() throws {
        let ring = FrameRing(capacity: 2, width: w, height: h)
        let stepper = LiveStepper(ring: ring)
        push(ring, 0, at: 0)
        XCTAssertEqual(step(stepper, at: 0)?.index, 0)
        for i in 1...4 { push(ring, UInt8(i), at: 0.05 + Double(i) * 0.1) }   // ring keeps 0.35 and 0.45
        // Step 1 (0.083) and 2..4 have no frame left at or before them; step 5 (0.4167) has 0.35.
        let s = try XCTUnwrap(step(stepper, at: 0.46))
        XCTAssertEqual(s.index, 5)
        XCTAssertEqual(s.frameTimestamp, 0.35, accuracy: 1e-12)
        XCTAssertLessThanOrEqual(s.frameTimestamp, s.time)
        XCTAssertEqual(s.skippedNow, 4, "steps 1…4 are reported as skipped on the step served")
        XCTAssertEqual(s.skippedSteps, 4)
    }

    func testErrorsAndStopReachTheConsumer() throws {
        let ring = FrameRing(capacity: 4, width: w, height: h)
        let stepper = LiveStepper(ring: ring)
        XCTAssertEqual(try stepper.poll(now: 0), .waitUntil(.infinity), "no frame yet")
        ring.fail(CaptureError(.deviceLost, device: "/dev/video9", "device lost while streaming"))
        XCTAssertThrowsError(try stepper.poll(now: 0)) { error in
            XCTAssertEqual((error as? CaptureError)?.exitCode, 31)
            XCTAssertEqual((error as? CaptureError)?.message, "/dev/video9: device lost while streaming")
        }
        let ring2 = FrameRing(capacity: 4, width: w, height: h)
        let stepper2 = LiveStepper(ring: ring2)
        ring2.finish()
        XCTAssertNil(try stepper2.nextStep(timeout: 1))
    }

    func testNextStepGivesUpWhenNothingArrives() {
        let stepper = LiveStepper(ring: FrameRing(capacity: 4, width: w, height: h))
        let start = MonotonicClock.seconds()
        XCTAssertThrowsError(try stepper.nextStep(timeout: 0.2, device: "/dev/video7")) { error in
            XCTAssertEqual((error as? CaptureError)?.kind, .stalled)
            XCTAssertEqual((error as? CaptureError)?.exitCode, 31)
        }
        XCTAssertLessThan(MonotonicClock.seconds() - start, 2, "never a hang")
    }

    /// Real threads and the real clock: a producer at 30 fps, a consumer that blocks in nextStep and
    /// once stalls for 300 ms. Only robust properties are asserted (the machine is shared).
    func testThreadedProducerAndConsumer() throws {
        let ring = FrameRing(capacity: 8, width: w, height: h)
        let stepper = LiveStepper(ring: ring)
        let producer = Thread { [w, h] in
            var pixels = [UInt8](repeating: 0, count: w * h)
            for i in 0..<90 {
                for j in pixels.indices { pixels[j] = UInt8(i % 250) }
                pixels.withUnsafeBufferPointer { ring.push($0.baseAddress!, timestamp: MonotonicClock.seconds(), sequence: UInt32(i)) }
                usleep(33_333)
            }
            ring.finish()
        }
        producer.start()
        var steps: [CapturedStep] = []
        while let s = try stepper.nextStep(timeout: 2) {
            steps.append(s)
            if steps.count == 10 { usleep(300_000) }   // inference hiccup: newest wins afterwards
        }
        XCTAssertGreaterThan(steps.count, 20)
        for (a, b) in zip(steps, steps.dropFirst()) {
            XCTAssertGreaterThan(b.index, a.index)
            XCTAssertGreaterThanOrEqual(b.sequence, a.sequence)
            XCTAssertEqual(b.time, Double(b.index) / 12, accuracy: 1e-12)
        }
        for s in steps {
            XCTAssertLessThanOrEqual(s.frameTime, s.time + 1e-9, "causal")
            XCTAssertGreaterThanOrEqual(s.latency, 0)
        }
        XCTAssertGreaterThanOrEqual(stepper.skippedSteps, 2, "a 300 ms stall skips stale steps")
    }
}
