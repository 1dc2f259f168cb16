import ArgumentParser
import Foundation
import ThudBase
import ThudCommandLine
import ThudEvents
import ThudRuntime

/// `--since`: a moment, as ISO-8601 or as a time ago.
struct SinceTime: ExpressibleByArgument {
    /// Unix seconds.
    var wall: Double

    init?(argument: String) {
        guard let wall = SinceTime.parse(argument, now: Date().timeIntervalSince1970) else { return nil }
        self.wall = wall
    }

    /// `90s`, `10m`, `2h`, `3d` (that long before `now`; decimals allowed), or an ISO-8601 date and time with its zone
    /// (`2026-12-07T17:00:00Z`, `2026-12-07T18:00:00.5+01:00`) or a date alone (`2026-12-07`, its midnight UTC).
    static func parse(_ text: String, now: Double) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        if let unit = text.last.flatMap({ units[$0] }), let n = Double(text.dropLast()), n.isFinite, n >= 0 {
            return now - n * unit
        }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds], [.withFullDate]] {
            let f = ISO8601DateFormatter()
            f.formatOptions = options
            if let date = f.date(from: text) { return date.timeIntervalSince1970 }
        }
        return nil
    }
}

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "List the hits stored by predict, live or watch --events DB, oldest first.",
        discussion: """
        One line per stored hit, oldest first (by the wall clock when it was seen): \
        {"feed": NAME, "t": seconds into its stream (the hit's peak, as MQTT's messages carry it), \
        "wall": Unix seconds, "strength": 0..1, "id": its row in the database, "snapshot_bytes": the size of its \
        snapshot (the JPEG of the model-sized gray frame of its peak's step; 0: stored without one)}; with \
        --format csv the same six columns under a header. --snapshots DIR also writes each listed hit's snapshot \
        as DIR/ID.jpg (DIR made if missing; a hit without one writes no file; each file written in full before its \
        line). --feed keeps one feed's hits; --since keeps those seen from a moment on: a time ago (90s, 10m, 2h, \
        3d) or an ISO-8601 date and time with its zone (2026-12-07T17:00:00Z; a date alone is its midnight UTC). \
        The database is read as it is, also while a thud writes to it (WAL: neither waits). A file that is not \
        there is exit 10; one that is not a Thud events database (not SQLite, another program's, a newer \
        schema) is one line and exit 11, nothing on stdout; a DIR that cannot be made or written is one line \
        and exit 74.
        """)

    @Argument(help: "The events database (--events DB of predict, live or watch).")
    var database: String

    @Option(help: "Only this feed's hits (its name as the lines of watch carry it; a file's or a URL's as given to predict).")
    var feed: String?

    @Option(help: ArgumentHelp("Only hits seen from this moment on: a time ago (90s, 10m, 2h, 3d) or ISO-8601 (2026-12-07T17:00:00Z).", valueName: "T"))
    var since: SinceTime?

    @Option(help: "jsonl or csv.")
    var format: OutputFormat = .jsonl

    @Option(help: ArgumentHelp("Also write each listed hit's snapshot as DIR/ID.jpg (ID: the line's id; made if missing).", valueName: "DIR"))
    var snapshots: String?

    func run() throws {
        do {
            let reader = try EventReader(path: database)
            if let snapshots { try Self.makeFolder(snapshots) }
            let out = LineWriter()
            if format == .csv { try out.write("feed,t,wall,strength,id,snapshot_bytes") }
            try reader.forEachHit(feed: feed, since: since?.wall, snapshots: snapshots != nil) { hit, jpeg in
                if let snapshots, let jpeg {
                    try AtomicFile.write(jpeg, to: (snapshots as NSString).appendingPathComponent("\(hit.id).jpg"))
                }
                let t = fixed(hit.streamTime), wall = fixed(hit.wall, 3), strength = fixed(hit.strength)
                switch format {
                case .jsonl: try out.write("{\"feed\": \(jsonString(hit.feed)), \"t\": \(t), \"wall\": \(wall), \"strength\": \(strength), \"id\": \(hit.id), \"snapshot_bytes\": \(hit.snapshotBytes)}")
                case .csv: try out.write("\(csvField(hit.feed)),\(t),\(wall),\(strength),\(hit.id),\(hit.snapshotBytes)")
                }
            }
        } catch {
            throw exitWith(error)
        }
    }

    /// `--snapshots DIR` made (with its parents, as mkdir -p) before anything is listed: one that cannot be is its one
    /// line (74), saying what the system said.
    static func makeFolder(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
            if mkdir(prefix, 0o755) == 0 || errno == EEXIST { continue }
            let problem = AtomicFile.lastError()
            throw FileWriteError(path: path, "cannot be made (\(prefix == path ? "" : prefix + ": ")\(problem))")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FileWriteError(path: path, "cannot be made (a file of that name is in the way)")
        }
        guard access(path, W_OK) == 0 else { throw FileWriteError(path: path, "cannot be written (\(AtomicFile.lastError()))") }
    }

    /// A CSV field (RFC 4180): quoted, its quotes doubled, when it holds a comma, a quote or a line break.
    func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
