import Foundation
import ThudModel
import ThudTestSupport
import XCTest

/// Every executable starts and ends the same way (ThudCommandLine): a usage error is one line naming the tool and
/// the problem, exit 64; help is ArgumentParser's and exits 0.
final class CommandLineTests: XCTestCase {
    func testEveryToolGivesAUsageErrorAsOneLineAndExit64() throws {
        let cases: [(tool: String, args: [String], says: String)] = [
            ("thud", ["predict", "clip.mp4", "--bogus"], "--bogus"),
            ("thud-train", ["train", "--epochs", "many"], "many"),
            ("thud-synth", ["generate", "--out", "corpus", "--train", "1", "--nonsense"], "--nonsense"),
            ("thud-capture-check", ["--frames", "0"], "--frames wants a positive integer"),
            ("thud-capture-check", ["--set-at", "x"], "--set-at"),
        ]
        for c in cases {
            let r = try Executable.run(c.tool, c.args)
            XCTAssertEqual(r.status, 64, "\(c.tool) \(c.args): \(r.stderrText)")
            XCTAssertFalse(r.signaled)
            let lines = r.stderrText.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(c.tool) \(c.args): \(r.stderrText)")
            XCTAssertTrue(lines.first?.hasPrefix("\(c.tool): ") == true, r.stderrText)
            XCTAssertTrue(r.stderrText.contains(c.says), r.stderrText)
            XCTAssertTrue(r.stdout.isEmpty, "\(c.tool) \(c.args) wrote to stdout")
        }
        let help = try Executable.run("thud-capture-check", ["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdoutText.contains("--set-at"), help.stdoutText)
    }

    /// thud-capture-check's device-free benchmark still reads its options (it is what tools/vivid/capture-figures.sh runs).
    func testCaptureCheckBenchConvertReadsItsOptions() throws {
        let r = try Executable.run("thud-capture-check", ["--bench-convert", "--frames", "20", "--format", "nv12",
                                                          "--size", "64x48", "--model-size", "32x32", "--fps", "15"])
        XCTAssertEqual(r.status, 0, r.stderrText)
        let line = r.lines.first ?? ""
        for part in [#""format":"NV12""#, #""size":"64x48""#, #""model_size":"32x32""#, #""frames":20"#, #""fps":15.0"#] {
            XCTAssertTrue(line.contains(part), "\(part) in \(line)")
        }
    }

    /// `thud-train pick-hits` is ThudModel's PeakPicker for scripts: the same hits as the picker run here, and a bad
    /// line is one error line naming it.
    func testPickHitsGivesThePeakPickersHits() throws {
        var envelope = [Float](repeating: 0.05, count: 60)
        for (k, v) in [(10, Float(0.6)), (11, 0.5), (30, 0.9), (31, 0.4), (45, 0.35), (59, 0.8)] { envelope[k] = v }
        let onsets = envelope.enumerated().map { k, v in k == 0 ? Float(0) : max(0, v - envelope[k - 1]) }
        let settings: [(json: String, configuration: PeakPicker.Configuration)] = [
            ("", .defaults(for: .rise)),
            (#","detection":"level","threshold":0.3"#, PeakPicker.Configuration(detection: .level, minStrength: 0.3)),
            (#","detection":"onset+rise","min_rise":0.5,"sensitivity":1"#,
             PeakPicker.Configuration(detection: .onsetPlusRise, sensitivity: 1, minStrength: 0, minRise: 0.5)),
        ]
        let numbers = { (xs: [Float]) in xs.map { "\($0)" }.joined(separator: ",") }
        let input = settings.map { #"{"envelope":["# + numbers(envelope) + #"],"onsets":["# + numbers(onsets) + "]" + $0.json + "}" }
            .joined(separator: "\n") + "\n"
        let r = try Executable.launch("thud-train", ["pick-hits"], timeout: 120, stdin: .pipe(Data(input.utf8)), stdout: .collect)
        XCTAssertEqual(r.status, 0, r.stderrText)
        XCTAssertEqual(r.lines.count, settings.count)
        for (line, s) in zip(r.lines, settings) {
            let expected = PeakPicker.hits(envelope: envelope, onsets: onsets, configuration: s.configuration).map(\.step)
            XCTAssertFalse(expected.isEmpty)
            XCTAssertEqual(line, "{\"hits\":[\(expected.map(String.init).joined(separator: ","))]}")
        }
        let bad = try Executable.launch("thud-train", ["pick-hits"], timeout: 120,
                                        stdin: .pipe(Data("{\"envelope\":[0.1],\"onsets\":[0.1,0.2]}\n".utf8)), stdout: .collect)
        XCTAssertEqual(bad.status, 64)
        XCTAssertEqual(bad.stderrText, "thud-train: stdin line 1: 2 onsets for 1 envelope values\n")
    }
}
