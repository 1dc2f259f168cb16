import XCTest
@testable import ThudMedia

final class StepClockTests: XCTestCase {
    func testStepsBeforeIsExactAtStepBoundaries() {
        // 60 fps in a 1/30000 time base: frame 5 is at exactly 1/12 s and belongs to step 1, not step 0.
        let clock = StepClock(timeBase: TimeBase(num: 1, den: 30000))
        XCTAssertEqual(clock.stepsBefore(ticks: 0), 0)
        XCTAssertEqual(clock.stepsBefore(ticks: 2500), 1)   // 1/12 s: only step 0 lies strictly before
        XCTAssertEqual(clock.stepsBefore(ticks: 2501), 2)
        XCTAssertEqual(clock.stepsBefore(ticks: 60000), 24) // 2 s
    }

    func testStepsAreDueOnlyWhenALaterFrameArrives() {
        var clock = StepClock(timeBase: TimeBase(num: 1, den: 1000))
        XCTAssertEqual(clock.stepsDue(beforeFrameAt: 0), 0..<0)
        XCTAssertEqual(clock.stepsDue(beforeFrameAt: 40), 0..<1)     // step 0 (t=0) shows the frame at 0
        XCTAssertEqual(clock.stepsDue(beforeFrameAt: 80), 1..<1)     // step 1 (83.3 ms) not yet decided
        XCTAssertEqual(clock.stepsDue(beforeFrameAt: 300), 1..<4)    // steps 1,2,3 show the frame at 80 ms
        XCTAssertEqual(clock.stepsDue(atEndTicks: 1000), 4..<12)
        XCTAssertEqual(clock.nextStep, 12)
    }

    func testTimestampsThatGoBackwardsEmitNothing() {
        var clock = StepClock(timeBase: TimeBase(num: 1, den: 1000))
        _ = clock.stepsDue(beforeFrameAt: 500)
        XCTAssertEqual(clock.stepsDue(beforeFrameAt: 200), 6..<6)
    }
}
