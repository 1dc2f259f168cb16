import XCTest
import ThudMedia
import ThudModel
import ThudTestSupport
import ThudBase
import ThudRuntime
import ThudMQTT
import CMosquitto

/// A bounded, seeded mutation fuzzer for the parsers that read untrusted bytes: the demux/decode path (run as the
/// built `thud` in a child process, so a crash shows as a signal instead of taking the test runner down), the model
/// loader, and `thud watch`'s feeds file with the feed-name → MQTT-topic mapping. The iteration counts are fixed, not a wall-clock budget: the same seed mutates the same bytes on every
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

    /// Pieces feeds files and feed names are made of: the parser's separators, every kind of line end, the MQTT
    /// wildcards and separator, %, control characters, the non-characters libmosquitto refuses, a BOM.
    static let namePieces: [String] = ["cam", "door 2", "=", "#", "+", "/", "%", "%2B", "%%", "_", " ", "\t", "\n", "\r", "\r\n",
                                       "\u{0}", "\u{1b}[2J", "\u{7f}", "\u{85}", "\u{9b}", "\u{2028}", "\u{feff}", "é", "猫", "🥁",
                                       "$SYS", "://", "@", ":"]
        // (Swift's literals take no non-character: made from their values.)
        + [0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x10FFFF].map { String(Unicode.Scalar(UInt32($0))!) }

    /// A random name of 0…12 pieces or single scalars (any but surrogates, which a String cannot hold).
    static func randomName(_ rng: inout SplitMix64) -> String {
        var name = ""
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            if Bool.random(using: &rng) {
                name += namePieces[Int.random(in: 0..<namePieces.count, using: &rng)]
            } else {
                var v = UInt32.random(in: 0...(Bool.random(using: &rng) ? 0xFF : 0x10FFFF), using: &rng)
                if (0xD800...0xDFFF).contains(v) { v = 0x41 }
                name.unicodeScalars.append(Unicode.Scalar(v)!)
            }
        }
        return name
    }

    /// Feeds files, each with 1…5 feeds written with random line ends (LF, CRLF, CR, mixed), blank lines, comments,
    /// spaces around and a BOM now and then: each reads back as exactly its feeds. Then the same files mutated at the
    /// byte level (and decoded as `thud watch` decodes them): each gives feeds that are one line each, or one
    /// usage line (64) naming the file, with no control character in it. 3,000 files, in-process (a trap fails the
    /// run).
    func testFeedsFileMutationsParseOrEndInOneUsageLine() throws {
        var rng = SplitMix64(seed: 36)
        let ends = ["\n", "\r\n", "\r"]
        var parsed = 0, refused = 0
        for i in 0..<1500 {
            var feeds: [FeedSpec] = []
            var text = Bool.random(using: &rng) && i % 7 == 0 ? "\u{feff}" : ""
            let mixed = Bool.random(using: &rng)
            var end = ends[Int.random(in: 0..<3, using: &rng)]
            for k in 0..<Int.random(in: 1...5, using: &rng) {
                if mixed { end = ends[Int.random(in: 0..<3, using: &rng)] }
                if Int.random(in: 0..<3, using: &rng) == 0 { text += "# a comment = udp://x\(end)" }
                if Int.random(in: 0..<3, using: &rng) == 0 { text += " \t\(end)" }
                // Names as a user writes them in a file: no #, no line end, no = and no :// (the parser's own), no
                // space at either end (trimmed), no BOM (one that starts the file is not part of it).
                let name = String(Self.randomName(&rng).unicodeScalars.filter {
                    $0 != "#" && $0 != "=" && $0 != ":" && $0 != "\u{feff}" && !Character($0).isNewline && !CharacterSet.whitespaces.contains($0)
                }.map(Character.init)) + "\(i)-\(k)"
                let url = ["udp://127.0.0.1:\(5000 + k)", "rtsp://u:p@cam\(k)/live?x=1", "srt://[::1]:900\(k)"][k % 3]
                feeds.append(FeedSpec(name: name, url: url))
                text += (Bool.random(using: &rng) ? "  " : "") + "\(name)=\(url)" + (Bool.random(using: &rng) ? " # cam \(k)" : "") + end
            }
            if !Bool.random(using: &rng) { text = String(text.dropLast(end.count)) }
            XCTAssertEqual(try FeedSpec.parseFile(text, path: "f-\(i).txt"), feeds, "file \(i): \(text.debugDescription)")

            let bytes = [UInt8](text.utf8)
            let mutated = bytes.count > 16 ? Self.mutate(bytes, &rng) : bytes
            let path = "m-\(i).txt"
            do {
                let got = try FeedSpec.parseFile(String(decoding: mutated, as: UTF8.self), path: path)
                XCTAssertFalse(got.isEmpty)
                for f in got {
                    XCTAssertFalse(f.name.isEmpty, "mutation \(i)")
                    XCTAssertFalse((f.name + f.url).contains { $0.isNewline }, "mutation \(i): \(f)")
                    XCTAssertFalse(f.shown.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, "mutation \(i): \(f)")
                }
                parsed += 1
            } catch let error as MediaError {
                XCTAssertEqual(error.exitCode, 64, "mutation \(i): \(error.message)")
                XCTAssertTrue(error.message.hasPrefix(path + ": "), error.message)
                XCTAssertFalse(error.message.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) },
                               "mutation \(i): one line, nothing for the terminal: \(error.message.debugDescription)")
                refused += 1
            }
        }
        // Both ways out are reached, or the mutations test only one of them.
        XCTAssertGreaterThan(parsed, 100)
        XCTAssertGreaterThan(refused, 100)
    }

    /// 5,000 random feed names (wildcards, separators, %, controls, NUL, non-characters, any scalar): each name's
    /// topic level percent-decodes back to the name (so no two names share one: a+b and a#b do not), holds no /, and
    /// both its topics are ones libmosquitto itself publishes to (mosquitto_validate_utf8, mosquitto_pub_topic_check).
    /// At MQTT's 65,535-byte limit a name is taken; one byte past it, refused with one line (64).
    func testFeedNameTopicsAreDistinctAndTakenByLibmosquitto() throws {
        let endpoint = try MQTTEndpoint(parsing: "127.0.0.1/site")
        var rng = SplitMix64(seed: 36)
        var names: [String: String] = [:]
        for i in 0..<5000 {
            let name = i < 4 ? ["a+b", "a#b", "a_b", "a%2Bb"][i] : Self.randomName(&rng)
            let level = MQTTEndpoint.level(name)
            XCTAssertEqual(Self.percentDecoded(level), name, "level \(level.debugDescription) of \(name.debugDescription)")
            XCTAssertFalse(level.contains("/"))
            if let other = names[level], other != name { XCTFail("\(name.debugDescription) and \(other.debugDescription) share \(level)") }
            names[level] = name
            let topics = try endpoint.topics(feed: name)
            XCTAssertEqual(topics.hit, "site/\(level)/hit")
            for topic in [topics.hit, topics.status] {
                XCTAssertEqual(mosquitto_validate_utf8(topic, Int32(topic.utf8.count)), MOSQ_ERR_SUCCESS.rawValue, topic.debugDescription)
                XCTAssertEqual(mosquitto_pub_topic_check(topic), MOSQ_ERR_SUCCESS.rawValue, topic.debugDescription)
            }
        }
        XCTAssertEqual(Set(["a+b", "a#b", "a_b", "a%2Bb"].map(MQTTEndpoint.level)).count, 4)
        // "site/" + level + "/status" at the limit exactly, then one byte over (a + is three bytes escaped).
        let room = MQTTEndpoint.topicLimit - "site//status".utf8.count
        XCTAssertNoThrow(try endpoint.topics(feed: String(repeating: "n", count: room)))
        XCTAssertNoThrow(try endpoint.topics(feed: String(repeating: "+", count: room / 3)))
        for over in [String(repeating: "n", count: room + 1), String(repeating: "+", count: room / 3 + 1)] {
            XCTAssertThrowsError(try endpoint.topics(feed: over)) { error in
                let e = error as? MQTTError
                XCTAssertEqual(e?.exitCode, 64)
                XCTAssertTrue(e?.message.contains("past MQTT's limit of 65535") == true, e?.message ?? "")
                XCTAssertLessThan(e?.message.count ?? .max, 200)
            }
        }
    }

    /// %XX back to its byte, every other byte as it is; nil where a % is not followed by two hex digits (the mapping
    /// must never leave one).
    static func percentDecoded(_ level: String) -> String? {
        var bytes: [UInt8] = []
        var it = Array(level.utf8)[...]
        while let b = it.popFirst() {
            guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
            guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            bytes.append(v)
            it = it.dropFirst(2)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
