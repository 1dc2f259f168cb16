// `thud events DB` and what a web page asks: the stored hits read back, and their snapshots, through a read-only
// connection (WAL: a thud writing to the same database at the same time neither waits for it nor is waited for).
import Foundation
import GRDB
import ThudBase

/// One stored hit: its row id (what `snapshot(id:)` takes), its feed, its peak's time in the stream, the wall clock
/// when it was seen (Unix seconds), its strength, the model file that heard it (nil when not recorded) and the size of
/// its snapshot's JPEG (0: none).
public struct StoredHit: Sendable, Equatable {
    public var id: Int64
    public var feed: String
    public var streamTime: Double
    public var wall: Double
    public var strength: Double
    public var model: String?
    public var snapshotBytes: Int
}

/// A Thud events database opened for reading. One reader may serve several threads (a web server's): its reads take
/// turns on its one connection.
public final class EventReader: Sendable {
    public let path: String
    private let database: DatabaseQueue

    /// Opens `path` read-only; a file that is not there is 10, one that is not a Thud events database 11 (one line each).
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EventStoreError(.missing, path: path, "no such file")
        }
        if isDirectory.boolValue { throw EventStoreError(.missing, path: path, "is a directory, not an events database") }
        guard FileManager.default.isReadableFile(atPath: path) else { throw EventStoreError(.missing, path: path, "not readable") }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        config.label = "thud-events-reader"
        do {
            database = try DatabaseQueue(path: path, configuration: config)
            if let problem = try database.read({ try EventSchema.problem(in: $0, emptyIsFine: false) }) {
                throw EventStoreError(.notEventsDatabase, path: path, problem)
            }
        } catch let error as EventStoreError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN {
            throw EventStoreError(.missing, path: path, EventSchema.describe(error))
        } catch {
            throw EventStoreError(.notEventsDatabase, path: path, EventSchema.describe(error))
        }
    }

    /// Every stored hit of `feed` (all feeds when nil) seen at or after `since` (Unix seconds; all when nil), oldest
    /// first (by wall clock, then in the order stored), handed to `body` one at a time (a large database is never
    /// held in memory).
    public func forEachHit(feed: String? = nil, since: Double? = nil, _ body: (StoredHit) throws -> Void) throws {
        try forEachHit(feed: feed, since: since, snapshots: false) { hit, _ in try body(hit) }
    }

    /// The same, each hit with its snapshot's JPEG when `snapshots` (nil when it has none, and always without).
    public func forEachHit(feed: String? = nil, since: Double? = nil, snapshots: Bool,
                           _ body: (StoredHit, [UInt8]?) throws -> Void) throws {
        let (filter, arguments) = Self.filter(feed: feed, since: since, until: nil)
        let sql = "SELECT \(Self.columns)\(snapshots ? ", snapshot" : "") FROM events\(filter) ORDER BY wall, id"
        try reading { db in
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                let jpeg: [UInt8]? = snapshots ? (row[7] as Data?).map { [UInt8]($0) } : nil
                try body(Self.hit(row), jpeg)
            }
        }
    }

    /// The stored hits of `feed` (all feeds when nil) seen at or after `since` and before `until` (Unix seconds; no
    /// bound when nil), newest first (by wall clock, then the last stored first): with a `limit`, the newest `limit`
    /// of them (none when it is 0 or less). What a web page lists; a hit's picture is `snapshot(id:)`.
    public func hits(feed: String? = nil, since: Double? = nil, until: Double? = nil, limit: Int? = nil) throws -> [StoredHit] {
        var (filter, arguments) = Self.filter(feed: feed, since: since, until: until)
        var sql = "SELECT \(Self.columns) FROM events\(filter) ORDER BY wall DESC, id DESC"
        if let limit { sql += " LIMIT ?"; arguments += [max(0, limit)] }
        return try reading { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.hit) }
    }

    /// The JPEG stored with hit `id` (the model-sized gray frame of its peak's step); nil when there is no such hit or
    /// it was stored without one.
    public func snapshot(id: Int64) throws -> [UInt8]? {
        try reading { db in
            try Data.fetchOne(db, sql: "SELECT snapshot FROM events WHERE id = ?", arguments: [id]).map { [UInt8]($0) }
        }
    }

    /// The columns `hit` reads, in its order (length() of a blob reads its size, not its bytes).
    private static let columns = "id, feed, stream_t, wall, strength, model, ifnull(length(snapshot), 0)"

    private static func hit(_ row: Row) -> StoredHit {
        StoredHit(id: row[0], feed: row[1], streamTime: row[2], wall: row[3], strength: row[4], model: row[5], snapshotBytes: row[6])
    }

    private static func filter(feed: String?, since: Double?, until: Double?) -> (String, StatementArguments) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let feed { conditions.append("feed = ?"); arguments += [feed] }
        if let since { conditions.append("wall >= ?"); arguments += [since] }
        if let until { conditions.append("wall < ?"); arguments += [until] }
        return (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "), arguments)
    }

    /// A read; a database error is this file's one line (11).
    private func reading<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.read(body)
        } catch let error as DatabaseError {
            throw EventStoreError(.notEventsDatabase, path: path, EventSchema.describe(error))
        }
    }
}
