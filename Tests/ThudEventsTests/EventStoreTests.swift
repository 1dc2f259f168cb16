import Foundation
import XCTest
import ThudBase
@testable import ThudEvents
import ThudMedia
import ThudModel
import ThudTestSupport

/// The store in process: the prediction thread's side never waits, whatever the database does, and retention runs
/// on its own while a run goes on.
final class EventStoreTests: XCTestCase {
    let dir = TemporaryDirectory("event-store")

    /// What the store said, line by line (from its writer thread and from close).
    final class Lines: @unchecked Sendable {
        private var list: [String] = []
        private let lock = NSLock()
        func add(_ line: String) { lock.lock(); list.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
    }

    /// A described step that confirms a hit at the step before it, as EnvelopeStream hands them out.
    func hitStep(_ i: Int) -> DescribedStep {
        DescribedStep(step: i, time: Double(i) / 12, envelope: 0.5, onset: 0,
                      hit: HitEvent(step: i - 1, time: Double(i - 1) / 12, strength: 0.75))
    }

    func storedCount(_ path: String, feed: String? = nil) throws -> Int {
        var n = 0
        try EventReader(path: path).forEachHit(feed: feed) { _ in n += 1 }
        return n
    }

    /// With another process holding the write lock, 10,000 hits are submitted without one submit waiting for it (a
    /// wait would be the busy timeout, a second); one warning says the database is locked; after the release every
    /// hit the queues held is stored, and stored + dropped is every hit.
    func testSubmitNeverWaitsForALockedDatabase() throws {
        let path = dir.path("locked.db")
        let warnings = Lines(), notes = Lines()
        let store = try EventStore(path: path, retention: .init(), warn: { warnings.add($0) }, note: { notes.add($0) })
        let sink = store.sink(feed: "cam", model: "m.thud")
        let holder = try RunningProcess("sqlite3", [path, ".timeout 5000", "BEGIN EXCLUSIVE", "DELETE FROM events WHERE 0",
                                                    ".shell echo locked", ".shell sleep 3", "COMMIT"])
        defer { holder.kill9() }
        XCTAssertTrue(holder.waitForLines(1, timeout: 60), "sqlite3 (tools/setup.sh installs it): " + holder.stderrText)
        var slowest = 0.0
        for i in 1...10_000 {
            let t0 = MonotonicClock.seconds()
            sink.submit(hitStep(i))
            slowest = max(slowest, MonotonicClock.seconds() - t0)
            if i % 1000 == 0 { usleep(300_000) }   // let the writer try (and meet the lock) between bursts
        }
        XCTAssertLessThan(slowest, 0.1, "a submit waited")
        XCTAssertEqual(holder.waitForExit(timeout: 60).status, 0, holder.stderrText)
        store.close()
        XCTAssertEqual(warnings.all.count, 1, "\(warnings.all)")
        XCTAssertTrue(warnings.all.first?.contains("\(path): the database is locked") == true, "\(warnings.all)")
        let end = try XCTUnwrap(notes.all.last)
        let stored = try storedCount(path)
        XCTAssertTrue(end.hasPrefix("events: \(path): \(stored) hits stored ("), end)
        let dropped = Int(end.split(separator: "(").last!.split(separator: " ").first!)!
        XCTAssertEqual(stored + dropped, 10_000, end)
        XCTAssertGreaterThanOrEqual(stored, EventStore.feedQueueCapacity, end)
    }

    /// Retention runs every `checkEvery` seconds while the store is open, not only when it opens: with hits kept one
    /// second, those queued at the start are gone a few checks later.
    func testRetentionRunsWhileTheStoreIsOpen() throws {
        let path = dir.path("aging.db")
        let notes = Lines()
        let store = try EventStore(path: path, retention: .init(keepDays: 1.0 / 86_400, maxBytes: 1 << 30, checkEvery: 0.3),
                                   warn: { notes.add($0) }, note: { notes.add($0) })
        let sink = store.sink(feed: "cam", model: nil)
        for i in 1...20 { sink.submit(hitStep(i)) }
        var sawThem = false
        for _ in 0..<40 where !sawThem {
            usleep(50_000)
            sawThem = try storedCount(path) == 20
        }
        XCTAssertTrue(sawThem, "the hits were stored first")
        var gone = false
        for _ in 0..<100 where !gone {
            usleep(100_000)
            gone = try storedCount(path) == 0
        }
        XCTAssertTrue(gone, "hits older than a second deleted while the store is open")
        store.close()
        XCTAssertEqual(notes.all.last, "events: \(path): 20 hits stored (0 dropped)")
    }

    /// A hit's model is the one the feed had when it was heard: a swap (`--reload`) names the new file from then on.
    func testAModelSwapIsRecordedWithTheHitsAfterIt() throws {
        let path = dir.path("models.db")
        let store = try EventStore(path: path, retention: .init(), warn: { _ in }, note: { _ in })
        let sink = store.sink(feed: "cam", model: "first.thud")
        sink.submit(hitStep(1))
        sink.event(.model(atStep: 2, file: "second.thud", learnedSeconds: nil))
        sink.submit(hitStep(3))
        sink.submit(DescribedStep(step: 4, time: 4.0 / 12, envelope: 0.1, onset: 0, hit: nil))
        store.close()
        var models: [String?] = []
        try EventReader(path: path).forEachHit { models.append($0.model) }
        XCTAssertEqual(models, ["first.thud", "second.thud"])
    }
}
