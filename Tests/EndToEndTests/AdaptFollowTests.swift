import XCTest
import ThudModel
import ThudMedia
import ThudTestSupport

/// `thud-train adapt --follow DIR --out M` as `thud … --learn` will run it: a learner beside a recorder that drops
/// segments into DIR (hidden while written, renamed into place), deletes old ones, and may be killed at any moment.
/// Rounds are kept tiny (a 16×16 model, 3 s segments, a few epochs) so each test takes seconds.
final class AdaptFollowTests: XCTestCase {
    let dir = TemporaryDirectory("adapt-follow")

    // MARK: Material

    /// Segment `i` of a scene: a dark still picture where a bright box shows for two frames at each click, so a
    /// model can learn from a few seconds what the sound follows. Matroska, H.264 + FLAC, 3 s.
    private func segment(_ i: Int) throws -> String {
        let folder = dir.path("recorded")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = "\(folder)/rec-20261207-120000-\(String(format: "%03d", i)).mkv"
        if FileManager.default.fileExists(atPath: path) { return path }
        let clicks = [0.4 + 0.2 * Double(i % 4), 1.6 + 0.1 * Double(i % 5), 2.5]
        let width = 96, height = 64
        let writer = try MediaWriter(path: path, video: VideoEncodeSettings(width: width, height: height, nominalFrameRate: 25, crf: 18),
                                     audio: AudioEncodeSettings(sampleRate: 48000, channels: 1, codec: .flac), format: "matroska")
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for frame in 0..<75 {
            let t = Double(frame) / 25
            let lit = clicks.contains { t >= $0 && t < $0 + 0.08 }
            for y in 0..<height {
                for x in 0..<width {
                    let inBox = lit && x >= width / 4 && x < width * 3 / 4 && y >= height / 4 && y < height * 3 / 4
                    let o = (y * width + x) * 3
                    rgb[o] = inBox ? 240 : 40; rgb[o + 1] = rgb[o]; rgb[o + 2] = rgb[o]
                }
            }
            try rgb.withUnsafeBufferPointer { try writer.writeVideoFrame(rgb: $0, stride: width * 3, time: t) }
        }
        let samples = FrameCounterClip.clickTrack(rate: 48000, channels: 1, seconds: 3, clicks: clicks)
        try samples.withUnsafeBufferPointer { try writer.writeAudio(interleaved: $0) }
        try writer.finish()
        return path
    }

    /// The starting model: FlatModel (its output never moves), so rounds that write M are sure to come.
    private func base() throws -> String {
        let path = dir.path("base.thud")
        try FlatModel.write(to: path)
        return path
    }

    /// Puts a segment into DIR as the recorder does: written under a hidden name, then renamed into place.
    private func record(_ i: Int, into folder: String) throws {
        let name = "rec-20261207-120000-\(String(format: "%03d", i)).mkv"
        let hidden = "\(folder)/.\(name).partial"
        try? FileManager.default.removeItem(atPath: hidden)
        try FileManager.default.copyItem(atPath: try segment(i), toPath: hidden)
        XCTAssertEqual(rename(hidden, "\(folder)/\(name)"), 0)
    }

    /// `thud-train adapt --follow FOLDER` with tiny rounds, and `extra` options.
    private func arguments(_ folder: String, model: String, _ extra: [String] = []) throws -> [String] {
        ["adapt", "--follow", folder, "--out", model, "--from", try base(), "--every", "3", "--min-seconds", "9",
         "--epochs", "8", "--patience", "8", "--learning-rate", "0.02", "--poll", "0.2"] + extra
    }

    /// learning.jsonl's lines, each parsed (a line that is not JSON fails the test).
    private func journal(_ folder: String, file: StaticString = #filePath, line: UInt = #line) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: "\(folder)/learning.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { row in
            let object = try? JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any]
            XCTAssertNotNil(object, "not a JSON object: \(row)", file: file, line: line)
            return object
        }
    }

    /// Checks one learning.jsonl line's fields and that M was written exactly when "after" beats "before".
    private func checkRound(_ round: [String: Any], file: StaticString = #filePath, line: UInt = #line) {
        for key in ["time", "round", "segments", "learned_s", "held_out_s", "before", "after", "written", "seconds"] {
            XCTAssertNotNil(round[key], "\(key) missing: \(round)", file: file, line: line)
        }
        XCTAssertNotNil(ISO8601DateFormatter().date(from: round["time"] as? String ?? ""), "time: \(round)", file: file, line: line)
        XCTAssertGreaterThanOrEqual(round["segments"] as? Int ?? 0, 1, file: file, line: line)
        XCTAssertGreaterThan(round["learned_s"] as? Double ?? 0, 0, file: file, line: line)
        XCTAssertGreaterThan(round["held_out_s"] as? Double ?? 0, 0, file: file, line: line)
        func total(_ key: String) -> Double {
            let s = round[key] as? [String: Any] ?? [:]
            XCTAssertNotNil(s["hit_f1"] as? Double, "\(key).hit_f1: \(round)", file: file, line: line)
            XCTAssertNotNil(s["r"], "\(key).r (a number or null): \(round)", file: file, line: line)
            return (s["hit_f1"] as? Double ?? 0) + (s["r"] as? Double ?? 0)
        }
        let better = total("after") > total("before")
        XCTAssertEqual(round["written"] as? Bool, better, "M is written exactly when after beats before: \(round)", file: file, line: line)
    }

    /// M loads as thud loads it, and says what it learned.
    private func checkModel(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> ModelFile {
        let model = try ModelFile.read(path: path)
        _ = try StreamingModel(path: path)
        XCTAssertNotNil(model.header.provenance["learned_seconds"].flatMap(Double.init), "learned_seconds: \(model.header.provenance)",
                        file: file, line: line)
        return model
    }

    // MARK: Tests

    func testRoundsFollowSegmentsAsTheyArriveAndWriteOnlyABetterModel() throws {
        let folder = dir.path("feed")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let model = "\(folder)/model.thud"
        let learner = try Learner(try arguments(folder, model: model))
        defer { learner.kill() }
        for i in 1...7 {
            try record(i, into: folder)
            // A recorder's pace, shortened: a round may run while the next segment arrives.
            usleep(700_000)
        }
        XCTAssertTrue(learner.wait(timeout: 120) { self.journal(folder).count >= 3 }, "three rounds: \(learner.stderr)")
        // Every thread of the learner runs at nice 10 (the default), prediction's cores come first.
        let nices = learner.threadNiceValues()
        XCTAssertFalse(nices.isEmpty)
        XCTAssertTrue(nices.allSatisfy { $0 == 10 }, "thread nice values \(nices)")
        XCTAssertEqual(learner.stop(SIGTERM, within: 30), 0, learner.stderr)

        let rounds = journal(folder)
        XCTAssertGreaterThanOrEqual(rounds.count, 3)
        XCTAssertEqual(rounds.map { $0["round"] as? Int ?? 0 }, Array(1...rounds.count))
        for round in rounds { checkRound(round) }
        let lines = learner.stderr.split(separator: "\n").filter { $0.hasPrefix("round ") }
        XCTAssertEqual(lines.count, rounds.count, learner.stderr)
        XCTAssertTrue(rounds.contains { $0["written"] as? Bool == true }, "no round beat the flat starting model: \(rounds)")
        XCTAssertEqual(rounds.first?["compared_with"] as? String, "base")
        // M is the last written round's model.
        let written = try XCTUnwrap(rounds.last { $0["written"] as? Bool == true })
        let m = try checkModel(model)
        XCTAssertEqual(m.header.provenance["learned_seconds"], String(format: "%.1f", written["learned_s"] as? Double ?? -1))
        XCTAssertEqual(m.header.provenance["learned_round"], "\(written["round"] as? Int ?? -1)")
        XCTAssertEqual(m.header.architecture, try ModelFile.read(path: try base()).header.architecture)
        // A round after the first write compares with M.
        if let after = rounds.firstIndex(where: { $0["written"] as? Bool == true }), after + 1 < rounds.count {
            XCTAssertEqual(rounds[after + 1]["compared_with"] as? String, "model")
        }
        // Nothing but the segments, the log, M and the learner's own folder (its round files cleared).
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix("rec-") }.sorted()
        XCTAssertEqual(names, [".learner", "learning.jsonl", "model.thud"])
        let work = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/.learner").sorted()
        XCTAssertEqual(work, ["cache", "lock"])
    }

    func testKilledAtAnyMomentMStillLoadsAndARestartGoesOn() throws {
        let folder = dir.path("feed")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 1...4 { try record(i, into: folder) }
        let model = "\(folder)/model.thud"
        var generator = SystemRandomNumberGenerator()
        var delays: [Double] = []
        for k in 0..<5 {
            // Each start finds enough recorded and begins a round at once: the kill lands in it (or in the decode
            // before it, or in M's write after it).
            try record(5 + k, into: folder)
            let learner = try Learner(try arguments(folder, model: model))
            let delay = Double.random(in: 0.3...3.5, using: &generator)
            delays.append(delay)
            usleep(useconds_t(delay * 1_000_000))
            learner.kill()
            if FileManager.default.fileExists(atPath: model) {
                XCTAssertNoThrow(try checkModel(model), "after a kill -9 at \(delays) s: \(learner.stderr)")
            }
        }
        let before = journal(folder)
        for round in before { checkRound(round) }
        // A restart clears the killed rounds' files and goes on: a new round, numbered after the last one logged.
        let learner = try Learner(try arguments(folder, model: model))
        defer { learner.kill() }
        XCTAssertTrue(learner.wait(timeout: 120) { self.journal(folder).count > before.count }, "kills at \(delays) s; \(learner.stderr)")
        XCTAssertEqual(learner.stop(SIGTERM, within: 30), 0, learner.stderr)
        let after = journal(folder)
        XCTAssertEqual(after.map { $0["round"] as? Int ?? 0 }, Array(1...after.count), "kills at \(delays) s")
        for round in after { checkRound(round) }
        if after.contains(where: { $0["written"] as? Bool == true }) { _ = try checkModel(model) }
        let work = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/.learner").sorted()
        XCTAssertEqual(work, ["cache", "lock"], "kills at \(delays) s")
    }

    func testSIGTERMStopsPromptlyWithExitZero() throws {
        // While it waits for DIR to be made.
        let missing = dir.path("not-yet")
        let waiting = try Learner(try arguments(missing, model: "\(missing)/model.thud"))
        defer { waiting.kill() }
        XCTAssertTrue(waiting.wait(timeout: 60) { waiting.stderr.contains("waiting for the recorder") }, waiting.stderr)
        var started = Date()
        XCTAssertEqual(waiting.stop(SIGTERM, within: 10), 0, waiting.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)

        // In the middle of a round that would run for ever: within a batch, nothing written.
        let folder = dir.path("feed")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 1...4 { try record(i, into: folder) }
        let model = "\(folder)/model.thud"
        let training = try Learner(try arguments(folder, model: model, ["--epochs", "100000", "--patience", "100000"]))
        defer { training.kill() }
        XCTAssertTrue(training.wait(timeout: 120) { FileManager.default.fileExists(atPath: "\(folder)/.learner/candidate.thud.checkpoint") },
                      "an epoch ends: \(training.stderr)")
        started = Date()
        XCTAssertEqual(training.stop(SIGTERM, within: 30), 0, training.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertFalse(FileManager.default.fileExists(atPath: model))
        XCTAssertEqual(journal(folder).count, 0)
        XCTAssertTrue(training.stderr.contains("stopped (SIGTERM)"), training.stderr)
    }

    func testAGarbageOrVanishingSegmentIsSkippedWithOneLine() throws {
        let folder = dir.path("feed")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in [1, 2, 4, 5] { try record(i, into: folder) }
        let garbage = "\(folder)/rec-20261207-120000-003.mkv"
        var bytes = [UInt8](repeating: 0, count: 50_000)
        var generator = SystemRandomNumberGenerator()
        for k in bytes.indices { bytes[k] = UInt8.random(in: 0...255, using: &generator) }
        try Data(bytes).write(to: URL(fileURLWithPath: garbage))
        let model = "\(folder)/model.thud"
        let learner = try Learner(try arguments(folder, model: model))
        defer { learner.kill() }
        XCTAssertTrue(learner.wait(timeout: 120) { self.journal(folder).count >= 1 }, learner.stderr)
        // The recorder's budget deletes the oldest while new ones come, a round running or not.
        for i in 6...9 {
            try record(i, into: folder)
            unlink("\(folder)/rec-20261207-120000-\(String(format: "%03d", i - 5)).mkv")
            usleep(400_000)
        }
        let seen = journal(folder).count
        XCTAssertTrue(learner.wait(timeout: 120) { self.journal(folder).count > seen }, "rounds go on: \(learner.stderr)")
        XCTAssertEqual(learner.stop(SIGTERM, within: 30), 0, learner.stderr)
        let lines = learner.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.contains("rec-20261207-120000-003.mkv") }.count, 1, learner.stderr)
        XCTAssertTrue(lines.contains { $0.contains("rec-20261207-120000-003.mkv: skipped") }, learner.stderr)
        for i in 1...4 {
            XCTAssertLessThanOrEqual(lines.filter { $0.contains("rec-20261207-120000-00\(i).mkv") }.count, 1, learner.stderr)
        }
        for round in journal(folder) { checkRound(round) }
    }

    func testWithExitWithParentTheLearnerEndsWhenItsStarterIsKilled() throws {
        let folder = dir.path("feed")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let args = try arguments(folder, model: "\(folder)/model.thud", ["--exit-with-parent"])
        // A parent like thud: starts the learner and waits; its pid is the first line it prints.
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = ["-c", "\"$0\" \"$@\" & echo $!; wait", Executable.url("thud-train").path] + args
        let out = Pipe()
        parent.standardOutput = out
        parent.standardError = FileHandle.nullDevice
        parent.standardInput = FileHandle.nullDevice
        try parent.run()
        let first = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let learner = try XCTUnwrap(pid_t(first.trimmingCharacters(in: .whitespacesAndNewlines)), "the learner's pid: \(first)")
        defer { if Self.running(learner) { kill(learner, SIGKILL) } }
        // It follows DIR (its lock says so) before the parent goes.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? String(contentsOfFile: "\(folder)/.learner/lock", encoding: .utf8)) != "\(learner)\n" { usleep(50_000) }
        XCTAssertTrue(Self.running(learner))
        kill(parent.processIdentifier, SIGKILL)
        parent.waitUntilExit()
        let gone = Date().addingTimeInterval(15)
        while Date() < gone, Self.running(learner) { usleep(50_000) }
        XCTAssertFalse(Self.running(learner), "the learner outlived its parent")
    }

    func testBadUseIsOneLineWithItsExitCode() throws {
        let file = dir.path("a-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let notFolder = try Executable.run("thud-train", try arguments(file, model: dir.path("m.thud")))
        XCTAssertEqual(notFolder.status, 11, notFolder.stderrText)
        XCTAssertEqual(notFolder.stderrText.split(separator: "\n").filter { $0.hasPrefix("thud-train:") }.count, 1, notFolder.stderrText)
        XCTAssertTrue(notFolder.stderrText.contains("\(file): is not a folder"), notFolder.stderrText)
        let both = try Executable.run("thud-train", ["adapt", dir.path("x"), "--follow", dir.path("y")])
        XCTAssertEqual(both.status, 64, both.stderrText)
        let worse = try Executable.run("thud-train", ["adapt", "--follow", dir.path("y"), "--keep-worse"])
        XCTAssertEqual(worse.status, 64, worse.stderrText)
        let every = try Executable.run("thud-train", ["adapt", dir.path("x"), "--every", "5"])
        XCTAssertEqual(every.status, 64, every.stderrText)
        // A second learner on the same DIR would clear the first one's round files: refused.
        let folder = dir.path("feed")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let first = try Learner(try arguments(folder, model: "\(folder)/model.thud"))
        defer { first.kill() }
        XCTAssertTrue(first.wait(timeout: 60) { first.stderr.contains("following") }, first.stderr)
        let second = try Executable.run("thud-train", try arguments(folder, model: "\(folder)/model.thud"))
        XCTAssertEqual(second.status, 74, second.stderrText)
        XCTAssertTrue(second.stderrText.contains("another learner follows this folder"), second.stderrText)
        XCTAssertEqual(first.stop(SIGTERM, within: 30), 0, first.stderr)
    }

    // MARK: The learner as a process

    /// True while `pid` runs (a zombie waiting for its parent to reap it has ended).
    static func running(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// `thud-train ARGS` running (ThudTestSupport's RunningProcess: its output collected as it comes).
    final class Learner: @unchecked Sendable {
        private let running: RunningProcess
        var process: Process { running.process }

        init(_ args: [String]) throws {
            running = try RunningProcess.thud(args, executable: "thud-train")
        }

        var stderr: String { running.stderrText }

        /// Polls `condition` until it holds (true) or `timeout` seconds pass or the learner ends (false).
        func wait(timeout: TimeInterval, until condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if condition() { return true }
                if !process.isRunning { return condition() }
                usleep(50_000)
            }
            return false
        }

        /// Sends `signal` and waits for the exit status (nil: still running after `within` seconds, then killed).
        func stop(_ signal: Int32, within seconds: TimeInterval) -> Int32? {
            if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
            let end = running.waitForExit(timeout: seconds)
            if end.timedOut { return nil }
            return end.signaled ? 128 + end.status : end.status
        }

        /// kill -9, and waits for it to be gone.
        func kill() { running.kill9() }

        /// The nice value of each of the learner's threads (/proc/PID/task/TID/stat, field 19).
        func threadNiceValues() -> [Int] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/task")) ?? []
            return tasks.compactMap { tid in
                guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/task/\(tid)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { return nil }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                // After the name: state is field 3, so nice (field 19) is the 17th here.
                return fields.count > 16 ? Int(fields[16]) : nil
            }
        }
    }
}
