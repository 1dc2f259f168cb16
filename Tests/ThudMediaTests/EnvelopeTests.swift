import XCTest
import ThudMedia
import ThudTestSupport

final class EnvelopeTests: XCTestCase {
    struct Reference: Decodable {
        var clip: String
        var sample_rate: Int
        var samples: Int
        var values: [Double]
        var db: [Double]
    }

    /// Against tools/fixtures/envelope_reference.py (numpy + scipy's gaussian_filter1d), on committed clips
    /// at 48 kHz stereo AAC, 22.05 kHz mono PCM and 44.1 kHz stereo FLAC.
    func testMatchesTheNumpyReference() throws {
        let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        let names = try FileManager.default.contentsOfDirectory(atPath: fixtures.path).filter { $0.hasSuffix(".envelope.json") }
        XCTAssertEqual(names.count, 3)
        for name in names {
            let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: fixtures.appendingPathComponent(name)))
            let input = try MediaInput(path: fixtures.appendingPathComponent(reference.clip).path)
            let audio = try input.decode(video: nil, audio: true).audio!
            XCTAssertEqual(audio.sampleRate, reference.sample_rate)
            XCTAssertEqual(audio.samples.count, reference.samples, reference.clip)
            let envelope = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate)
            XCTAssertEqual(envelope.count, reference.values.count, reference.clip)
            for k in 0..<min(envelope.count, reference.values.count) {
                XCTAssertEqual(Double(envelope.values[k]), reference.values[k], accuracy: 1e-4, "\(reference.clip) step \(k)")
                XCTAssertEqual(Double(envelope.db[k]), reference.db[k], accuracy: 1e-3, "\(reference.clip) step \(k) dB")
            }
        }
    }

    func testAShortClickCannotFallBetweenSteps() {
        // A 5 ms click in the middle of step 5's window (not at its start): a point sample would miss it.
        let rate = 44100
        var x = [Float](repeating: 0, count: rate)
        let start = 5 * rate / 12 + 1500
        for i in start..<start + 220 { x[i] = i % 2 == 0 ? 0.8 : -0.8 }
        let envelope = AudioEnvelope(samples: x, sampleRate: rate)
        XCTAssertEqual(envelope.count, 12)
        XCTAssertEqual(envelope.values.firstIndex(of: 1), 5)
        XCTAssertLessThan(envelope.values[3], 0.01)
        XCTAssertLessThan(envelope.values[7], 0.01)
    }

    func testSilenceGivesZerosNotNaN() {
        let envelope = AudioEnvelope(samples: [Float](repeating: 0, count: 48000), sampleRate: 48000)
        XCTAssertEqual(envelope.count, 12)
        XCTAssertTrue(envelope.values.allSatisfy { $0 == 0 })
        XCTAssertTrue(envelope.db.allSatisfy { $0 == AudioEnvelope.floorDB })
    }

    func testSigmaScalesWithTheSampleRate() {
        XCTAssertEqual(AudioEnvelope.sigma(sampleRate: 44100), 200)
        XCTAssertEqual(AudioEnvelope.sigma(sampleRate: 48000), 200 * 48000 / 44100, accuracy: 1e-9)
    }

    func testStepCountIsEveryStepBeforeTheEnd() {
        XCTAssertEqual(AudioEnvelope.stepCount(sampleCount: 88200, sampleRate: 44100), 24)
        XCTAssertEqual(AudioEnvelope.stepCount(sampleCount: 88201, sampleRate: 44100), 25)
        XCTAssertEqual(AudioEnvelope.stepCount(sampleCount: 0, sampleRate: 44100), 0)
    }

    func testClickTimesAppearInTheEnvelopeOfAnEncodedClip() throws {
        let dir = TemporaryDirectory("env")
        let path = dir.path("clicks.mp4")
        try FrameCounterClip.write(path: path, times: (0..<75).map { Double($0) / 25 }, nominalFrameRate: 25,
                                   audio: AudioEncodeSettings(sampleRate: 48000, channels: 2), clicks: [0.5, 1.71, 2.5], audioSeconds: 3)
        let audio = try MediaInput(path: path).decode(video: nil, audio: true).audio!
        let envelope = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate)
        XCTAssertEqual(envelope.count, 36)
        for t in [0.5, 1.71, 2.5] {
            let k = Int(t * 12)
            XCTAssertGreaterThan(envelope.values[k], 0.5, "click at \(t) s")
        }
        XCTAssertLessThan(envelope.values[14], 0.05)   // 1.17 s: between clicks, only the tone on channel 2 (ignored)
    }
}
