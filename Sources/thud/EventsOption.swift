import ArgumentParser
import Foundation
import ThudBase
import ThudEvents

/// `--events DB` and its retention, shared by predict, live and watch: every hit into an SQLite database.
struct EventsOption: ParsableArguments {
    @Option(help: ArgumentHelp("Store every hit in an SQLite database (created if new, WAL mode): feed, stream time, wall clock, strength, model, and a JPEG snapshot of the model-sized frame of its peak. Written in batches on a thread of its own; `thud events DB` lists them. With --learn DIR it defaults to DIR/events.db.", valueName: "DB"))
    var events: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("With --events: delete stored hits older than this many days (checked at the start and every minute; default 30; 0 keeps none from before now).", valueName: "DAYS"))
    var eventsKeepDays: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("With --events: keep the database's data within this many MB, the oldest hits deleted first (default 500).", valueName: "MB"))
    var eventsMaxMb: Double?

    func validate() throws {
        if events == nil && (eventsKeepDays != nil || eventsMaxMb != nil) {
            throw ValidationError("--events-keep-days and --events-max-mb go with --events DB")
        }
        if let d = eventsKeepDays, !(d.isFinite && d >= 0 && d <= 1_000_000) { throw ValidationError("--events-keep-days must be a number of days within 0…1000000") }
        if let mb = eventsMaxMb, !(mb.isFinite && mb > 0 && mb <= 10_000_000) { throw ValidationError("--events-max-mb must be MB above 0, at most 10000000") }
    }

    /// The open store, its writer started; nil without --events. A database that cannot be opened or is not one of
    /// Thud's is its one line (74).
    /// With `--learn DIR` and no --events, the hits go to DIR/events.db, beside the feeds' folders: a feed that
    /// teaches itself keeps its hits too. That default never stops a run: a database it cannot open is one warning.
    func store(learnDirectory: String? = nil) throws -> EventStore? {
        let retention = EventStore.Retention(keepDays: eventsKeepDays ?? 30, maxBytes: Int64((eventsMaxMb ?? 500) * 1_048_576))
        if let events {
            return try EventStore(path: events, retention: retention, warn: { warnLine($0) }, note: { noteLine($0) })
        }
        guard let learnDirectory else { return nil }
        let path = URL(fileURLWithPath: learnDirectory).appendingPathComponent("events.db").path
        do {
            try? FileManager.default.createDirectory(atPath: learnDirectory, withIntermediateDirectories: true)
            return try EventStore(path: path, retention: retention, warn: { warnLine($0) }, note: { noteLine($0) })
        } catch let error as OneLineError {
            warnLine("events: \(error.message); the hits are not kept (--events DB names another database)")
            return nil
        }
    }
}
