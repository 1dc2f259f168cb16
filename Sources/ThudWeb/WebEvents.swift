// The events database as the page's list reads it (`/api/events`, a hit's snapshot): opened per request, read-only;
// in WAL mode a reader never waits for thud's writer.
import Foundation
import ThudEvents

enum WebEvents {
    /// The newest `limit` hits (of one feed, from a moment on) as a JSON array, newest first.
    static func list(path: String, feed: String?, since: Double?, limit: Int) throws -> String {
        let reader = try EventReader(path: path)
        var rows: [String] = []
        try reader.forEachHit(feed: feed, since: since) { hit in
            rows.append("{\"feed\": \(WebHub.quoted(hit.feed)), \"t\": \(String(format: "%.3f", hit.streamTime)), \"wall\": \(String(format: "%.3f", hit.wall)), \"strength\": \(String(format: "%.3f", hit.strength))}")
        }
        return "[" + rows.suffix(limit).reversed().joined(separator: ", ") + "]"
    }

    static func snapshot(path: String, id: Int64) throws -> [UInt8]? { nil }
}
