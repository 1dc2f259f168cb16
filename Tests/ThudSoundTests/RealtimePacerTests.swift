import XCTest
@testable import ThudSound
import ThudBase

final class RealtimePacerTests: XCTestCase {
    func testHoldsStepsToStreamTime() {
        let pacer = RealtimePacer()
        let t0 = MonotonicClock.nanos()
        pacer.wait(untilStreamTime: 2.0)  // anchors: the stream may start at any time
        XCTAssertLessThan(Double(MonotonicClock.nanos() - t0) * 1e-9, 0.05, "first call returns at once")
        for k in 1...3 { pacer.wait(untilStreamTime: 2.0 + Double(k) / 12) }
        XCTAssertGreaterThanOrEqual(Double(MonotonicClock.nanos() - t0) * 1e-9, 0.25, "three 12 Hz steps take 250 ms")
        let t1 = MonotonicClock.nanos()
        pacer.wait(untilStreamTime: 2.1)  // already past
        XCTAssertLessThan(Double(MonotonicClock.nanos() - t1) * 1e-9, 0.05)
    }
}
