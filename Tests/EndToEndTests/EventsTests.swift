import Foundation
import XCTest
import ThudModel
import ThudTestSupport

/// `--events DB` and `thud events` (issue 39, point 2): every hit in an SQLite database, written on a thread of its
/// own, surviving kill -9 but for the last moment, a locked database costing one line and no hit, retention by age and
/// size; the database read back by the built `thud`, a lock held and old rows made by the sqlite3 shell.
final class EventsTests: XCTestCase {
    let dir = TemporaryDirectory("events")

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let model = EventsTests.root.appendingPathComponent("models/default.thud").path
    let sample = EventsTests.root.appendingPathComponent("models/sample.mp4").path

    /// A step line's "t" as printed (six decimals), and whether it flags a hit.
    func stepTime(_ line: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let t = object["t"] as? Double,
              object["event"] == nil else { return nil }
        return String(format: "%.6f", t)
    }

    /// What the stored hits should be from a run's step lines: each hit is stored at its peak, the step before the
    /// line that flags it (EnvelopeStream: the picker confirms a peak one step later), with the line's strength.
    func expectedHits(_ lines: [String]) -> [(t: String, strength: String, line: String)] {
        var out: [(t: String, strength: String, line: String)] = []
        let steps = lines.filter { stepTime($0) != nil }
        for (i, line) in steps.enumerated() where line.contains("\"hit\": true") && i > 0 {
            let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            out.append((stepTime(steps[i - 1])!, String(format: "%.6f", object["strength"] as! Double), line))
        }
        return out
    }

    /// The whole lines a running thud has written so far (not the one it is in the middle of).
    func wholeLines(_ p: RunningProcess) -> [String] {
        let text = p.stdoutText
        return text.hasSuffix("\n") ? p.lines : Array(text.split(separator: "\n").dropLast().map(String.init))
    }

    /// `thud events DB args…` as parsed JSON objects (status 0 asserted).
    func listed(_ db: String, _ args: [String] = []) throws -> [[String: Any]] {
        let r = try Executable.run("thud", ["events", db] + args, timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderrText)
        return r.lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// Runs the sqlite3 shell on `db` with `commands` (each an SQL statement or a dot-command); returns its stdout.
    @discardableResult
    func sqlite(_ db: String, _ commands: [String]) throws -> String {
        let p = try RunningProcess("sqlite3", [db] + commands)
        let end = p.waitForExit(timeout: 60)
        XCTAssertEqual(end.status, 0, "sqlite3 (tools/setup.sh installs it): " + p.stderrText)
        return p.stdoutText
    }

    /// A live UDP MPEG-TS stream whose picture flashes for 0.15 s every second: hits to the bundled model.
    func flashingStream(port: Int, seconds: Double) throws -> RunningProcess {
        try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
                                      "-vf", "eq=brightness='if(lt(mod(t,1),0.15),0.6,0)':eval=frame",
                                      "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
                                      "-pix_fmt", "yuv420p", "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"])
    }

    /// (a) The hits of predict on the sample clip, exactly as its lines flag them, in the database; `thud events`
    /// lists them in JSON lines and CSV, filtered by feed and time.
    func testPredictStoresExactlyTheHitsItPrinted() throws {
        let db = dir.path("hits.db")
        let r = try Executable.run("thud", ["predict", "--model", model, "--events", db, sample], timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderrText)
        let expected = expectedHits(r.lines)
        XCTAssertGreaterThan(expected.count, 0, "the sample clip has hits for the bundled model")
        XCTAssertTrue(r.stderrText.contains("thud: events: \(db): \(expected.count) hit\(expected.count == 1 ? "" : "s") stored (0 dropped), \(expected.count) with a snapshot\n"), r.stderrText)

        let stored = try listed(db)
        XCTAssertEqual(stored.count, expected.count)
        let now = Date().timeIntervalSince1970
        for (s, e) in zip(stored, expected) {
            XCTAssertEqual(s["feed"] as? String, sample)
            XCTAssertEqual(String(format: "%.6f", s["t"] as! Double), e.t)
            XCTAssertEqual(String(format: "%.6f", s["strength"] as! Double), e.strength)
            let wall = try XCTUnwrap(s["wall"] as? Double)
            XCTAssertLessThanOrEqual(abs(now - wall), 600, "the wall clock of this run")
        }
        let walls = stored.map { $0["wall"] as! Double }
        XCTAssertEqual(walls, walls.sorted(), "oldest first")

        // CSV: a header and the same rows.
        let csv = try Executable.run("thud", ["events", db, "--format", "csv"], timeout: 60)
        XCTAssertEqual(csv.status, 0, csv.stderrText)
        XCTAssertEqual(csv.lines.first, "feed,t,wall,strength,id,snapshot_bytes")
        XCTAssertEqual(csv.lines.count, expected.count + 1)
        for (row, (e, s)) in zip(csv.lines.dropFirst(), zip(expected, stored)) {
            let fields = row.split(separator: ",").map(String.init)
            XCTAssertEqual(fields.count, 6, row)
            XCTAssertEqual(fields[0], sample)
            XCTAssertEqual(fields[1], e.t)
            XCTAssertEqual(fields[3], e.strength)
            XCTAssertEqual(Int(fields[4]), s["id"] as? Int)
            XCTAssertEqual(Int(fields[5]), s["snapshot_bytes"] as? Int)
        }
        // Filters: the feed, another feed, a time ago, a moment to come, an ISO-8601 moment before the run.
        XCTAssertEqual(try listed(db, ["--feed", sample]).count, expected.count)
        XCTAssertEqual(try listed(db, ["--feed", "elsewhere"]).count, 0)
        XCTAssertEqual(try listed(db, ["--since", "1h"]).count, expected.count)
        XCTAssertEqual(try listed(db, ["--since", "2999-01-01T00:00:00Z"]).count, 0)
        XCTAssertEqual(try listed(db, ["--since", "2020-01-01"]).count, expected.count)
        let bad = try Executable.run("thud", ["events", db, "--since", "yesterday"], timeout: 60)
        XCTAssertEqual(bad.status, 64, bad.stderrText)

        // A second run adds to the same database.
        let again = try Executable.run("thud", ["predict", "--model", model, "--events", db, sample], timeout: 300)
        XCTAssertEqual(again.status, 0, again.stderrText)
        XCTAssertEqual(try listed(db).count, 2 * expected.count)
    }

    /// (f) Every hit is stored with its snapshot, and the snapshot is the frame of its peak's step: `thud events
    /// --snapshots DIR` writes each as DIR/ID.jpg (ID and size as its line says), FFmpeg decodes each to the model's
    /// input size, and each is the frame `thud frames` gives for that step at that size (to JPEG's error), nearer to
    /// it than to any of the 3 frames either side that differs. A DIR that cannot be made is one line, exit 74.
    func testEachHitIsStoredWithTheFrameOfItsPeak() throws {
        let db = dir.path("snapshots.db")
        let r = try Executable.run("thud", ["predict", "--model", model, "--events", db, sample], timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderrText)
        let count = expectedHits(r.lines).count
        XCTAssertGreaterThan(count, 0, "the sample clip has hits for the bundled model")
        XCTAssertTrue(r.stderrText.contains("thud: events: \(db): \(count) hit\(count == 1 ? "" : "s") stored (0 dropped), \(count) with a snapshot\n"), r.stderrText)

        let streaming = try StreamingModel(path: model)
        let (w, h) = (streaming.inputWidth, streaming.inputHeight)
        let frames = try Executable.run("thud", ["frames", "--size", "\(w)x\(h)", sample], timeout: 120)
        XCTAssertEqual(frames.status, 0, frames.stderrText)
        let raw = [UInt8](frames.stdout)
        func frame(_ step: Int) -> ArraySlice<UInt8> { raw[step * w * h ..< (step + 1) * w * h] }
        func meanDifference(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Double {
            zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(w * h)
        }

        let folder = dir.path("pictures/of/hits")
        let hits = try listed(db, ["--snapshots", folder])
        XCTAssertEqual(hits.count, count)
        for hit in hits {
            let id = try XCTUnwrap(hit["id"] as? Int), bytes = try XCTUnwrap(hit["snapshot_bytes"] as? Int)
            let step = Int(((hit["t"] as! Double) * 12).rounded())
            XCTAssertGreaterThan(bytes, 0, "hit \(id) has a snapshot")
            let file = "\(folder)/\(id).jpg"
            XCTAssertEqual((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int, bytes, file)
            let probe = try RunningProcess("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", file])
            XCTAssertEqual(probe.waitForExit(timeout: 60).status, 0, probe.stderrText)
            XCTAssertEqual(probe.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "\(w),\(h)", "\(file): the model's input size")
            let decodedPath = dir.path("\(id).gray")
            let decode = try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-i", file, "-f", "rawvideo", "-pix_fmt", "gray", decodedPath])
            XCTAssertEqual(decode.waitForExit(timeout: 60).status, 0, decode.stderrText)
            let picture = try [UInt8](Data(contentsOf: URL(fileURLWithPath: decodedPath)))
            XCTAssertEqual(picture.count, w * h, file)
            guard picture.count == w * h, (step + 1) * w * h <= raw.count else { XCTFail("step \(step) of \(raw.count / (w * h))"); continue }
            // The sample's neighbouring steps differ by 1 to 4 grey levels on average, JPEG's error is below 1: the
            // snapshot must be nearest to its own step's frame, not merely near it.
            let own = meanDifference(picture, frame(step))
            XCTAssertLessThan(own, 2, "hit \(id): the snapshot is step \(step)'s frame (mean absolute difference \(own))")
            for other in max(0, step - 3)...min(raw.count / (w * h) - 1, step + 3) where other != step && meanDifference(frame(other), frame(step)) > 0.5 {
                let theirs = meanDifference(picture, frame(other))
                XCTAssertLessThan(own, theirs, "hit \(id): nearer to step \(step)'s frame (\(own)) than to step \(other)'s (\(theirs))")
            }
        }
        let written = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        XCTAssertEqual(written, hits.map { "\($0["id"] as! Int).jpg" }.sorted(), "one file per listed hit, nothing else")

        // --feed and --since choose what is listed and written.
        let none = dir.path("none")
        XCTAssertEqual(try listed(db, ["--feed", "elsewhere", "--snapshots", none]).count, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: none), [])
        // A DIR under a file cannot be made: its line, 74, nothing listed.
        let blocker = dir.path("blocker")
        _ = FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8))
        for bad in [blocker, blocker + "/sub"] {
            let refused = try Executable.run("thud", ["events", db, "--snapshots", bad], timeout: 60)
            XCTAssertEqual(refused.status, 74, refused.stderrText)
            XCTAssertEqual(refused.stdout.count, 0)
            XCTAssertEqual(refused.stderrText.split(separator: "\n").count, 1, refused.stderrText)
            XCTAssertTrue(refused.stderrText.hasPrefix("thud: \(bad): cannot be "), refused.stderrText)
        }
    }

    /// (b) kill -9 at a random moment: every hit printed more than a second before the kill is in the database.
    func testKillNineLosesAtMostTheLastSecond() throws {
        let db = dir.path("killed.db")
        let port = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", model, "--timeout", "10", "--events", db, "udp://127.0.0.1:\(port)"])
        let sender = try flashingStream(port: port, seconds: 90)
        defer { sender.kill9(); thud.kill9() }
        // When each hit line was first seen here (seen ≥ printed, so "seen before kill − 1 s" is stricter).
        var seen: [String: Double] = [:]
        func look() {
            for line in wholeLines(thud) where line.contains("\"hit\": true") && seen[line] == nil {
                seen[line] = Date().timeIntervalSince1970
            }
        }
        let start = Date()
        while seen.count < 3 && Date().timeIntervalSince(start) < 90 { look(); usleep(20_000) }
        XCTAssertGreaterThanOrEqual(seen.count, 3, "hits from the flashing stream: " + thud.stderrText)
        let wait = Date().addingTimeInterval(Double.random(in: 0.2...2.5))
        while Date() < wait { look(); usleep(20_000) }
        look()
        let killedAt = Date().timeIntervalSince1970
        kill(thud.process.processIdentifier, SIGKILL)
        thud.waitForExit()
        XCTAssertFalse(thud.stderrText.contains("hits stored"), "no end line after kill -9")
        let expected = expectedHits(wholeLines(thud))
        let old = Set(expected.filter { (seen[$0.line] ?? .infinity) < killedAt - 1 }.map(\.t))
        let stored = Set(try listed(db).map { String(format: "%.6f", $0["t"] as! Double) })
        XCTAssertFalse(old.isEmpty)
        XCTAssertTrue(old.isSubset(of: stored), "missing after kill -9: \(old.subtracting(stored).sorted()) (stored \(stored.sorted()))")
        XCTAssertTrue(stored.isSubset(of: Set(expected.map(\.t))), "only hits that were printed")
    }

    /// (c) Another process holds the write lock for 4 s: one warning line, the steps go on, and every hit comes in
    /// once the lock is released.
    func testALockedDatabaseCostsOneLineAndNoHit() throws {
        let db = dir.path("locked.db")
        let port = FreePort.pick(udp: true)
        let thud = try RunningProcess.thud(["predict", "--model", model, "--timeout", "10", "--events", db, "udp://127.0.0.1:\(port)"])
        let sender = try flashingStream(port: port, seconds: 90)
        defer { sender.kill9(); thud.kill9() }
        XCTAssertTrue(thud.waitForLines(1, matching: { $0.contains("\"hit\": true") }, timeout: 90), thud.stderrText)
        let holder = try RunningProcess("sqlite3", [db, ".timeout 5000", "BEGIN EXCLUSIVE", "DELETE FROM events WHERE 0",
                                                        // .shell's echo, not .print: sqlite3 buffers its own output on a pipe.
                                                        ".shell echo locked", ".shell sleep 4", "COMMIT", ".shell echo released"])
        defer { holder.kill9() }
        XCTAssertTrue(holder.waitForLines(1, matching: { $0 == "locked" }, timeout: 60), "sqlite3 (tools/setup.sh installs it): " + holder.stderrText)
        let linesAtLock = thud.lines.count
        let hitsAtLock = thud.lines.filter { $0.contains("\"hit\": true") }.count
        XCTAssertEqual(holder.waitForExit(timeout: 60).status, 0, holder.stderrText)
        XCTAssertTrue(holder.stdoutText.contains("released"), holder.stdoutText)
        XCTAssertGreaterThanOrEqual(thud.lines.count, linesAtLock + 36, "the steps went on during the lock")
        XCTAssertGreaterThan(thud.lines.filter { $0.contains("\"hit\": true") }.count, hitsAtLock, "hits came during the lock")
        // A few more seconds after the release, then the end.
        XCTAssertTrue(thud.waitForLines(thud.lines.count + 24, timeout: 60), thud.stderrText)
        thud.terminate()
        XCTAssertEqual(thud.waitForExit(timeout: 60).status, 0, thud.stderrText)
        let warnings = thud.stderrText.split(separator: "\n").filter { $0.hasPrefix("thud: warning: events: ") }
        XCTAssertEqual(warnings.count, 1, thud.stderrText)
        XCTAssertTrue(warnings.first?.contains("\(db): the database is locked") == true, thud.stderrText)
        let expected = expectedHits(thud.lines)
        let stored = try listed(db).map { String(format: "%.6f", $0["t"] as! Double) }
        XCTAssertEqual(stored, expected.map(\.t), "every hit, once, in order")
        XCTAssertTrue(thud.stderrText.contains("thud: events: \(db): \(expected.count) hits stored (0 dropped), \(expected.count) with a snapshot\n"), thud.stderrText)
    }

    /// watch: one database for every feed, each hit under its feed's name, the same hits as the feed's lines.
    func testWatchStoresEachFeedsHitsUnderItsName() throws {
        let db = dir.path("watch.db")
        let (p1, p2) = (FreePort.pick(udp: true), FreePort.pick(udp: true))
        let thud = try RunningProcess.thud(["watch", "--model", model, "--timeout", "10", "--steps", "72", "--events", db,
                                            "door=udp://127.0.0.1:\(p1)", "yard=udp://127.0.0.1:\(p2)"])
        let senders = [try flashingStream(port: p1, seconds: 60), try flashingStream(port: p2, seconds: 60)]
        defer { senders.forEach { $0.kill9() }; thud.kill9() }
        XCTAssertEqual(thud.waitForExit(timeout: 120).status, 0, thud.stderrText)
        for feed in ["door", "yard"] {
            let lines = thud.lines.filter { $0.hasPrefix("{\"feed\": \"\(feed)\", ") }
            XCTAssertEqual(lines.count, 72, thud.stderrText)
            let expected = expectedHits(lines)
            XCTAssertGreaterThan(expected.count, 0, "flashes are hits: " + thud.stderrText)
            let stored = try listed(db, ["--feed", feed])
            XCTAssertEqual(stored.map { String(format: "%.6f", $0["t"] as! Double) }, expected.map(\.t))
            XCTAssertTrue(stored.allSatisfy { $0["feed"] as? String == feed })
        }
        let all = try listed(db).count
        XCTAssertTrue(thud.stderrText.contains("thud: events: \(db): \(all) hits stored (0 dropped), \(all) with a snapshot\n"), thud.stderrText)
    }

    /// (d) A file that is not a Thud events database: one line naming it, exit 11, nothing on stdout; a missing one
    /// 10; `--events` on one refuses to run (74).
    func testAFileThatIsNotAnEventsDatabaseIsOneLine() throws {
        let garbage = dir.path("garbage.db")
        var bytes = [UInt8](repeating: 0, count: 8192)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        try Data(bytes).write(to: URL(fileURLWithPath: garbage))
        let other = dir.path("other.db")
        try sqlite(other, ["CREATE TABLE notes (x TEXT)"])
        let empty = dir.path("empty.db")
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        for (file, code) in [(garbage, Int32(11)), (other, 11), (empty, 11), (dir.path("absent.db"), 10), (dir.url.path, 10)] {
            let r = try Executable.run("thud", ["events", file], timeout: 60)
            XCTAssertEqual(r.status, code, "\(file): \(r.stderrText)")
            XCTAssertEqual(r.stdout.count, 0, file)
            XCTAssertEqual(r.stderrText.split(separator: "\n").count, 1, r.stderrText)
            XCTAssertTrue(r.stderrText.hasPrefix("thud: \(file): "), r.stderrText)
        }
        let r = try Executable.run("thud", ["predict", "--model", model, "--events", garbage, sample], timeout: 120)
        XCTAssertEqual(r.status, 74, r.stderrText)
        XCTAssertEqual(r.stdout.count, 0)
        XCTAssertTrue(r.stderrText.hasPrefix("thud: \(garbage): not a Thud events database"), r.stderrText)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: garbage)), Data(bytes), "left as it was")
    }

    /// (e) Retention: hits older than --events-keep-days go when a run starts; past --events-max-mb the oldest go
    /// first, and the file shrinks with them.
    func testRetentionByAgeAndBySize() throws {
        let db = dir.path("kept.db")
        // The schema, from a run of thud; then rows two days and half a day old.
        let first = try Executable.run("thud", ["predict", "--model", model, "--events", db, sample], timeout: 300)
        XCTAssertEqual(first.status, 0, first.stderrText)
        let own = try listed(db).count
        let now = Date().timeIntervalSince1970
        try sqlite(db, ["""
            INSERT INTO events (feed, stream_t, wall, strength)
            WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100)
            SELECT 'two days', x, \(now - 2 * 86_400) + x, 0.5 FROM n UNION ALL SELECT 'half a day', x, \(now - 43_200) + x, 0.5 FROM n
            """])
        XCTAssertEqual(try listed(db).count, own + 200)
        let r = try Executable.run("thud", ["predict", "--model", model, "--events", db, "--events-keep-days", "1", sample], timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(try listed(db, ["--feed", "two days"]).count, 0)
        XCTAssertEqual(try listed(db, ["--feed", "half a day"]).count, 100)
        XCTAssertEqual(try listed(db, ["--feed", sample]).count, 2 * own)
        // keep-days 0: nothing from before this run.
        let zero = try Executable.run("thud", ["predict", "--model", model, "--events", db, "--events-keep-days", "0", sample], timeout: 300)
        XCTAssertEqual(zero.status, 0, zero.stderrText)
        XCTAssertEqual(try listed(db).count, own)

        // Size: 40,000 rows of the last hour (a few MB), then a run with a limit of 0.5 MB.
        let big = dir.path("big.db")
        let created = try Executable.run("thud", ["predict", "--model", model, "--events", big, sample], timeout: 300)
        XCTAssertEqual(created.status, 0, created.stderrText)
        try sqlite(big, ["DELETE FROM events", """
            INSERT INTO events (feed, stream_t, wall, strength)
            WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 40000)
            SELECT 'bulk', x, \(now - 3600) + x * 0.05, 0.5 FROM n
            """])
        let before = try FileManager.default.attributesOfItem(atPath: big)[.size] as! Int
        XCTAssertGreaterThan(before, 1 << 20, "the bulk rows take more than 1 MB")
        let limited = try Executable.run("thud", ["predict", "--model", model, "--events", big, "--events-max-mb", "0.5", sample], timeout: 300)
        XCTAssertEqual(limited.status, 0, limited.stderrText)
        let bulk = try listed(big, ["--feed", "bulk"])
        XCTAssertGreaterThan(bulk.count, 1000)
        XCTAssertLessThan(bulk.count, 40000)
        // The oldest went: what is left is the newest, without a hole.
        XCTAssertEqual(bulk.first?["t"] as? Double, Double(40000 - bulk.count + 1))
        XCTAssertEqual(bulk.last?["t"] as? Double, 40000)
        XCTAssertEqual(try listed(big, ["--feed", sample]).count, own, "this run's hits are in")
        let after = try FileManager.default.attributesOfItem(atPath: big)[.size] as! Int
        XCTAssertLessThanOrEqual(after, 550 * 1024, "the file shrank to the limit (was \(before) bytes)")
    }
}
