import XCTest
import ThudMedia
import ThudModel
import ThudTestSupport
import ThudBase

/// A bounded, seeded mutation fuzzer for the two parsers that read untrusted bytes: the demux/decode path (run as the
/// built `thud` in a child process, so a crash shows as a signal instead of taking the test runner down) and the model
/// loader. The iteration counts are fixed, not a wall-clock budget: the same seed mutates the same bytes on every
/// machine, and CI runs exactly these cases. An input that crashes is kept under Fixtures/fuzz/ and replayed by
/// testKeptCrashInputsStayFixed.
final class FuzzTests: XCTestCase {
    let dir = TemporaryDirectory("fuzz")

    /// Exit codes a bad input may end with (README, "Exit codes").
    static let inputCodes: Set<Int32> = [0, 10, 11, 12, 13, 14, 15, 16, 17]

    /// One mutation of `seed`: a few flipped bytes, a run overwritten with noise, zeroed or set to 0xFF (box and
    /// element sizes), a cut, or a chunk repeated; `rng` decides which and where.
    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = seed
        func at() -> Int { Int.random(in: 0..<b.count, using: &rng) }
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard b.count > 16 else { break }
            switch Int.random(in: 0..<6, using: &rng) {
            case 0:
                for _ in 0..<Int.random(in: 1...8, using: &rng) { b[at()] ^= UInt8.random(in: 1...255, using: &rng) }
            case 1:
                let start = at(), n = min(b.count - start, Int.random(in: 1...64, using: &rng))
                for i in start..<(start + n) { b[i] = UInt8.random(in: 0...255, using: &rng) }
            case 2:
                let start = at(), n = min(b.count - start, Int.random(in: 1...16, using: &rng))
                let v: UInt8 = Bool.random(using: &rng) ? 0 : 0xFF
                for i in start..<(start + n) { b[i] = v }
            case 3:
                b.removeLast(Int.random(in: 1..<b.count, using: &rng))
            case 4:
                let start = at(), n = min(b.count - start, Int.random(in: 1...256, using: &rng))
                b.insert(contentsOf: b[start..<(start + n)], at: at())
            default:
                // A plausible big-endian size field (MP4 boxes) or EBML length turned huge.
                let start = at()
                if start + 4 <= b.count { b[start] = 0x7F; b[start + 1] = 0xFF; b[start + 2] = 0xFF; b[start + 3] = 0xF0 }
            }
        }
        return b
    }

    /// The source tree's Fixtures/fuzz folder (kept crash inputs live there, under version control).
    static var keptInputs: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz") }

    /// Runs `thud probe` (audio and video decoded), `thud frames --index` or `thud envelope` on `file`: a clean error or
    /// success, never a signal, never a code outside the table, never a multi-line error. Returns a failure text.
    func check(_ file: String, command: Int) throws -> String? {
        let args = [["probe", file], ["frames", "--index", file], ["envelope", file]][command % 3]
        let r = try Executable.run("thud", args, timeout: 300)
        if r.signaled { return "\(args) died of signal \(r.status): \(r.stderrText.suffix(300))" }
        guard Self.inputCodes.contains(r.status) else { return "\(args) exit \(r.status): \(r.stderrText.suffix(300))" }
        // probe reports a clip it could open on stdout ("usable: no: …") with the problem's code and no error line.
        if r.status != 0, !(args[0] == "probe" && r.stdoutText.contains("usable:    no")) {
            let errors = r.stderrText.split(separator: "\n").filter { !$0.hasPrefix("thud: warning:") }
            guard errors.count == 1, errors[0].hasPrefix("thud: ") else { return "\(args) exit \(r.status) without one error line: \(r.stderrText.suffix(300))" }
        }
        return nil
    }

    func testDemuxMutationsEndInACleanErrorOrSuccess() throws {
        var seeds: [(String, [UInt8])] = []
        for (name, codec) in [("seed.mp4", VideoCodecChoice.h264), ("seed.mkv", .vp8), ("seed.avi", .mjpeg)] {
            let path = dir.path(name)
            try FrameCounterClip.write(path: path, times: FrameCounterClip.times(fpsNumerator: 12, seconds: 1.5), width: 48, height: 32,
                                       codec: codec, nominalFrameRate: 12, audio: AudioEncodeSettings(sampleRate: 16000, channels: 1),
                                       clicks: [0.5], audioSeconds: 1.5)
            seeds.append((name, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))))
        }
        var rng = SplitMix64(seed: 31)
        var failures: [String] = []
        let iterations = 100   // per seed clip: 300 runs of the built binary
        for (name, seed) in seeds {
            for i in 0..<iterations {
                let mutated = Self.mutate(seed, &rng)
                let ext = (name as NSString).pathExtension
                let file = dir.path("m-\(i).\(ext)")
                try Data(mutated).write(to: URL(fileURLWithPath: file))
                if let failure = try check(file, command: i) {
                    // Kept in the source tree's Fixtures/fuzz, so that testKeptCrashInputsStayFixed replays it from now on
                    // (commit it with the fix).
                    let kept = Self.keptInputs.appendingPathComponent("\((name as NSString).deletingPathExtension)-seed31-\(i).\(ext)").path
                    try? FileManager.default.createDirectory(at: Self.keptInputs, withIntermediateDirectories: true)
                    try? FileManager.default.removeItem(atPath: kept)
                    try? FileManager.default.copyItem(atPath: file, toPath: kept)
                    failures.append("\(name) mutation \(i) (kept as \(kept)): \(failure)")
                }
            }
        }
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))
    }

    func testKeptCrashInputsStayFixed() throws {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: Self.keptInputs.path))?.filter { !$0.hasPrefix(".") }.sorted() ?? []
        for (i, name) in files.enumerated() {
            let path = Self.keptInputs.appendingPathComponent(name).path
            for command in 0..<3 {
                if let failure = try check(path, command: command + i) { XCTFail("\(name): \(failure)") }
            }
        }
    }

    func testModelLoaderMutationsEndInAModelFileError() throws {
        var arch = ModelArchitecture.default
        arch.input.width = 16; arch.input.height = 16
        arch.encoder.convChannels = [4, 4]
        arch.lstmHidden = 8
        XCTAssertNil(arch.validationProblem())
        let seed = ModelFile.random(architecture: arch, seed: 4).encoded()
        var rng = SplitMix64(seed: 31)
        var loaded = 0
        for i in 0..<400 {
            var bytes = Self.mutate(seed, &rng)
            // Half the mutations get a fresh checksum, so the parser behind it (header, table, shapes) is reached too.
            if i % 2 == 0, bytes.count > 4 {
                let crc = CRC32.checksum(bytes[0..<(bytes.count - 4)])
                for k in 0..<4 { bytes[bytes.count - 4 + k] = UInt8(crc >> (8 * UInt32(k)) & 0xFF) }
            }
            do {
                let file = try ModelFile.decode(bytes, path: "m-\(i).thud")
                // It loads: it must also run a step without trapping.
                let model = try StreamingModel(file: file)
                let frame = [UInt8](repeating: 128, count: model.inputWidth * model.inputHeight)
                _ = frame.withUnsafeBufferPointer { model.runBatchOutputs(frames: $0, count: 1) }
                loaded += 1
            } catch let error as ModelFileError {
                XCTAssertEqual(error.exitCode, 20)
                XCTAssertFalse(error.message.contains("\n"))
                XCTAssertTrue(error.message.contains("m-\(i).thud: "), error.message)
            } catch {
                XCTFail("mutation \(i): not a ModelFileError: \(error)")
            }
        }
        // The fuzzer must reach past the checksum at times, or it tests nothing but the CRC.
        XCTAssertGreaterThan(loaded + 1, 1)
    }
}
