// Hits on record: every hit of every feed goes into one SQLite database (through GRDB), kept by age and size. The
// prediction loop only puts a hit into its feed's lock-free queue (EventStoreSink); a writer thread of the store's own
// takes them out and inserts them in batches, one transaction each, at least every quarter second. So the loop never
// waits for the disk, a lock another process holds or a full file system, and a kill -9 of thud loses at most the hits
// of the last batch: the database is in WAL mode, where a committed transaction survives the death of the process
// (synchronous=NORMAL: a power cut may lose the last commits, a killed process does not), and a transaction that
// never committed leaves nothing half written.
//
// Each hit is stored with a snapshot: the model-sized gray frame of its peak's step as a JPEG. The sink keeps the last
// frames in a ring (a copy per step into memory allocated once) and, at a hit, copies the one of its step into a slot
// of its feed's snapshot pool; the writer encodes the slot, inserts the JPEG with the row and gives the slot back. So
// the prediction thread still only copies bytes and never waits, and what waits for the disk is bounded by the pool.
import Foundation
import GRDB
import Synchronization
import ThudBase
import ThudMedia
import ThudModel
import ThudPipeline

/// What is wrong with an events database: one line naming the file and the problem.
public struct EventStoreError: OneLineError {
    public enum Kind: Sendable {
        /// `thud events` on a file that is not there or cannot be opened (exit 10).
        case missing
        /// A file that is not a Thud events database: not SQLite, another program's database, a newer schema (exit 11).
        case notEventsDatabase
        /// `--events` on a database that cannot be created, opened or written (exit 74).
        case cannotWrite
    }

    public var kind: Kind
    public var path: String
    public var problem: String

    public init(_ kind: Kind, path: String, _ problem: String) { self.kind = kind; self.path = path; self.problem = problem }

    public var message: String { "\(path): \(problem)" }
    public var exitCode: Int32 {
        switch kind {
        case .missing: 10
        case .notEventsDatabase: 11
        case .cannotWrite: 74
        }
    }
}

/// The database's layout, in one place: the writer creates it, the reader checks it.
enum EventSchema {
    /// PRAGMA application_id of a Thud events database ("Thud" in ASCII): how a reader tells ours from any SQLite file.
    static let applicationID: Int32 = 0x5468_7564
    /// PRAGMA user_version: the schema's version. A database of a later version is refused, never misread.
    static let version = 1

    static let create = """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            feed TEXT NOT NULL,
            stream_t REAL NOT NULL,
            wall REAL NOT NULL,
            strength REAL NOT NULL,
            model TEXT,
            snapshot BLOB
        );
        CREATE INDEX events_feed_wall ON events(feed, wall);
        CREATE INDEX events_wall ON events(wall);
        """

    /// Why `db` is not a Thud events database of a version this build reads (nil when it is one; `emptyIsFine`: a
    /// database with no tables at all is one to create the schema in).
    static func problem(in db: Database, emptyIsFine: Bool) throws -> String? {
        let id = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        if id == applicationID {
            let v = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            return v > version ? "made by a newer thud (events schema version \(v); this one reads \(version))" : nil
        }
        let tables = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
        if tables == 0 && emptyIsFine { return nil }
        return id == 0 ? "not a Thud events database (an SQLite database without Thud's events table)"
                       : "not a Thud events database (an SQLite database of another program)"
    }

    /// A GRDB error as the line says it.
    static func describe(_ error: Error) -> String {
        guard let e = error as? DatabaseError else { return "\(error)" }
        switch e.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return "the database is locked (another process holds its write lock)"
        case .SQLITE_FULL: return "the disk is full"
        case .SQLITE_READONLY: return "the database is read-only"
        case .SQLITE_NOTADB: return "not a Thud events database (not an SQLite file)"
        case .SQLITE_CORRUPT: return "the database is corrupt"
        case .SQLITE_CANTOPEN: return "cannot be opened (\(e.message ?? "unable to open database file"))"
        default: return e.message ?? "SQLite error \(e.resultCode.rawValue)"
        }
    }
}

/// One hit on its way to the database: trivial, so that queueing it allocates nothing on the prediction thread.
struct QueuedHit {
    var streamTime: Double
    var wall: Double
    var strength: Float
    /// Index into its feed's list of model names (FeedQueue.models).
    var model: Int32
    /// The slot of its feed's snapshot pool holding the frame of its peak's step; -1: stored without a snapshot.
    var snapshotSlot: Int32 = -1
}

/// One feed's queue: its sink pushes, the store's writer pops (SPSCQueue: no lock on either side). Hits that found it
/// full are dropped and counted.
///
/// With it the feed's snapshot pool: `snapshotSlots` frames of `width`x`height` gray, allocated once. A slot belongs
/// to the sink while it is in `freeSlots` or being filled, to the writer from the hit that names it until that hit's
/// row is committed; the writer hands it back through `freeSlots` (the writer pushes, the sink pops). A hit that
/// finds no free slot is stored without a snapshot and counted.
final class FeedQueue: @unchecked Sendable {
    let feed: String
    let hits: SPSCQueue<QueuedHit>
    let dropped = Atomic<Int>(0)
    /// The frames' size (the model's input size); 0 x 0: no snapshots.
    let width: Int
    let height: Int
    var frameBytes: Int { width * height }
    /// The pool's frames, slot after slot (nil without snapshots).
    let pool: UnsafeMutablePointer<UInt8>?
    let freeSlots: SPSCQueue<Int32>
    /// Hits stored without a snapshot because every slot was waiting for the database.
    let poolFull = Atomic<Int>(0)
    /// The models the feed's hits came from (the first, then one per `--reload` or learned swap); a hit names its
    /// index. Appended by the feed's thread, read by the writer: under the lock, and only on a swap, never per hit.
    private var models: [String?]
    private let lock = NSLock()

    init(feed: String, model: String?, capacity: Int, width: Int, height: Int, snapshotSlots: Int) {
        self.feed = feed
        hits = SPSCQueue(capacity: capacity)
        models = [model]
        let pictures = width > 0 && height > 0
        self.width = pictures ? width : 0
        self.height = pictures ? height : 0
        pool = pictures ? .allocate(capacity: snapshotSlots * width * height) : nil
        freeSlots = SPSCQueue(capacity: max(1, snapshotSlots))
        // Every slot free at the start: pushed here, before either thread uses the queue.
        if pictures { for slot in 0..<snapshotSlots { _ = freeSlots.push(Int32(slot)) } }
    }

    deinit { pool?.deallocate() }

    /// Slot `slot`'s frame.
    func frame(_ slot: Int32) -> UnsafeMutablePointer<UInt8>? { pool.map { $0 + Int(slot) * frameBytes } }

    func addModel(_ name: String) -> Int32 {
        lock.lock(); defer { lock.unlock() }
        models.append(name)
        return Int32(models.count - 1)
    }

    func model(_ index: Int32) -> String? {
        lock.lock(); defer { lock.unlock() }
        return models.indices.contains(Int(index)) ? models[Int(index)] : nil
    }
}

/// The events database as `--events DB` writes it: opened (created, in WAL mode) at the start, fed by one sink per feed
/// (`sink(feed:model:)`), written on its own thread, closed once at the end with one line of counts.
public final class EventStore: @unchecked Sendable {
    /// Which hits are kept: none older than `keepDays`, and the oldest deleted first while the database's pages in use
    /// pass `maxBytes` (its -wal file, checkpointed by SQLite at about 4 MB, comes on top). Checked when the store
    /// opens and every `checkEvery` seconds after.
    public struct Retention: Sendable {
        public var keepDays: Double
        public var maxBytes: Int64
        public var checkEvery: Double

        public init(keepDays: Double = 30, maxBytes: Int64 = 500 << 20, checkEvery: Double = 60) {
            self.keepDays = keepDays; self.maxBytes = maxBytes; self.checkEvery = checkEvery
        }
    }

    public let path: String
    public let retention: Retention
    /// The longest between two batches: what a kill -9 can lose, plus the time a batch takes to write.
    public static let batchInterval = 0.25
    /// Hits waiting in memory for a database that is locked or full; past it the feeds' queues fill and drop.
    public static let pendingLimit = 100_000
    /// Each feed's queue between its sink and the writer.
    static let feedQueueCapacity = 4096
    /// Snapshots per feed waiting to be encoded and committed (frames of the model's size: 64 x 96 x 96 is 590 kB); a
    /// hit past them, while the database is locked say, is stored without one.
    static let snapshotSlots = 64
    /// The frames each sink keeps to find a hit's: its peak is a few steps (the picker's delay, the model's output
    /// delay) before the step that describes it.
    static let frameRingLength = 16

    private let database: DatabaseQueue
    private let warn: @Sendable (String) -> Void
    private let note: @Sendable (String) -> Void
    private let lock = NSCondition()
    private var feeds: [FeedQueue] = []
    private var closing = false
    private var closeDeadline = 0.0
    private let writerDone = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// A hit taken from its feed's queue, with its snapshot's JPEG (encoded once, kept across retries of the batch).
    private struct PendingHit {
        var queue: FeedQueue
        var hit: QueuedHit
        var snapshot: Data?
    }

    // The writer thread's own (read by close() after writerDone).
    private var pending: [PendingHit] = []
    private var stored = 0
    private var storedSnapshots = 0
    /// One encoder per frame size (width << 32 | height), made at the first snapshot of that size.
    private var encoders: [Int: JPEGEncoder] = [:]
    /// The last problem encoding a snapshot (said once; the hit is stored without it).
    private var encodingProblem: String?
    /// The problem the last warning said, while writes fail; nil while they succeed.
    private var failing: String?
    private var lastRetention = -Double.infinity
    private var retentionProblem: String?

    /// Opens (or creates) the database at `path` and starts its writer. Throws (74, one line) when it cannot be
    /// created or opened, or is another kind of file; a database locked at this moment is waited for up to 5 s.
    public init(path: String, retention: Retention, warn: @escaping @Sendable (String) -> Void, note: @escaping @Sendable (String) -> Void) throws {
        self.path = path; self.retention = retention; self.warn = warn; self.note = note
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.label = "thud-events"
        do {
            database = try DatabaseQueue(path: path, configuration: config)
            try database.writeWithoutTransaction { db in
                if let problem = try EventSchema.problem(in: db, emptyIsFine: true) {
                    throw EventStoreError(.cannotWrite, path: path, problem)
                }
                let fresh = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") == 0
                if fresh {
                    // Set before the first table: only then can deleted rows give their pages back to the file
                    // (PRAGMA incremental_vacuum after retention), so the size limit holds for the file too.
                    try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                }
                // WAL: a reader (`thud events`) never waits for the writer, and a commit is one append to the -wal.
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                if mode?.lowercased() != "wal" {
                    throw EventStoreError(.cannotWrite, path: path, "cannot be put in WAL mode (journal mode \(mode ?? "?"))")
                }
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                if fresh {
                    try db.inTransaction(.immediate) {
                        try db.execute(sql: EventSchema.create)
                        try db.execute(sql: "PRAGMA application_id = \(EventSchema.applicationID)")
                        try db.execute(sql: "PRAGMA user_version = \(EventSchema.version)")
                        return .commit
                    }
                }
            }
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError(.cannotWrite, path: path, EventSchema.describe(error))
        }
        // While the feeds run, a lock is waited for a second a batch; the batch stays queued and is tried again.
        try? database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA busy_timeout = 1000") }
        pending.reserveCapacity(256)
        let thread = Thread { [self] in writerLoop() }
        thread.name = "thud-events"
        self.thread = thread
        thread.start()
    }

    /// A sink for one feed's hits (`model`: the model file it starts with; a swap is recorded as it happens).
    /// `frameWidth` x `frameHeight`: the model's input size, the size of the frames the pipeline hands the sink, which
    /// its hits' snapshots are (a swapped model has the same: ModelReloader refuses another); 0 x 0 stores none. Made
    /// before the feed runs, on any thread; `snapshotSlots` is for tests.
    public func sink(feed: String, model: String?, frameWidth: Int, frameHeight: Int) -> EventStoreSink {
        sink(feed: feed, model: model, frameWidth: frameWidth, frameHeight: frameHeight, snapshotSlots: Self.snapshotSlots)
    }

    func sink(feed: String, model: String?, frameWidth: Int, frameHeight: Int, snapshotSlots: Int) -> EventStoreSink {
        let queue = FeedQueue(feed: feed, model: model, capacity: Self.feedQueueCapacity, width: frameWidth, height: frameHeight,
                              snapshotSlots: snapshotSlots)
        lock.lock(); feeds.append(queue); lock.unlock()
        return EventStoreSink(queue: queue)
    }

    private func writerLoop() {
        while true {
            lock.lock()
            let stopping = closing, queues = feeds, deadline = closeDeadline
            lock.unlock()
            // Retention before the batch: a check at the start never deletes hits of this run that keep-days 0 (or a
            // tiny size) would take as soon as they are in, before anyone saw them.
            if failing == nil && MonotonicClock.seconds() - lastRetention >= retention.checkEvery { applyRetention() }
            drain(queues)
            if !pending.isEmpty { writeBatch() }
            if stopping {
                // The sinks have finished: what they queued last goes too, retried until the deadline.
                drain(queues)
                while !pending.isEmpty {
                    writeBatch()
                    if pending.isEmpty || MonotonicClock.seconds() >= deadline { break }
                    usleep(200_000)
                    drain(queues)
                }
                break
            }
            lock.lock()
            if !closing { _ = lock.wait(until: Date(timeIntervalSinceNow: Self.batchInterval)) }
            lock.unlock()
        }
        writerDone.signal()
    }

    /// Moves what the feeds queued into the batch, up to the pending limit (beyond it the feeds' queues fill), each
    /// hit's snapshot encoded as it comes (its slot stays taken until the row is committed: the pool, not this
    /// list, bounds what waits in memory for a locked database).
    private func drain(_ queues: [FeedQueue]) {
        for queue in queues {
            while pending.count < Self.pendingLimit, let hit = queue.hits.pop() {
                pending.append(PendingHit(queue: queue, hit: hit, snapshot: encodeSnapshot(hit, of: queue)))
            }
        }
    }

    /// The JPEG of the frame in `hit`'s slot (nil without one, or when it cannot be encoded: said once, the hit is
    /// stored without it).
    private func encodeSnapshot(_ hit: QueuedHit, of queue: FeedQueue) -> Data? {
        guard hit.snapshotSlot >= 0, let frame = queue.frame(hit.snapshotSlot) else { return nil }
        do {
            let key = queue.width << 32 | queue.height
            let encoder = try encoders[key] ?? JPEGEncoder(width: queue.width, height: queue.height)
            encoders[key] = encoder
            let jpeg = try encoder.encode(gray: UnsafeBufferPointer(start: frame, count: queue.frameBytes))
            encodingProblem = nil
            return Data(jpeg)
        } catch {
            let problem = (error as? OneLineError)?.message ?? "\(error)"
            if encodingProblem != problem { warn("events: \(path): a hit's snapshot cannot be encoded (\(problem)); stored without it") }
            encodingProblem = problem
            return nil
        }
    }

    /// One transaction for everything pending. On failure (a lock, a full disk) the batch stays, one line says why
    /// (once per kind of trouble), and the next round tries again.
    private func writeBatch() {
        do {
            try database.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    let insert = try db.cachedStatement(sql: "INSERT INTO events (feed, stream_t, wall, strength, model, snapshot) VALUES (?, ?, ?, ?, ?, ?)")
                    for p in pending {
                        try insert.execute(arguments: [p.queue.feed, p.hit.streamTime, p.hit.wall, Double(p.hit.strength),
                                                       p.queue.model(p.hit.model), p.snapshot])
                    }
                    return .commit
                }
            }
            stored += pending.count
            // Committed: the frames are in the database, their slots free for the next hits (the free queue holds
            // every slot, so the push cannot fail).
            for p in pending where p.hit.snapshotSlot >= 0 { _ = p.queue.freeSlots.push(p.hit.snapshotSlot) }
            storedSnapshots += pending.reduce(0) { $0 + ($1.snapshot == nil ? 0 : 1) }
            if failing != nil {
                note("events: \(path): writing again (\(pending.count) waiting hit\(pending.count == 1 ? "" : "s") stored)")
                failing = nil
            }
            pending.removeAll(keepingCapacity: true)
        } catch {
            trouble(error)
        }
    }

    private func trouble(_ error: Error) {
        let problem = EventSchema.describe(error)
        if failing != problem {
            warn("events: \(path): \(problem); the hits wait in memory (up to \(Self.pendingLimit)) and are tried again, the feed goes on")
        }
        failing = problem
    }

    /// Deletes hits older than keepDays, then the oldest while the pages in use pass maxBytes, and gives the freed
    /// pages back to the file system.
    private func applyRetention() {
        lastRetention = MonotonicClock.seconds()
        let keepDays = retention.keepDays, maxBytes = Double(retention.maxBytes)
        do {
            try database.writeWithoutTransaction { db in
                var removed = 0
                try db.inTransaction(.immediate) {
                    let cutoff = Date().timeIntervalSince1970 - keepDays * 86_400
                    try db.execute(sql: "DELETE FROM events WHERE wall < ?", arguments: [cutoff])
                    removed += db.changesCount
                    func used() throws -> Double {
                        let size = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                        let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                        let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
                        return Double(size * (pages - free))
                    }
                    var inUse = try used()
                    while inUse > maxBytes {
                        let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
                        if rows == 0 { break }
                        // Down to 90 % of the limit, so that the next check does not delete again at once.
                        let share = 1 - 0.9 * maxBytes / inUse
                        let n = max(1, Int((Double(rows) * share).rounded(.up)))
                        try db.execute(sql: "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)", arguments: [n])
                        removed += db.changesCount
                        let after = try used()
                        if after >= inUse { break }   // what is left is the schema's own pages
                        inUse = after
                    }
                    return .commit
                }
                if removed > 0 { try db.execute(sql: "PRAGMA incremental_vacuum") }
            }
            retentionProblem = nil
        } catch {
            // Tried again at the next check; the hits' own writes say their trouble themselves.
            let problem = EventSchema.describe(error)
            if retentionProblem != problem { warn("events: \(path): old hits not deleted this time: \(problem)") }
            retentionProblem = problem
        }
    }

    /// Stops the writer after it has stored what the sinks queued (waiting up to `seconds` for a database that is
    /// locked or full), and says in one line what was stored and what was lost. Once; after every feed has finished.
    public func close(waiting seconds: Double = 5) {
        lock.lock()
        if closing { lock.unlock(); return }
        closing = true
        closeDeadline = MonotonicClock.seconds() + seconds
        lock.broadcast()
        lock.unlock()
        writerDone.wait()
        // Everything into the main file and the -wal emptied (also what retention's vacuum gave back: the file
        // shrinks only at a checkpoint); a reader holding it back only leaves the -wal as it is, which is safe.
        _ = try? database.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        try? database.close()
        lock.lock(); let queues = feeds; lock.unlock()
        let dropped = queues.reduce(0) { $0 + $1.dropped.load(ordering: .relaxed) }
        let poolFull = queues.reduce(0) { $0 + $1.poolFull.load(ordering: .relaxed) }
        let lost = pending.count
        var counts = "\(stored) hit\(stored == 1 ? "" : "s") stored (\(dropped) dropped), \(storedSnapshots) with a snapshot"
        if poolFull > 0 { counts += " (\(poolFull) without: the snapshot pool was full)" }
        if lost == 0 {
            note("events: \(path): \(counts)")
        } else {
            warn("events: \(path): \(counts); \(lost) more not stored: \(failing ?? "the writer stopped")")
        }
    }
}

/// One feed's hits into the store (ThudPipeline's StepSink): `frame` copies each step's frame into a ring, `submit`
/// copies a hit's frame into a free slot of the feed's snapshot pool and queues the hit. Both only copy bytes into
/// memory allocated once (the ring at the first frame) and touch lock-free queues and atomics: no lock, no allocation,
/// no wait on the prediction thread. A full queue drops the hit and counts it; a pool with no free slot stores the hit
/// without a snapshot and counts it.
public final class EventStoreSink: StepSink {
    let queue: FeedQueue
    /// The index of the model the feed's hits come from now (FeedQueue.models).
    private var model: Int32 = 0
    /// The last frames, `frameRingLength` of them, and the step of each (Int.min: none yet); the next one goes to
    /// `ringNext % frameRingLength`. Allocated at the first frame.
    private var ring: UnsafeMutablePointer<UInt8>?
    private var ringSteps: UnsafeMutablePointer<Int>?
    private var ringNext = 0
    /// A slot taken for a hit that then found the queue full: the next hit's, before another is taken.
    private var heldSlot: Int32 = -1

    init(queue: FeedQueue) { self.queue = queue }

    deinit {
        ring?.deallocate()
        ringSteps?.deallocate()
    }

    public var feed: String { queue.feed }

    /// Keeps the step's frame (the pixels are valid only during the call). A frame of another size than the sink's
    /// (none comes: the pipeline's frames are the model's size) is not kept.
    public func frame(_ step: SourceStep) {
        let bytes = queue.frameBytes
        guard bytes > 0, step.pixels.count == bytes, let pixels = step.pixels.baseAddress else { return }
        let length = EventStore.frameRingLength
        if ring == nil {
            ring = .allocate(capacity: length * bytes)
            ringSteps = .allocate(capacity: length)
            ringSteps!.initialize(repeating: Int.min, count: length)
        }
        guard let ring, let ringSteps else { return }
        let slot = ringNext % length
        memcpy(ring + slot * bytes, pixels, bytes)
        ringSteps[slot] = step.index
        ringNext += 1
    }

    /// The ring's frame of `step`, or of the nearest earlier step it holds (a source that skipped steps); nil when it
    /// holds none at or before it.
    private func keptFrame(atOrBefore step: Int) -> UnsafeMutablePointer<UInt8>? {
        guard let ring, let ringSteps else { return nil }
        var best = -1
        for i in 0..<EventStore.frameRingLength where ringSteps[i] <= step && (best < 0 || ringSteps[i] > ringSteps[best]) {
            best = i
        }
        return best < 0 ? nil : ring + best * queue.frameBytes
    }

    /// A hit is stored with its peak's stream time (as MQTT's messages carry it; the line that flags it is the next
    /// step's), the wall clock now, its strength, and its peak step's frame.
    public func submit(_ step: DescribedStep) {
        guard let hit = step.hit else { return }
        var queued = QueuedHit(streamTime: hit.time, wall: Date().timeIntervalSince1970, strength: hit.strength, model: model)
        var poolWasFull = false
        if let source = keptFrame(atOrBefore: hit.step) {
            let slot = heldSlot >= 0 ? heldSlot : queue.freeSlots.pop() ?? -1
            heldSlot = -1
            if slot >= 0, let target = queue.frame(slot) {
                memcpy(target, source, queue.frameBytes)
                queued.snapshotSlot = slot
            } else {
                poolWasFull = true
            }
        }
        if queue.hits.push(queued) {
            if poolWasFull { queue.poolFull.add(1, ordering: .relaxed) }
        } else {
            // Only the writer gives slots back: this one is kept for the next hit.
            heldSlot = queued.snapshotSlot
            queue.dropped.add(1, ordering: .relaxed)
        }
    }

    /// Another model took over (`--reload`, a learned model): the hits after it name it.
    public func event(_ event: FeedEvent) {
        if case let .model(_, file, _) = event { model = queue.addModel(file) }
    }

    /// Nothing to do per feed: the store writes what is queued when the command closes it, after every feed.
    public func finish() {}
}
