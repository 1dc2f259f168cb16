import Foundation
import Synchronization
import XCTest
@testable import ThudMedia
import ThudBase
import ThudTestSupport

/// `--learn` on a network feed: real ffmpeg senders (MPEG-TS over UDP on 127.0.0.1) read through NetworkFeed with a
/// PacketRecorder, the segments it leaves opened and measured. Timeouts only guard against a hang.
final class PacketRecorderTests: XCTestCase {
    let dir = TemporaryDirectory("packet-recorder")

    /// Lines said from the reading thread and the writer thread.
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    struct FeedRun {
        var steps: [Int] = []
        /// When each step came (monotonic seconds).
        var arrivals: [Double] = []
        var events: [FeedEvent] = []
        var summary = FeedSummary()
    }

    /// Reads udp://127.0.0.1:port with `recorder` until the stream has been silent for `timeout` (and, with
    /// `reconnect`, no new one came within `giveUp`); `onStep` sees each step as it comes.
    func readFeed(port: Int, recorder: PacketRecorder?, lines: Lines, timeout: Double = 3, reconnect: Bool = false,
                  giveUp: Double = 4, onStep: (Int) -> Void = { _ in }) throws -> FeedRun {
        let feed = NetworkFeed(url: "udp://127.0.0.1:\(port)", settings: StreamSettings(ioTimeout: timeout),
                               reconnect: reconnect ? ReconnectPolicy(enabled: true, firstDelay: 0.2, maxDelay: 0.5, giveUpAfter: giveUp) : .off,
                               request: VideoStepRequest(width: 32, height: 24))
        feed.recorder = recorder
        var run = FeedRun()
        run.summary = try feed.run(warn: lines.add, event: { run.events.append($0) }) { step in
            run.steps.append(step.index)
            run.arrivals.append(MonotonicClock.seconds())
            onStep(step.index)
            return true
        }
        return run
    }

    /// Steps numbered 0, 1, 2, … with none missing: recording made the feed skip nothing.
    func assertEveryStep(_ run: FeedRun, atLeast count: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThanOrEqual(run.steps.count, count, "steps served", file: file, line: line)
        XCTAssertEqual(run.steps, Array(0..<run.steps.count), "no step skipped", file: file, line: line)
        XCTAssertTrue(run.events.isEmpty, "no gap: \(run.events)", file: file, line: line)
        XCTAssertEqual(run.summary.missingSteps, 0, file: file, line: line)
    }

    func recorder(_ folder: SegmentFolder, segmentSeconds: Double, queueCapacity: Int = 1024, retrySeconds: Double = 10,
                  lines: Lines) -> PacketRecorder {
        PacketRecorder(folder: folder, segmentSeconds: segmentSeconds, queueCapacity: queueCapacity, feedName: "test-feed",
                       retrySeconds: retrySeconds, warn: lines.add)
    }

    struct Probe {
        var duration: Double
        var videoStart: Double
        var audioStart: Double
        var codecs: [String]
        var pictureSize: String
    }

    /// What ffprobe says of a segment: its duration, its streams' start times and codecs.
    func probe(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> Probe {
        let p = try RunningProcess("ffprobe", ["-v", "error", "-show_entries", "format=duration:stream=codec_type,codec_name,start_time,width,height", "-of", "json", path])
        p.waitForExit(timeout: 60)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(p.stdoutText.utf8)) as? [String: Any], p.stderrText, file: file, line: line)
        let streams = json["streams"] as? [[String: Any]] ?? []
        func start(_ type: String) -> Double { Double(streams.first { $0["codec_type"] as? String == type }?["start_time"] as? String ?? "") ?? .nan }
        let duration = Double((json["format"] as? [String: Any])?["duration"] as? String ?? "") ?? .nan
        return Probe(duration: duration, videoStart: start("video"), audioStart: start("audio"),
                     codecs: streams.map { "\($0["codec_type"] as? String ?? "?"):\($0["codec_name"] as? String ?? "?")" },
                     pictureSize: streams.first.map { "\($0["width"] as? Int ?? 0)x\($0["height"] as? Int ?? 0)" } ?? "")
    }

    /// Flash onsets (the first step of each run of white pictures) and click onsets (the first loud sample after a
    /// quiet half second), seconds from the segment's start, as Thud itself decodes the segment.
    func flashesAndClicks(_ path: String) throws -> (flashes: [Double], clicks: [Double], seconds: Double) {
        let input = try MediaInput(path: path)
        var bright: [Bool] = []
        let summary = try input.decode(video: VideoStepRequest(width: 16, height: 12), audio: true, onStep: { step in
            bright.append(step.pixels.reduce(0) { $0 + Int($1) } / step.pixels.count > 128)
            return true
        })
        let flashes = bright.indices.filter { $0 > 0 && bright[$0] && !bright[$0 - 1] }.map { StepRate.time(ofStep: $0) }
        let audio = try XCTUnwrap(summary.audio)
        var clicks: [Double] = []
        var quiet = 0
        for (i, x) in audio.samples.enumerated() {
            if abs(x) > 0.3 {
                if quiet >= audio.sampleRate / 2 || (clicks.isEmpty && i == quiet) { clicks.append(Double(i) / Double(audio.sampleRate)) }
                quiet = 0
            } else if abs(x) < 0.05 {
                quiet += 1
            }
        }
        return (flashes, clicks, Double(bright.count) / 12)
    }

    // (a) Segments of the sender's own packets, cut at keyframes every 2 s, with audio and video aligned.
    func testSegmentsCopyTheStreamWithItsSoundAligned() throws {
        for codec in ["aac", "mp2"] {
            let folder = try SegmentFolder(path: dir.path("learn-\(codec)"))
            let lines = Lines()
            let rec = recorder(folder, segmentSeconds: 2, lines: lines)
            let finished = Lines()
            rec.segmentFinished = finished.add
            let port = FreePort.pick(udp: true)
            let sender = try StreamSender.flashAndClickUDP(port: port, seconds: 8, audioCodec: codec)
            let run = try readFeed(port: port, recorder: rec, lines: lines)
            sender.waitForExit()
            rec.stop()
            rec.stop()   // idempotent

            assertEveryStep(run, atLeast: 60)
            XCTAssertEqual(lines.all, [], codec)
            let segments = folder.segments().map(\.path)
            XCTAssertEqual(segments, finished.all, "\(codec): every segment said is in the folder, and only those")
            XCTAssertGreaterThanOrEqual(segments.count, 2, codec)
            let stats = rec.statistics
            XCTAssertEqual(stats.segmentsWritten, segments.count)
            XCTAssertEqual(stats.packetsDropped, 0)
            XCTAssertGreaterThan(stats.packetsWritten, 0)
            XCTAssertTrue(rec.report.contains("recorded \(segments.count) segments"), rec.report)
            XCTAssertTrue(rec.report.contains(" 0 dropped"), rec.report)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".partial") }, [])
            var total = 0.0
            var figures: [String] = []
            for (i, path) in segments.enumerated() {
                let p = try probe(path)
                XCTAssertEqual(p.codecs, ["video:h264", "audio:\(codec)"], path)
                // Every segment but the last runs from a keyframe to the first keyframe 2 s later (GOP 0.5 s).
                if i < segments.count - 1 { XCTAssertEqual(p.duration, 2, accuracy: 0.55, path) } else { XCTAssertLessThanOrEqual(p.duration, 2.55, path) }
                XCTAssertEqual(p.videoStart, 0, accuracy: 0.001, path)
                XCTAssertEqual(p.audioStart, p.videoStart, accuracy: 1.0 / 12, "\(path): audio starts with the video")
                total += p.duration
                // What Thud decodes: each flash has its click within a step.
                let (flashes, clicks, seconds) = try flashesAndClicks(path)
                XCTAssertEqual(seconds, p.duration, accuracy: 0.2, path)
                let inner = flashes.filter { $0 > 0.2 && $0 < seconds - 0.2 }
                XCTAssertFalse(inner.isEmpty, "\(path): a flash inside the segment; flashes \(flashes)")
                for t in inner {
                    let nearest = clicks.min { abs($0 - t) < abs($1 - t) }
                    XCTAssertNotNil(nearest, "\(path): no click for the flash at \(t)")
                    if let c = nearest { XCTAssertEqual(c, t, accuracy: 1.0 / 12 + 0.01, "\(path): flash at \(t), click at \(c); clicks \(clicks)") }
                }
                let offsets = inner.compactMap { t in clicks.min { abs($0 - t) < abs($1 - t) }.map { Format.fixed(t - $0, 3) } }
                figures.append("\(Format.fixed(p.duration, 3)) s, audio starts +\(Format.fixed(p.audioStart - p.videoStart, 3)) s, flash - click \(offsets)")
            }
            XCTAssertEqual(stats.secondsRecorded, total, accuracy: 0.1 * Double(segments.count))
            print("\(codec): \(run.steps.count) steps; segments: \(figures.joined(separator: "; ")); \(rec.report)")
        }
    }

    // A stream joined between keyframes: the demuxer's probe saw neither the picture size nor the parameter sets (a
    // long GOP); each segment takes them from the keyframe it opens with (Matroska refuses a video without a size).
    func testAStreamJoinedBetweenKeyframesTakesItsParametersFromTheKeyframe() throws {
        let folder = try SegmentFolder(path: dir.path("joined"))
        let lines = Lines()
        let rec = recorder(folder, segmentSeconds: 2, lines: lines)
        let port = FreePort.pick(udp: true)
        // Keyframes at 0, 5 and 10 s; the feed joins near 2 s.
        let sender = try StreamSender.flashAndClickUDP(port: port, seconds: 12, audioCodec: "aac", size: "320x180", gop: 150)
        usleep(2_000_000)
        var settings = StreamSettings(ioTimeout: 3)
        settings.analyzeMicroseconds = 300_000
        let feed = NetworkFeed(url: "udp://127.0.0.1:\(port)", settings: settings, reconnect: .off, request: VideoStepRequest(width: 32, height: 24))
        let first = try feed.open()
        XCTAssertEqual(first.info.video?.width, 0, "joined between keyframes, the probe saw no picture size")
        feed.recorder = rec
        let summary = try feed.run(first: first, warn: lines.add, event: { _ in }) { _ in true }
        sender.waitForExit()
        rec.stop()

        XCTAssertGreaterThanOrEqual(summary.steps, 60, "\(lines.all)")
        XCTAssertTrue(lines.all.allSatisfy { !$0.contains("test-feed:") }, "nothing said by the recorder: \(lines.all)")
        let segments = folder.segments()
        XCTAssertGreaterThanOrEqual(segments.count, 1, rec.report)
        for segment in segments {
            let p = try probe(segment.path)
            XCTAssertEqual(p.codecs, ["video:h264", "audio:aac"], segment.path)
            XCTAssertEqual(p.pictureSize, "320x180", segment.path)
            let decoded = try MediaInput(path: segment.path).decode(video: VideoStepRequest(width: 16, height: 12), audio: true)
            XCTAssertEqual(decoded.corruptVideoPackets, 0, segment.path)
            XCTAssertEqual(Double(decoded.steps) / 12, p.duration, accuracy: 0.2, "every frame decodes: \(segment.path)")
        }
        print("joined: \(rec.report)")
    }

    // A stream lost and connected again: the first connection's segments are finished when it ends, the second's
    // start at its own first keyframe (its timestamps start again: another sender).
    func testAReconnectionFinishesTheSegmentAndTheNextStartsAtAKeyframe() throws {
        let folder = try SegmentFolder(path: dir.path("reconnected"))
        let lines = Lines()
        let rec = recorder(folder, segmentSeconds: 2, lines: lines)
        let said = Lines()
        rec.segmentFinished = said.add
        let port = FreePort.pick(udp: true)
        let first = try StreamSender.flashAndClickUDP(port: port, seconds: 5, audioCodec: "aac")
        var second: RunningProcess?
        let run = try readFeed(port: port, recorder: rec, lines: lines, timeout: 2, reconnect: true, giveUp: 3) { _ in
            if second == nil, !first.process.isRunning { second = try? StreamSender.flashAndClickUDP(port: port, seconds: 5, audioCodec: "aac") }
        }
        second?.waitForExit()
        rec.stop()

        XCTAssertEqual(run.summary.connections, 2, "\(lines.all)")
        XCTAssertTrue(run.events.contains { if case .lost = $0 { return true } else { return false } }, "\(run.events)")
        XCTAssertTrue(lines.all.allSatisfy { !$0.hasPrefix("test-feed:") }, "\(lines.all)")
        let segments = folder.segments().map(\.path)
        XCTAssertEqual(segments, said.all)
        XCTAssertGreaterThanOrEqual(segments.count, 4, "two or more from each connection: \(rec.report)")
        XCTAssertEqual(rec.statistics.secondsRecorded, 10, accuracy: 1.5, rec.report)
        for path in segments {
            let p = try probe(path)
            XCTAssertEqual(p.codecs, ["video:h264", "audio:aac"], path)
            XCTAssertEqual(p.audioStart, p.videoStart, accuracy: 1.0 / 12, path)
            XCTAssertLessThanOrEqual(p.duration, 2.55, path)
            let decoded = try MediaInput(path: path).decode(video: VideoStepRequest(width: 16, height: 12), audio: true)
            XCTAssertEqual(decoded.corruptVideoPackets, 0, path)
        }
        print("reconnected: \(rec.report)")
    }

    // (b) A budget of a few segments: the oldest are deleted first, the folder stays within budget + one segment.
    func testABudgetDeletesTheOldestSegmentsFirst() throws {
        let folder = try SegmentFolder(path: dir.path("budget"), budgetBytes: 10_000)
        let lines = Lines()
        let rec = recorder(folder, segmentSeconds: 1, lines: lines)
        let said = Lines()
        rec.segmentFinished = said.add
        let port = FreePort.pick(udp: true)
        let sender = try StreamSender.flashAndClickUDP(port: port, seconds: 8, audioCodec: "aac")
        let run = try readFeed(port: port, recorder: rec, lines: lines)
        sender.waitForExit()
        rec.stop()

        assertEveryStep(run, atLeast: 60)
        XCTAssertEqual(lines.all, [])
        let kept = folder.segments()
        let finished = said.all
        XCTAssertGreaterThanOrEqual(finished.count, 4, "segments written")
        XCTAssertGreaterThan(rec.statistics.segmentsDeleted, 0, rec.report)
        XCTAssertEqual(rec.statistics.segmentsDeleted, finished.count - kept.count)
        XCTAssertEqual(kept.map(\.path), Array(finished.suffix(kept.count)), "the newest are kept, the oldest deleted")
        let largest = kept.map(\.bytes).max() ?? 0
        XCTAssertLessThanOrEqual(kept.reduce(0) { $0 + $1.bytes }, 10_000 + largest, "within the budget and one segment: \(kept)")
        print("budget 10000: \(finished.count) written, \(kept.count) kept \(kept.map(\.bytes)); \(rec.report)")
    }

    // (c) A stream without audio: said once (over two connections), nothing recorded, every step served.
    func testAStreamWithoutAudioIsSaidOnceAndNotRecorded() throws {
        let folder = try SegmentFolder(path: dir.path("silent"))
        let lines = Lines()
        let rec = recorder(folder, segmentSeconds: 1, lines: lines)
        let port = FreePort.pick(udp: true)
        let first = try StreamSender.udp(port: port, seconds: 4)
        var second: RunningProcess?
        let run = try readFeed(port: port, recorder: rec, lines: lines, timeout: 2, reconnect: true, giveUp: 3) { _ in
            // The second sender once the first has finished: the feed connects again.
            if second == nil, !first.process.isRunning { second = try? StreamSender.udp(port: port, seconds: 4) }
        }
        second?.waitForExit()
        rec.stop()

        XCTAssertEqual(run.summary.connections, 2, "\(lines.all)")
        XCTAssertGreaterThanOrEqual(run.summary.steps, 48)
        XCTAssertEqual(lines.all.filter { $0.contains("no audio") },
                       ["test-feed: the stream has no audio: nothing to learn from, so nothing is recorded; predicting on"], "\(lines.all)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [])
        XCTAssertEqual(rec.statistics, PacketRecorder.Statistics())
    }

    // (d) A writer that stops taking packets for 3 s: the feed does not wait, what cannot be queued is dropped and counted.
    func testAWriterThatFallsBehindDropsPacketsAndTheFeedGoesOn() throws {
        let folder = try SegmentFolder(path: dir.path("stalled"))
        let lines = Lines()
        let rec = recorder(folder, segmentSeconds: 1, queueCapacity: 64, lines: lines)
        let port = FreePort.pick(udp: true)
        let sender = try StreamSender.flashAndClickUDP(port: port, seconds: 9, audioCodec: "aac")
        // From step 24 on, the writer stands still for 3 s (by the clock: a reading thread that waited for it would
        // see no step until then).
        var stallStart = 0.0   // the feed runs on this thread
        let run = try readFeed(port: port, recorder: rec, lines: lines) { step in
            guard step == 24 else { return }
            rec.stallWriter.store(true, ordering: .relaxed)
            stallStart = MonotonicClock.seconds()
            DispatchQueue.global().asyncAfter(deadline: .now() + 3) { rec.stallWriter.store(false, ordering: .relaxed) }
        }
        sender.waitForExit()
        rec.stop()

        assertEveryStep(run, atLeast: 72)
        XCTAssertGreaterThan(stallStart, 0, "the stall began")
        let window = (start: stallStart, end: stallStart + 3)
        // While the writer stood still the steps came at the stream's pace: the reading thread never waited for it.
        let during = zip(run.arrivals, run.arrivals.dropFirst()).filter { $0.0 >= window.start && $0.0 < window.end }.map { $0.1 - $0.0 }
        XCTAssertGreaterThanOrEqual(during.count, 30)
        XCTAssertLessThan(during.max() ?? 0, 1.0, "the longest wait between two steps during the stall")
        let stats = rec.statistics
        XCTAssertGreaterThan(stats.packetsDropped, 50, rec.report)
        XCTAssertTrue(rec.report.contains(" \(stats.packetsDropped) dropped because the writer fell behind"), rec.report)
        // Recording went on after the stall, from a keyframe, in segments that decode.
        XCTAssertGreaterThanOrEqual(stats.segmentsWritten, 2, rec.report)
        for segment in folder.segments() {
            let input = try MediaInput(path: segment.path)
            XCTAssertNotNil(input.info.audio, segment.path)
            let summary = try input.decode(video: VideoStepRequest(width: 16, height: 12), audio: true)
            XCTAssertEqual(summary.corruptVideoPackets, 0, segment.path)
            XCTAssertGreaterThanOrEqual(summary.steps, 12, segment.path)
        }
        XCTAssertEqual(lines.all, [])
        print("stall: \(rec.report)")
    }

    // (e) The folder replaced by a file mid-run: one line, the feed goes on; the folder back: "recording again".
    func testAFolderThatCannotBeWrittenIsSaidOnceAndRecordingResumes() throws {
        let path = dir.path("gone")
        let folder = try SegmentFolder(path: path)
        let lines = Lines()
        let rec = recorder(folder, segmentSeconds: 1, retrySeconds: 0.5, lines: lines)
        let port = FreePort.pick(udp: true)
        let sender = try StreamSender.flashAndClickUDP(port: port, seconds: 10, audioCodec: "aac")
        let said = Lines()
        rec.segmentFinished = said.add
        var before = 0
        let run = try readFeed(port: port, recorder: rec, lines: lines) { step in
            if step == 30 {
                before = said.all.count
                try? FileManager.default.moveItem(atPath: path, toPath: path + ".moved")
                _ = FileManager.default.createFile(atPath: path, contents: Data("not a folder".utf8))
            }
            if step == 78 { try? FileManager.default.removeItem(atPath: path) }
        }
        sender.waitForExit()
        rec.stop()

        assertEveryStep(run, atLeast: 96)
        let all = lines.all
        XCTAssertEqual(all.count, 2, "\(all)")
        XCTAssertTrue(all.first?.hasPrefix("test-feed: \(path)/") ?? false, "the line names the segment: \(all)")
        XCTAssertTrue(all.first?.contains("(Not a directory)") ?? false, "and the problem: \(all)")
        XCTAssertTrue(all.last?.hasPrefix("test-feed: recording again (\(path)/") ?? false, "\(all)")
        XCTAssertGreaterThanOrEqual(before, 1, "segments before the folder went")
        // Segments after: in the folder made again, whole.
        let finished = said.all
        let after = folder.segments()
        XCTAssertGreaterThanOrEqual(after.count, 1, "\(finished)")
        XCTAssertEqual(after.map(\.path), Array(finished.suffix(after.count)))
        for segment in after { XCTAssertNotNil(try MediaInput(path: segment.path).info.audio) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".partial") }, [])
        print("unwritable: \(all); \(rec.report)")
    }
}
