// `thud events DB`: the stored hits read back, oldest first, through a read-only connection (WAL: a thud writing to
// the same database at the same time neither waits for it nor is waited for).
import Foundation
import GRDB
import ThudBase

/// One stored hit: its feed, its peak's time in the stream, the wall clock when it was seen (Unix seconds), its
/// strength, and the model file that heard it (nil when not recorded).
public struct StoredHit: Sendable, Equatable {
    public var feed: String
    public var streamTime: Double
    public var wall: Double
    public var strength: Double
    public var model: String?
}

public final class EventReader {
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
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let feed { conditions.append("feed = ?"); arguments += [feed] }
        if let since { conditions.append("wall >= ?"); arguments += [since] }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT feed, stream_t, wall, strength, model FROM events\(filter) ORDER BY wall, id"
        do {
            try database.read { db in
                let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
                while let row = try rows.next() {
                    try body(StoredHit(feed: row[0], streamTime: row[1], wall: row[2], strength: row[3], model: row[4]))
                }
            }
        } catch let error as DatabaseError {
            throw EventStoreError(.notEventsDatabase, path: path, EventSchema.describe(error))
        }
    }
}
