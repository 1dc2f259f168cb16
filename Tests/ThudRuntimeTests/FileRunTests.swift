import XCTest
import ThudMedia
import ThudModel
@testable import ThudRuntime
import ThudPipeline
import ThudTestSupport

/// The runtime loop outside the CLI: a file → EnvelopeStream → sinks, and the printer's lines.
final class FileRunTests: XCTestCase {
    final class Collector: StepSink {
        var steps: [DescribedStep] = []
        var finished = false
        func submit(_ step: DescribedStep) { steps.append(step) }
        func finish() { finished = true }
    }

    func testAFileGivesEveryStepInOrderToEverySinkAsTheStreamDescribesThem() throws {
        let dir = TemporaryDirectory("file-run")
        let path = try FrameCounterClip.write(path: dir.path("c.mp4"), times: FrameCounterClip.times(fpsNumerator: 25, seconds: 2),
                                              nominalFrameRate: 25)
        var arch = ModelArchitecture.motionEnergyDefault
        arch.outputDelaySteps = 1
        let file = ModelFile.random(architecture: arch, seed: 3)
        let a = Collector(), b = Collector()
        let source = FileSource(try MediaInput(path: path), request: VideoStepRequest(width: arch.input.width, height: arch.input.height),
                                warn: { _ in })
        try Pipeline.run(source, stream: EnvelopeStream(model: try StreamingModel(file: file), picker: .init()), sinks: [a, b])
        XCTAssertEqual(a.steps.map(\.step), Array(0..<24), "2 s at 12 Hz, the delayed model's last step described too")
        XCTAssertEqual(a.steps.map(\.time), (0..<24).map { Double($0) / 12 })
        XCTAssertEqual(a.steps, b.steps)
        // The same as feeding the stream by hand.
        let stream = EnvelopeStream(model: try StreamingModel(file: file), picker: .init())
        var byHand: [DescribedStep] = []
        _ = try MediaInput(path: path).decode(video: VideoStepRequest(width: arch.input.width, height: arch.input.height), audio: false, onStep: { step in
            if let d = try stream.process(frame: step.pixels) { byHand.append(d) }
            return true
        })
        _ = try stream.finish { byHand.append($0) }
        XCTAssertEqual(a.steps, byHand)
    }

    func testThePrinterWritesOneLinePerStepInEitherFormat() throws {
        let dir = TemporaryDirectory("printer")
        let steps = [DescribedStep(step: 0, time: 0, envelope: 0.25, onset: 0, hit: nil),
                     DescribedStep(step: 1, time: 1.0 / 12, envelope: 0.5, onset: 0, hit: HitEvent(step: 0, time: 0, strength: 0.75))]
        for format in OutputFormat.allCases {
            let path = dir.path("out.\(format.rawValue)")
            let printer = StepPrinter(format: format, out: try LineWriter(path: path))
            try printer.begin()
            try steps.forEach(printer.submit)
            fflush(nil)
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
            switch format {
            case .jsonl:
                XCTAssertEqual(lines, [#"{"t": 0.000000, "envelope": 0.250000, "hit": false}"#,
                                       #"{"t": 0.083333, "envelope": 0.500000, "hit": true, "strength": 0.750000}"#])
            case .csv:
                XCTAssertEqual(lines, ["t,envelope,hit,strength", "0.000000,0.250000,0,", "0.083333,0.500000,1,0.750000"])
            }
        }
    }
}
