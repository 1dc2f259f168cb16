import Foundation
import ThudMedia
import ThudModel
import ThudTestSupport
import XCTest

/// Ctrl-C and SIGTERM as thud-train takes them: through ThudBase's StopOnSignals and a StopRequest the epoch loop
/// polls (the one signal path every command uses), sent for real to a running `train` and `adapt`.
final class TrainSignalTests: XCTestCase {
    let dir = TemporaryDirectory("train-signal")

    /// Runs `thud-train args`, sends `sig` once its stderr shows `marker` (the epoch loop is running), and returns the
    /// exit status and all of stderr.
    private func interrupt(_ args: [String], with sig: Int32, after marker: String) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = Executable.url("thud-train")
        process.arguments = args
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        let seen = Seen(marker)
        let reader = err.fileHandleForReading
        let drained = DispatchGroup()
        drained.enter()
        try process.run()
        // One reader thread, blocking reads until end of file (no readabilityHandler: its source races a final read).
        DispatchQueue.global().async {
            while true {
                let more = reader.availableData
                if more.isEmpty { break }
                seen.add(more)
            }
            drained.leave()
        }
        let deadline = Date().addingTimeInterval(300)
        while !seen.found && process.isRunning && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(seen.found, "no \"\(marker)\" before the end: \(seen.text)")
        if process.isRunning { kill(process.processIdentifier, sig) }
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate(); XCTFail("thud-train did not stop after the signal") }
        process.waitUntilExit()
        XCTAssertEqual(drained.wait(timeout: .now() + 30), .success, "stderr did not end")
        XCTAssertEqual(process.terminationReason, .exit, "ended by the signal itself, not by the loop: \(seen.text)")
        return (process.terminationStatus, seen.text)
    }

    private final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        private let marker: String
        init(_ marker: String) { self.marker = marker }
        func add(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
        var found: Bool { text.contains(marker) }
    }

    func testSIGTERMStopsTrainingAtABatchWithItsCheckpointAnd130() throws {
        let data = try TinyDataset.write(root: dir.path("ds"), good: ["train": 4, "validation": 1], seconds: 2)
        let out = dir.path("m.thud")
        let r = try interrupt(["train", data.root, "--cache", dir.path("cache"), "--epochs", "500", "--batch-size", "2",
                               "--sequence-length", "12", "--seed", "7", "--out", out], with: SIGTERM, after: "epoch 1/500")
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted in epoch"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + ".checkpoint"), r.stderr)
    }

    func testCtrlCStopsAdaptWithNothingWrittenAnd130() throws {
        let folder = dir.path("mine")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for i in 1...4 {
            try FrameCounterClip.write(path: "\(folder)/rec-20261203-120000-00\(i).mkv", times: (0..<75).map { Double($0) / 25 },
                                       width: 96, height: 64, nominalFrameRate: 25,
                                       audio: AudioEncodeSettings(sampleRate: 48000, channels: 1, codec: .flac),
                                       clicks: [0.5 + 0.1 * Double(i), 1.7], audioSeconds: 3, format: "matroska")
        }
        let file = ModelFile.random(architecture: ModelArchitecture(input: InputSpec(width: 16, height: 16), encoder: .conv(channels: [4, 8]),
                                                                    lstmHidden: 16, lstmLayers: 2, headHidden: [8, 4]), seed: 4)
        let model = dir.path("start.thud")
        try file.write(to: model)
        let out = dir.path("models/mine.thud")
        let r = try interrupt(["adapt", folder, "--from", model, "--out", out, "--cache", dir.path("cache-adapt"),
                               "--epochs", "5000", "--patience", "5000", "--keep-worse"], with: SIGINT, after: "epoch 1/5000")
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted: nothing written"), r.stderr)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.path("models"))) ?? []
        XCTAssertEqual(left, [], "nothing is left where the model would go")
    }
}
