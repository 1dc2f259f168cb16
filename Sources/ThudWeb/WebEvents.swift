// The events database as the page's list reads it (`/api/events`, a hit's snapshot): opened per request, read-only;
// in WAL mode a reader never waits for thud's writer.
import Foundation
import ThudBase
import ThudEvents

enum WebEvents {
    /// The newest `limit` hits (of one feed, from a moment on) as a JSON array, newest first:
    /// `{"id", "feed", "t", "wall", "strength", "model", "snapshot_bytes"}`.
    static func list(path: String, feed: String?, since: Double?, limit: Int) throws -> String {
        let hits = try EventReader(path: path).hits(feed: feed, since: since, limit: limit)
        return "[" + hits.map { hit in
            "{\"id\": \(hit.id), \"feed\": \(jsonString(hit.feed)), \"t\": \(String(format: "%.3f", hit.streamTime)), "
                + "\"wall\": \(String(format: "%.3f", hit.wall)), \"strength\": \(String(format: "%.3f", hit.strength)), "
                + "\"model\": \(hit.model.map(jsonString) ?? "null"), \"snapshot_bytes\": \(hit.snapshotBytes)}"
        }.joined(separator: ", ") + "]"
    }

    /// A hit's JPEG (nil: no such hit, or stored without one).
    static func snapshot(path: String, id: Int64) throws -> [UInt8]? {
        try EventReader(path: path).snapshot(id: id)
    }
}
