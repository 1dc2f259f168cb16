import XCTest
import Foundation

/// `thud record` against real kernel drivers: vivid (the camera) and snd-aloop (ALSA's loopback card: what is played
/// into hw:Loopback,0,0 is captured from hw:Loopback,1,0), booted once under qemu by tools/vivid/run-in-vm.sh, which
/// runs tools/vivid/record-checks.sh. tools/vivid/flash-click.c (compiled here) turns vivid's picture from black to
/// white and starts a click at one instant; the recorded clip must put both on the same 12 Hz step (±1). Skipped,
/// with the reason, only when the VM cannot be set up or the helper cannot be compiled (no cc, no libasound-dev).
final class VividRecordTests: XCTestCase {
    enum Outcome {
        case ran(URL)
        case skipped(String)
        case failed(String)

        /// The VM run's folder; a skip (with the reason printed) or a failure otherwise.
        func runDir(_ suite: String) throws -> URL {
            switch self {
            case .ran(let dir): return dir
            case .skipped(let reason):
                print("\(suite) skipped: \(reason)")
                throw XCTSkip(reason)
            case .failed(let reason):
                XCTFail(reason)
                throw XCTSkip("VM run failed")
            }
        }
    }

    static let repo = VividCaptureTests.repo
    static let outcome: Outcome = bootAndRecord()

    static func thudBinary() -> URL? { executable("thud") }

    /// A built executable of this package: beside the test bundle, else in .build/debug.
    static func executable(_ name: String) -> URL? {
        let exeDir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for candidate in [exeDir.appendingPathComponent(name), repo.appendingPathComponent(".build/debug/\(name)")]
        where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        return nil
    }

    static func bootAndRecord() -> Outcome {
        let script = repo.appendingPathComponent("tools/vivid/run-in-vm.sh").path
        let (prep, prepText) = VividCaptureTests.shell([script, "--prepare"], timeout: 600)
        if prep != 0 {
            return .skipped("vivid VM cannot be set up here: " + prepText.split(separator: "\n").suffix(3).joined(separator: " / "))
        }
        guard let thud = thudBinary() else { return .failed("thud is not built (swift build --product thud)") }
        let runDir = repo.appendingPathComponent(".vm/record-run")
        try? FileManager.default.removeItem(at: runDir)
        try? FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
        let click = runDir.appendingPathComponent("flash-click")
        let (cc, ccText) = VividCaptureTests.shell(["cc", "-O2", "-o", click.path,
                                                    repo.appendingPathComponent("tools/vivid/flash-click.c").path, "-lasound"], timeout: 120)
        if cc != 0 { return .skipped("cannot compile tools/vivid/flash-click.c (cc, libasound2-dev): \(ccText.suffix(300))") }
        let start = Date()
        let (status, text) = VividCaptureTests.shell([script, "--run-dir", runDir.path, "--timeout", "1500", "--",
                                                      "sh", repo.appendingPathComponent("tools/vivid/record-checks.sh").path,
                                                      thud.path, click.path, runDir.path], timeout: 1600)
        print("vivid VM (record): status \(status) after \(String(format: "%.1f", Date().timeIntervalSince(start))) s\n\(text)")
        guard status == 0 else { return .failed("the VM run failed (status \(status)): \(text.suffix(600))") }
        return .ran(runDir)
    }

    func runDir() throws -> URL { try Self.outcome.runDir("VividRecordTests") }

    struct Check {
        var status: Int32
        var clips: [String]
        var stderr: String
        var listing: [String]
        var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("thud: ") && !$0.hasPrefix("thud: record") } }
    }

    func check(_ name: String) throws -> Check {
        let dir = try runDir()
        func read(_ ext: String) -> String { (try? String(contentsOf: dir.appendingPathComponent("\(name).\(ext)"), encoding: .utf8)) ?? "" }
        let status = Int32(read("rc").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        XCTAssertNotEqual(status, 137, "\(name) hung (killed)")
        return Check(status: status, clips: read("out").split(separator: "\n").map(String.init), stderr: read("err"),
                     listing: read("ls").split(separator: "\n").map(String.init).filter { $0 != "." && $0 != ".." })
    }

    /// What the model and the trainer see of a clip: one value per 12 Hz step of the envelope (`thud envelope`) and
    /// each step's mean luma (`thud frames`, 16x16).
    static func steps(of clip: String) throws -> (envelope: [Double], luma: [Double]) {
        let thud = try XCTUnwrap(thudBinary()).path
        let (erc, etext) = VividCaptureTests.shell([thud, "envelope", clip], timeout: 120)
        XCTAssertEqual(erc, 0, "\(clip): \(etext.suffix(300))")
        let envelope = etext.split(separator: "\n").compactMap { line -> Double? in
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["envelope"] as? Double
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: thud)
        p.arguments = ["frames", clip, "--size", "16x16", "--pixel-format", "gray8"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let bytes = [UInt8](pipe.fileHandleForReading.readDataToEndOfFile())
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "\(clip): thud frames")
        let luma = stride(from: 0, to: bytes.count - 255, by: 256).map { o in Double(bytes[o..<(o + 256)].reduce(0) { $0 + Int($1) }) / 256 }
        return (envelope, luma)
    }

    func testAClickAndAFlashAtOneInstantLandOnTheSameTwelveHertzStep() throws {
        let c = try check("align")
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(c.clips.count, 1, c.stderr)
        XCTAssertTrue(c.errorLines.isEmpty, c.stderr)
        let dir = try runDir()
        let clickErr = (try? String(contentsOf: dir.appendingPathComponent("click.err"), encoding: .utf8)) ?? ""
        XCTAssertFalse(clickErr.contains("failed"), clickErr)
        let clip = try XCTUnwrap(c.clips.first)
        let s = try Self.steps(of: clip)
        // 14 s: audio 168 steps; video the same or one more (README, "The 12 Hz clock": a clip of duration D has
        // ceil(12·D) steps, and the last frame, just before 14 s, lasts a frame interval).
        XCTAssertEqual(s.envelope.count, 168, clip)
        XCTAssertTrue((168...169).contains(s.luma.count), "\(clip): \(s.luma.count) video steps")
        // Each step's frame time (thud frames --index): where a picture change has frames close on both sides.
        let thud = try XCTUnwrap(Self.thudBinary()).path
        let (irc, itext) = VividCaptureTests.shell([thud, "frames", clip, "--index"], timeout: 120)
        XCTAssertEqual(irc, 0, itext)
        let frameTimes = itext.split(separator: "\n").compactMap { line -> Double? in
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["source_t"] as? Double
        }
        XCTAssertEqual(frameTimes.count, s.luma.count)
        let clicks = s.envelope.indices.filter { $0 > 0 && s.envelope[$0] > 0.5 && s.envelope[$0 - 1] <= 0.5 }
        let changes = s.luma.indices.filter { $0 > 0 && (s.luma[$0] > 128) != (s.luma[$0 - 1] > 128) }
        XCTAssertLessThan(s.luma.first ?? 255, 64, "\(clip) starts black")
        XCTAssertEqual(clicks.count, 3, "clicks on steps \(clicks)")
        XCTAssertEqual(changes.count, 3, "picture changes on steps \(changes)")
        var tight = 0
        for (click, change) in zip(clicks, changes) {
            // The click's step is the one its sound starts in; the flash's is the one its first frame was taken in
            // (the picture changed between the last frame of the old picture and that one). Decoding shows a frame
            // from the next step on (step k shows the last frame at or before k/12), which is not the recording's
            // doing, so the steps compared are the ones the two events fall in.
            let before = frameTimes[change - 1], after = frameTimes[change]
            let low = Int((before * 12).rounded(.down)), flash = Int((after * 12).rounded(.down))
            print("record alignment: click in step \(click), first frame of the new picture in step \(flash) (frames at \(before) s and \(after) s, shown from step \(change))")
            XCTAssertTrue((low - 1)...(flash + 1) ~= click, "click in step \(click), the picture changed between frames of steps \(low) and \(flash)")
            // Pinned: the frames on both sides of the change fall in one step or two adjacent ones, so the flash's
            // step is known to one step. (A time gap would not do: the busy emulated guest delivers 10 of the 30
            // frames a second, gaps of 0.1003 s, and a gap under 0.1 s may still straddle three steps.)
            if flash - low <= 1 {
                tight += 1
                XCTAssertLessThanOrEqual(abs(click - flash), 1, "the click (step \(click)) and the flash (step \(flash)) must share a 12 Hz step ±1")
            }
        }
        XCTAssertGreaterThanOrEqual(tight, 1, "no picture change was pinned to two adjacent steps (the emulated guest stalled at every event)")
    }

    func testCtrlCFinishesTheOpenClipPlayableAndInPlace() throws {
        let c = try check("sigint")
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(c.clips.count, 1, c.stderr)
        XCTAssertFalse(c.listing.contains { $0.hasSuffix(".partial") }, "\(c.listing)")
        XCTAssertEqual(c.listing.count, 1, "\(c.listing)")
        let s = try Self.steps(of: try XCTUnwrap(c.clips.first))
        XCTAssertGreaterThan(s.luma.count, 12, "seconds of video")
        // The audio ends with the last frame, or later by what was already heard while the encoder worked through the
        // frames still in the ring (at most its 16 frames, about half a second; training takes the shorter).
        XCTAssertTrue((-1...6).contains(s.envelope.count - s.luma.count), "audio \(s.envelope.count) steps, video \(s.luma.count)")
        XCTAssertTrue(c.stderr.contains("recorded 1 clip(s)"), c.stderr)
    }

    func testAnOverrunIsRecoveredCountedAndTheClipKeepsItsLength() throws {
        let c = try check("overrun")
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(c.clips.count, 1, c.stderr)
        let summary = try XCTUnwrap(c.stderr.split(separator: "\n").first { $0.contains("recorded 1 clip(s)") }, c.stderr)
        let overruns = summary.components(separatedBy: "audio overruns ").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        XCTAssertGreaterThanOrEqual(overruns, 1, String(summary))
        let padded = summary.components(separatedBy: "silence padded ").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        XCTAssertGreaterThan(padded, 500, "the audio lost while frozen became silence: \(summary)")
        let s = try Self.steps(of: try XCTUnwrap(c.clips.first))
        XCTAssertEqual(s.envelope.count, 120, "10 s of audio")
        XCTAssertTrue((119...121).contains(s.luma.count), "10 s of video: \(s.luma.count) steps")
    }

    func testAVanishedCameraIsExit31OneLineAndFinishedClipsStay() throws {
        let c = try check("lost")
        XCTAssertEqual(c.status, 31, c.stderr)
        XCTAssertEqual(c.errorLines.count, 1, c.stderr)
        XCTAssertTrue(c.errorLines.first?.contains("/dev/video2") ?? false, c.stderr)
        XCTAssertGreaterThanOrEqual(c.clips.count, 1)
        XCTAssertFalse(c.listing.contains { $0.hasSuffix(".partial") }, "the open clip is dropped: \(c.listing)")
        XCTAssertEqual(c.listing.count, c.clips.count, "\(c.listing)")
        for clip in c.clips {
            let s = try Self.steps(of: clip)
            // Video to near its end (the emulated guest may leave a gap of a few frames before it).
            XCTAssertTrue((18...25).contains(s.luma.count), "\(clip): 2 s of video, \(s.luma.count) steps")
            XCTAssertEqual(s.envelope.count, 24, "\(clip): 2 s")
        }
    }

    func testAFullDiskIsExit74OneLineAndFinishedClipsStayIntact() throws {
        let c = try check("full")
        XCTAssertEqual(c.status, 74, c.stderr)
        XCTAssertEqual(c.errorLines.count, 1, c.stderr)
        XCTAssertTrue(c.errorLines.first?.contains("No space left on device") ?? false, c.stderr)
        XCTAssertFalse(c.errorLines.first?.contains(".partial") ?? true, "the line names the clip: \(c.errorLines)")
        XCTAssertFalse(c.listing.contains { $0.hasSuffix(".partial") }, "\(c.listing)")
        XCTAssertEqual(c.listing.count, c.clips.count, "\(c.listing)")
        XCTAssertLessThan(c.clips.count, 40)
        let dir = try runDir().appendingPathComponent("full")
        for clip in c.clips {
            let s = try Self.steps(of: dir.appendingPathComponent((clip as NSString).lastPathComponent).path)
            // Decodes to its end: 1 s of audio, and video (under emulation, opening the next clip's encoder can take
            // most of a second, so a clip may hold few frames: how many is not what this checks).
            XCTAssertEqual(s.envelope.count, 12, "\(clip): 1 s")
            XCTAssertTrue((1...13).contains(s.luma.count), "\(clip): \(s.luma.count) video steps")
        }
    }

    func testAMissingMicrophoneIsExit41OneLineAndNothingWritten() throws {
        let c = try check("nomic")
        XCTAssertEqual(c.status, 41, c.stderr)
        XCTAssertEqual(c.errorLines.count, 1, c.stderr)
        XCTAssertTrue(c.errorLines.first?.contains("hw:NoSuchCard") ?? false, c.stderr)
        XCTAssertTrue(c.clips.isEmpty)
        XCTAssertTrue(c.listing.isEmpty, "\(c.listing)")
    }
}
