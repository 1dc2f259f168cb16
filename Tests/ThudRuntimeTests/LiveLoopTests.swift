import XCTest
import ThudMedia
import ThudModel
@testable import ThudRuntime
import ThudPipeline

/// The live loop outside the camera: the real FrameRing and LiveStepper (its drop policy, driven by a clock the test
/// sets) as the source, a real model, the loop, and sinks that collect what it hands on.
final class LiveLoopTests: XCTestCase {
    final class Collector: StepSink {
        var steps: [DescribedStep] = []
        func submit(_ step: DescribedStep) { steps.append(step) }
    }

    /// A ring filled ahead of time at 50 fps, and a consumer that asks at scripted moments: late asks skip steps.
    final class ScriptedRingSource: LiveStepSource {
        let ring: FrameRing
        let stepper: LiveStepper
        var asks: [Double]
        init(width: Int, height: Int, frames: Int, asks: [Double]) {
            ring = FrameRing(capacity: 64, width: width, height: height)
            stepper = LiveStepper(ring: ring)
            self.asks = asks
            var pixels = [UInt8](repeating: 0, count: width * height)
            for i in 0..<frames {
                // A bright square that moves: motion for the encoder, different pixels on every frame.
                for k in pixels.indices { pixels[k] = UInt8(truncatingIfNeeded: (k + 7 * i) % 251) }
                ring.push(pixels, timestamp: Double(i) / 50, sequence: UInt32(i))
            }
        }
        func nextStep() throws -> CapturedStep? {
            guard !asks.isEmpty else { return nil }
            let now = asks.removeFirst()
            return try stepper.nextStep(timeout: 1, now: { now })
        }
        var pixels: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(stepper.pixels) }
    }

    func testSkippedStepsKeepTheirNumbersAndTimesThroughADelayedModelToEverySink() throws {
        var arch = ModelArchitecture.motionEnergyDefault
        arch.outputDelaySteps = 1
        let model = try StreamingModel(file: ModelFile.random(architecture: arch, seed: 4))
        // On time for steps 0–2, then 0.45 s late (steps 3…5 stale: 6 is served), on time, late again.
        let asks = [0.0, 1.0 / 12, 2.0 / 12, 0.55, 7.0 / 12, 8.0 / 12, 1.05, 13.0 / 12]
        let source = ScriptedRingSource(width: arch.input.width, height: arch.input.height, frames: 60, asks: asks)
        let a = Collector(), b = Collector()
        var observed: [Int] = []
        let camera = CameraSource(source, name: "scripted")
        let served = try Pipeline.run(camera, stream: EnvelopeStream(model: model, picker: .init()),
                                      sinks: [a, b], steps: nil) { captured, step in
            guard let step else { return }
            XCTAssertLessThanOrEqual(step.step, captured.index, "a delayed model describes an earlier step")
            observed.append(step.step)
        }.served
        let latencies = camera.latencies
        let expected = [0, 1, 2, 6, 7, 8, 12, 13]
        XCTAssertEqual(served, expected.count)
        XCTAssertEqual(latencies.count, expected.count)
        XCTAssertEqual(source.stepper.skippedSteps, 3 + 3)
        XCTAssertEqual(a.steps.map(\.step), expected, "the served steps, in order, none invented for the gaps")
        XCTAssertEqual(a.steps.map(\.time), expected.map { Double($0) / 12 })
        XCTAssertEqual(a.steps, b.steps)
        XCTAssertEqual(observed, Array(expected.dropLast()), "the last step is described at the end, to the sinks")

        // --steps stops the loop after that many served steps.
        let again = ScriptedRingSource(width: arch.input.width, height: arch.input.height, frames: 60, asks: asks)
        let c = Collector()
        let servedThree = try Pipeline.run(CameraSource(again, name: "scripted"), stream: EnvelopeStream(model: model, picker: .init()),
                                           sinks: [c], steps: 3).served
        XCTAssertEqual(servedThree, 3)
        XCTAssertEqual(c.steps.map(\.step), [0, 1, 2])
    }
}
