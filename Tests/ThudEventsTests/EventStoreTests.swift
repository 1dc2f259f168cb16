import Foundation
import XCTest
import ThudBase
@testable import ThudEvents
import ThudMedia
import ThudModel
import ThudPipeline
import ThudTestSupport

/// The store in process: the prediction thread's side never waits, whatever the database does, each hit is stored with
/// the frame of its peak's step, and retention runs on its own while a run goes on.
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

    /// A `width`x`height` frame that says which step it is: every pixel a function of the step and its place.
    func frame(_ step: Int, width: Int = 16, height: Int = 16) -> [UInt8] {
        (0..<width * height).map { UInt8(truncatingIfNeeded: step &* 37 &+ ($0 % width) * 5 &+ ($0 / width) * 3) }
    }

    /// Hands `pixels` to the sink as step `index`'s frame, as Pipeline.run does before the model sees it.
    func serve(_ sink: EventStoreSink, _ index: Int, _ pixels: [UInt8]) {
        pixels.withUnsafeBufferPointer { sink.frame(SourceStep(index: index, time: Double(index) / 12, pixels: $0)) }
    }

    /// Another process (the sqlite3 shell) holding the write lock of `path` for `seconds`, once it has taken it.
    func lockHolder(_ path: String, seconds: Int) throws -> RunningProcess {
        let holder = try RunningProcess("sqlite3", [path, ".timeout 5000", "BEGIN EXCLUSIVE", "DELETE FROM events WHERE 0",
                                                    ".shell echo locked", ".shell sleep \(seconds)", "COMMIT"])
        XCTAssertTrue(holder.waitForLines(1, timeout: 60), "sqlite3 (tools/setup.sh installs it): " + holder.stderrText)
        return holder
    }

    func storedCount(_ path: String, feed: String? = nil) throws -> Int {
        var n = 0
        try EventReader(path: path).forEachHit(feed: feed) { _ in n += 1 }
        return n
    }

    /// With another process holding the write lock, 10,000 steps, each a frame and a hit, are handed to the sink
    /// without one call waiting for it (a wait would be the busy timeout, a second); one warning says the database is
    /// locked; after the release every hit the queues held is stored, and stored + dropped is every hit. The snapshots
    /// that waited for the lock took the pool's slots: each stored hit has one or was counted as finding the pool full.
    func testSubmitNeverWaitsForALockedDatabase() throws {
        let path = dir.path("locked.db")
        let warnings = Lines(), notes = Lines()
        let store = try EventStore(path: path, retention: .init(), warn: { warnings.add($0) }, note: { notes.add($0) })
        let sink = store.sink(feed: "cam", model: "m.thud", frameWidth: 96, frameHeight: 96)
        let holder = try lockHolder(path, seconds: 3)
        defer { holder.kill9() }
        let pixels = frame(0, width: 96, height: 96)
        serve(sink, 0, pixels)   // the first hit's peak
        var slowest = 0.0
        for i in 1...10_000 {
            let t0 = MonotonicClock.seconds()
            serve(sink, i, pixels)
            sink.submit(hitStep(i))
            slowest = max(slowest, MonotonicClock.seconds() - t0)
            if i % 1000 == 0 { usleep(300_000) }   // let the writer try (and meet the lock) between bursts
        }
        XCTAssertLessThan(slowest, 0.1, "a frame or a submit waited")
        XCTAssertEqual(holder.waitForExit(timeout: 60).status, 0, holder.stderrText)
        store.close()
        XCTAssertEqual(warnings.all.count, 1, "\(warnings.all)")
        XCTAssertTrue(warnings.all.first?.contains("\(path): the database is locked") == true, "\(warnings.all)")
        let end = try XCTUnwrap(notes.all.last)
        let stored = try storedCount(path)
        XCTAssertTrue(end.hasPrefix("events: \(path): \(stored) hits stored ("), end)
        let dropped = Int(end.split(separator: "(")[1].split(separator: " ").first!)!
        XCTAssertEqual(stored + dropped, 10_000, end)
        XCTAssertGreaterThanOrEqual(stored, EventStore.feedQueueCapacity, end)
        var withSnapshot = 0
        try EventReader(path: path).forEachHit { if $0.snapshotBytes > 0 { withSnapshot += 1 } }
        XCTAssertGreaterThanOrEqual(withSnapshot, EventStore.snapshotSlots, "the pool's worth at least, taken during the lock")
        let poolFull = sink.queue.poolFull.load(ordering: .relaxed)
        XCTAssertGreaterThan(poolFull, 0, "the pool ran out while the lock held its slots")
        XCTAssertEqual(withSnapshot + poolFull, stored, "each hit has its snapshot or was counted")
        XCTAssertTrue(end.hasSuffix(" dropped), \(withSnapshot) with a snapshot (\(poolFull) without: the snapshot pool was full)"), end)
    }

    /// Each hit's snapshot is the frame of its peak's step (not the step that described it), kept among the last
    /// frames; a step the source skipped takes the nearest earlier frame; a hit older than every kept frame, or of a
    /// sink without frames, is stored without one.
    func testAHitIsStoredWithTheFrameOfItsPeak() throws {
        let path = dir.path("snapshots.db")
        let notes = Lines()
        let store = try EventStore(path: path, retention: .init(), warn: { notes.add($0) }, note: { notes.add($0) })
        let sink = store.sink(feed: "cam", model: nil, frameWidth: 16, frameHeight: 8)
        let blind = store.sink(feed: "blind", model: nil, frameWidth: 0, frameHeight: 0)
        for i in 0...40 where i != 30 { serve(sink, i, frame(i, width: 16, height: 8)) }
        func hit(_ peak: Int, at step: Int) -> DescribedStep {
            DescribedStep(step: step, time: Double(step) / 12, envelope: 0.5, onset: 0, hit: HitEvent(step: peak, time: Double(peak) / 12, strength: 0.5))
        }
        sink.submit(hit(37, at: 40))   // the peak 3 steps back
        sink.submit(hit(30, at: 40))   // a skipped step: its frame is step 29's
        sink.submit(hit(20, at: 40))   // older than the 16 kept frames
        blind.submit(hit(37, at: 40))
        store.close()
        XCTAssertEqual(notes.all.last, "events: \(path): 4 hits stored (0 dropped), 2 with a snapshot")
        let reader = try EventReader(path: path)
        let hits = try reader.hits(feed: "cam").sorted { $0.id < $1.id }
        XCTAssertEqual(hits.map { Int(($0.streamTime * 12).rounded()) }, [37, 30, 20])
        let encoder = try JPEGEncoder(width: 16, height: 8)
        for (hit, step) in zip(hits.prefix(2), [37, 29]) {
            let expected = try frame(step, width: 16, height: 8).withUnsafeBufferPointer { try encoder.encode(gray: $0) }
            let jpeg = try XCTUnwrap(try reader.snapshot(id: hit.id), "hit at \(step)")
            XCTAssertEqual(jpeg, expected, "the JPEG of step \(step)'s frame")
            XCTAssertEqual(hit.snapshotBytes, jpeg.count)
        }
        XCTAssertEqual(hits[2].snapshotBytes, 0)
        XCTAssertNil(try reader.snapshot(id: hits[2].id))
        let blindHits = try reader.hits(feed: "blind")
        XCTAssertEqual(blindHits.map(\.snapshotBytes), [0])
        XCTAssertNil(try reader.snapshot(id: 999_999), "no such hit")
    }

    /// A pool whose slots all wait for a locked database: the next hits are stored without a snapshot, counted, and
    /// said at the end; once the rows are in, the slots are free again.
    func testAnExhaustedPoolStoresTheHitWithoutASnapshot() throws {
        let path = dir.path("pool.db")
        let notes = Lines()
        let store = try EventStore(path: path, retention: .init(), warn: { _ in }, note: { notes.add($0) })
        let sink = store.sink(feed: "cam", model: nil, frameWidth: 16, frameHeight: 16, snapshotSlots: 2)
        let holder = try lockHolder(path, seconds: 2)
        defer { holder.kill9() }
        for i in 1...5 {
            serve(sink, i, frame(i))
            sink.submit(hitStep(i + 1))
        }
        XCTAssertEqual(sink.queue.poolFull.load(ordering: .relaxed), 3)
        XCTAssertEqual(holder.waitForExit(timeout: 60).status, 0, holder.stderrText)
        // After the release: the two slots come back once the rows are committed.
        for _ in 0..<100 where sink.queue.freeSlots.count < 2 { usleep(50_000) }
        XCTAssertEqual(sink.queue.freeSlots.count, 2)
        XCTAssertEqual(try storedCount(path), 5)
        serve(sink, 6, frame(6))
        sink.submit(hitStep(7))
        store.close()
        XCTAssertEqual(notes.all.last, "events: \(path): 6 hits stored (0 dropped), 3 with a snapshot (3 without: the snapshot pool was full)")
        let hits = try EventReader(path: path).hits().sorted { $0.id < $1.id }
        XCTAssertEqual(hits.map { $0.snapshotBytes > 0 }, [true, true, false, false, false, true])
    }

    /// The web page's list: newest first, a feed, a window of wall clock [since, until), the newest N.
    func testTheListIsNewestFirstWithinItsBounds() throws {
        let path = dir.path("list.db")
        let store = try EventStore(path: path, retention: .init(), warn: { _ in }, note: { _ in })
        let cam = store.sink(feed: "cam", model: "m.thud", frameWidth: 0, frameHeight: 0)
        let door = store.sink(feed: "door", model: nil, frameWidth: 0, frameHeight: 0)
        for i in 1...6 { (i % 2 == 0 ? door : cam).submit(hitStep(i)) }
        store.close()
        let reader = try EventReader(path: path)
        let all = try reader.hits()
        XCTAssertEqual(all.count, 6)
        XCTAssertEqual(all.map(\.wall), all.map(\.wall).sorted(by: >), "newest first")
        XCTAssertEqual(Set(all.map(\.id)).count, 6)
        XCTAssertEqual(try reader.hits(feed: "door").map(\.feed), ["door", "door", "door"])
        XCTAssertEqual(try reader.hits(feed: "cam").first?.model, "m.thud")
        XCTAssertEqual(try reader.hits(limit: 2).map(\.id), Array(all.prefix(2).map(\.id)))
        XCTAssertEqual(try reader.hits(limit: 0).count, 0)
        let middle = all[3].wall
        XCTAssertEqual(try reader.hits(since: middle).map(\.id), all.filter { $0.wall >= middle }.map(\.id))
        XCTAssertEqual(try reader.hits(until: middle).map(\.id), all.filter { $0.wall < middle }.map(\.id))
        var oldestFirst: [Int64] = []
        try reader.forEachHit { oldestFirst.append($0.id) }
        XCTAssertEqual(oldestFirst, all.map(\.id).reversed(), "thud events' order is the other way")
    }

    /// Retention runs every `checkEvery` seconds while the store is open, not only when it opens: with hits kept one
    /// second, those queued at the start are gone a few checks later.
    func testRetentionRunsWhileTheStoreIsOpen() throws {
        let path = dir.path("aging.db")
        let notes = Lines()
        let store = try EventStore(path: path, retention: .init(keepDays: 1.0 / 86_400, maxBytes: 1 << 30, checkEvery: 0.3),
                                   warn: { notes.add($0) }, note: { notes.add($0) })
        let sink = store.sink(feed: "cam", model: nil, frameWidth: 0, frameHeight: 0)
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
        XCTAssertEqual(notes.all.last, "events: \(path): 20 hits stored (0 dropped), 0 with a snapshot")
    }

    /// A hit's model is the one the feed had when it was heard: a swap (`--reload`) names the new file from then on.
    func testAModelSwapIsRecordedWithTheHitsAfterIt() throws {
        let path = dir.path("models.db")
        let store = try EventStore(path: path, retention: .init(), warn: { _ in }, note: { _ in })
        let sink = store.sink(feed: "cam", model: "first.thud", frameWidth: 0, frameHeight: 0)
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
