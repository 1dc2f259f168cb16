import Foundation
import XCTest
@testable import ThudSound
import ThudBase

final class SPSCQueueTests: XCTestCase {
    func testCapacityRoundsUpAndFullQueueRefusesInsteadOfBlocking() {
        let q = SPSCQueue<Int>(capacity: 5)
        XCTAssertEqual(q.capacity, 8)
        for i in 0..<8 { XCTAssertTrue(q.push(i)) }
        XCTAssertFalse(q.push(99), "full: the producer drops, it never waits")
        XCTAssertEqual(q.count, 8)
        for i in 0..<8 { XCTAssertEqual(q.pop(), i) }
        XCTAssertNil(q.pop())
        XCTAssertTrue(q.push(8), "slots are reused after wrapping")
        XCTAssertEqual(q.pop(), 8)
    }

    /// One producer thread and one consumer thread hammer a small ring: every value arrives
    /// exactly once and in order. A missing acquire/release pairing shows up here as a torn or
    /// stale element (most reliably under the thread sanitizer, but also plainly on x86 when
    /// the compiler reorders).
    func testConcurrentProducerConsumerDeliversEverythingInOrder() {
        let q = SPSCQueue<SoundEvent>(capacity: 16)
        let total = 50_000
        let done = expectation(description: "consumer finished")
        final class Tally: @unchecked Sendable { var received = 0, outOfOrder = 0 }  // read after `done`
        let tally = Tally()
        let consumer = Thread {
            var expected = 0
            while expected < total {
                if let e = q.pop() {
                    if Int(e.submitNanos) != expected || e.value != Float(expected % 1000) { tally.outOfOrder += 1 }
                    expected += 1
                }
            }
            tally.received = expected
            done.fulfill()
        }
        consumer.start()
        var i = 0
        while i < total {
            let e = SoundEvent(kind: .hit, value: Float(i % 1000), submitNanos: UInt64(i))
            if q.push(e) { i += 1 }
        }
        wait(for: [done], timeout: 30)
        XCTAssertEqual(tally.received, total)
        XCTAssertEqual(tally.outOfOrder, 0)
    }
}
