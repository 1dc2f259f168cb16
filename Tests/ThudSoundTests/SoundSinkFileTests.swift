import Foundation
import XCTest
@testable import ThudSound
import ThudBase
import ThudSoundTestSupport

/// End-to-end through real alsa-lib: `default` → file plugin → null, PCM read back.
final class SoundSinkFileTests: XCTestCase {
    private var fixture: AlsaFileFixture!

    override func setUpWithError() throws { fixture = try AlsaFileFixture(name: name.filter(\.isLetter)) }
    override func tearDown() { fixture.tearDown() }

    private func waitUntil(_ timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if condition() { return true }; usleep(2_000) }
        return condition()
    }

    func testNegotiatedParametersAreReadBack() throws {
        let s = try HitSonifier(device: "default", voice: "click")
        defer { s.stop(drain: false) }
        XCTAssertTrue(s.isEnabled)
        XCTAssertEqual(s.sampleRate, 48_000)
        XCTAssertEqual(s.channels, 1)
        XCTAssertEqual(s.periodFrames, 240, "5 ms at 48 kHz")
        XCTAssertEqual(s.bufferFrames, 480, "two periods")
        XCTAssertEqual(s.periodSeconds, 0.005, accuracy: 1e-9)
        // file → null swallows a whole buffer at once, so the sink must pace by the wall clock.
        XCTAssertTrue(waitUntil(1) { s.isWallClockPaced })
        // And it then writes silence in real time, not as fast as the CPU allows.
        let f0 = s.framesWritten, t0 = MonotonicClock.nanos()
        usleep(300_000)
        let rate = Double(s.framesWritten - f0) / (Double(MonotonicClock.nanos() - t0) * 1e-9)
        // Never faster than real time (+ one buffer of slack); slower only by underruns, which
        // a loaded machine causes (the playhead restarts at the writer, frames are not made up).
        XCTAssertLessThan(rate, 48_000 * 1.1, "paced at real time, not CPU speed")
        XCTAssertGreaterThan(rate, 48_000 * 0.5, "silence keeps flowing between hits")
    }

    func testRequestedPeriodAndExplicitWallClockPacing() throws {
        let settings = SinkSettings(sampleRate: 44_100, periodMicros: 10_000, periodsPerBuffer: 3, pacing: .wallClock)
        let s = try HitSonifier(options: .init(sink: settings, voice: "glass"))
        defer { s.stop(drain: false) }
        XCTAssertEqual(s.sampleRate, 44_100)
        XCTAssertEqual(s.periodFrames, 441)
        XCTAssertEqual(s.bufferFrames, 1_323)
        XCTAssertTrue(s.isWallClockPaced, "asked for, not probed")
        XCTAssertEqual(s.knockTable?.sampleRate, 44_100, "voice tables built at the granted rate")
        XCTAssertEqual(s.knockTable?.frames, Int((0.6 * 44_100).rounded()))
        let f0 = s.framesWritten
        XCTAssertTrue(waitUntil(2) { s.framesWritten > f0 + 4_410 })
    }

    func testEachKnockStartsWhereItsHitWasEmittedAndNothingElseButSilence() throws {
        let s = try HitSonifier(device: "default", voice: "wood", mode: .hits)
        XCTAssertTrue(waitUntil(1) { s.isWallClockPaced })
        let table = try XCTUnwrap(s.knockTable)
        let strengths: [Float] = [1.0, 0.3, 0.7, 0.05, 0.9, 0.5]
        var windows: [ClosedRange<Int>] = []
        var nextFree = 0
        for strength in strengths {
            // Knocks must not overlap in the stream. Wait on frames, not wall time: under load
            // underruns make the stream advance slower than the clock.
            XCTAssertTrue(waitUntil(10) { s.framesWritten > nextFree + 2 * s.periodFrames })
            let before = s.framesWritten
            XCTAssertTrue(s.submitHit(strength: strength))
            let after = s.framesWritten
            windows.append(before...(after + s.periodFrames))
            nextFree = after + s.periodFrames + table.frames
        }
        s.stop(drain: true)
        XCTAssertEqual(s.dropped, 0)

        let pcm = try fixture.samples()
        let knocks = findKnocks(in: pcm, table: table, strengths: strengths)
        XCTAssertEqual(knocks.count, strengths.count, "one knock per hit and only silence elsewhere: found \(knocks) in \(pcm.count) frames, windows \(windows), sink says \(s.knockStartFrames)")
        for (k, knock) in knocks.prefix(strengths.count).enumerated() {
            XCTAssertTrue(windows[k].contains(knock.start),
                          "knock \(k) at frame \(knock.start), expected within one period: \(windows[k])")
            XCTAssertLessThanOrEqual(knock.maxError, 1, "knock \(k) is gain × table (±1 LSB rounding)")
        }
        XCTAssertEqual(s.knockStartFrames, knocks.map(\.start), "the sink's own record agrees with the file")
        XCTAssertGreaterThanOrEqual(pcm.count, knocks.last!.start + table.frames, "drain let the last knock finish")
        let stats = s.latencyStats
        XCTAssertEqual(stats.count, strengths.count)
        XCTAssertGreaterThan(stats.outputMax, 0)
    }

    func testStalledWriterUnderrunsAreCountedAndRecovered() throws {
        let s = try HitSonifier(device: "default", voice: "click", mode: .hits)
        XCTAssertTrue(waitUntil(1) { s.isWallClockPaced })
        let table = try XCTUnwrap(s.knockTable)
        let underrunsBefore = s.underruns
        var windows: [ClosedRange<Int>] = []
        var nextFree = 0
        for k in 0..<3 {
            let before = s.underruns
            s.stallWriterOnce(seconds: 0.05)  // 50 ms stall against a 10 ms buffer
            XCTAssertTrue(waitUntil(5) { s.underruns > before }, "stall \(k) ran the device dry")
            XCTAssertTrue(waitUntil(5) { s.framesWritten > nextFree + 2 * s.periodFrames })
            let start = s.framesWritten
            XCTAssertTrue(s.submitHit(strength: 0.8))
            let after = s.framesWritten
            windows.append(start...(after + s.periodFrames))
            nextFree = after + s.periodFrames + table.frames
        }
        XCTAssertGreaterThanOrEqual(s.underruns - underrunsBefore, 3, "each stall counted")
        let f0 = s.framesWritten
        XCTAssertTrue(waitUntil(2) { s.framesWritten - f0 > 4_800 }, "the sink kept playing after recovering")
        s.stop(drain: true)
        XCTAssertNil(s.failure)

        let pcm = try fixture.samples()
        let knocks = findKnocks(in: pcm, table: table, strengths: [0.8, 0.8, 0.8])
        XCTAssertEqual(knocks.count, 3, "no garbage from the underruns, only the knocks")
        for (k, knock) in knocks.prefix(3).enumerated() {
            XCTAssertTrue(windows[k].contains(knock.start), "knock \(k) at \(knock.start), expected \(windows[k])")
            XCTAssertLessThanOrEqual(knock.maxError, 1)
        }
    }

    func testEnvelopeModePlaysNoiseShapedByTheEnvelope() throws {
        let s = try HitSonifier(device: "default", voice: "wood", mode: .envelope)
        XCTAssertTrue(waitUntil(1) { s.isWallClockPaced })
        XCTAssertFalse(s.submitHit(strength: 1), "hits are not played in envelope mode")
        let steps: [Float] = [0, 0.8, 0.8, 0.2, 0.2, 0.5, 0, 0, 0]
        var stepStarts: [Int] = []
        for v in steps {
            let start = s.framesWritten
            stepStarts.append(start)
            XCTAssertTrue(s.submitEnvelope(v))
            // One 12 Hz step = 4000 frames; counted in frames so that a lagging machine
            // (underruns) cannot shorten a step below the analysis window.
            XCTAssertTrue(waitUntil(10) { s.framesWritten >= start + 4_000 })
        }
        s.stop(drain: true)
        let pcm = try fixture.samples()
        XCTAssertTrue(pcm[..<stepStarts[1]].allSatisfy { $0 == 0 }, "silence before the envelope rises")
        func rms(_ step: Int) -> Double {
            // Skip the first 30 ms of each step: the 15 ms smoothing is still gliding there.
            let a = stepStarts[step] + 1440, b = stepStarts[step + 1]
            let sum = pcm[a..<b].reduce(0.0) { $0 + Double($1) * Double($1) }
            return (sum / Double(b - a)).squareRoot()
        }
        let loud = rms(1), quiet = rms(3), mid = rms(5)
        XCTAssertGreaterThan(loud, 1000)
        XCTAssertEqual(quiet / loud, 0.25, accuracy: 0.05, "level follows the envelope value")
        XCTAssertEqual(mid / loud, 0.625, accuracy: 0.08)
        XCTAssertEqual(pcm.last, 0, "a zero envelope ends in exact digital silence")
        let tail = pcm[(stepStarts[7] + 4800)...]
        XCTAssertTrue(tail.allSatisfy { $0 == 0 }, "silence after the envelope falls to zero")
    }

    func testDrainingStopFadesEnvelopeNoiseOutPromptly() throws {
        let s = try HitSonifier(device: "default", voice: "wood", mode: .envelope)
        XCTAssertTrue(waitUntil(1) { s.isWallClockPaced })
        s.submitEnvelope(0.9)
        usleep(100_000)
        let atStop = s.framesWritten
        s.stop(drain: true)
        let pcm = try fixture.samples()
        XCTAssertEqual(pcm.last, 0, "ends in silence")
        // 15 ms smoothing from 0.9 to below half an LSB takes ~10 τ ≈ 155 ms; the drain timeout is 2 s.
        XCTAssertLessThan(pcm.count - atStop, 12_000, "faded within 250 ms, not held until the timeout")
    }

    func testDroppingStopCutsAtOnceAndIsIdempotent() throws {
        let s = try HitSonifier(device: "default", voice: "metal", mode: .hits)  // a 1 s knock
        XCTAssertTrue(waitUntil(1) { s.isWallClockPaced })
        s.submitHit(strength: 1)
        XCTAssertTrue(waitUntil(5) { s.knockStartFrames.count == 1 })
        let start = s.knockStartFrames[0]
        s.stop(drain: false)
        s.stop(drain: true)  // second call does nothing
        XCTAssertFalse(s.submitHit(strength: 1), "nothing is accepted after stop")
        let pcm = try fixture.samples()
        XCTAssertLessThan(pcm.count - start, 48_000 / 2, "cut well before the knock's 1 s end")
        XCTAssertNotEqual(pcm[start], 0)
    }

    func testReleasingTheSonifierStopsTheThreadAndClosesTheDevice() throws {
        do {
            let s = try HitSonifier(device: "default", voice: "click", mode: .hits)
            XCTAssertTrue(waitUntil(1) { s.isWallClockPaced })
        }  // deinit: stop(drain: false), join, snd_pcm_drop + snd_pcm_close (the file plugin flushes)
        let size = try fixture.samples().count
        XCTAssertGreaterThan(size, 0)
        usleep(50_000)
        XCTAssertEqual(try fixture.samples().count, size, "nothing writes after release")
    }

    func testMissingDeviceIsOneLineErrorWithExitCode40() throws {
        XCTAssertThrowsError(try HitSonifier(device: "no_such_device")) { error in
            let e = error as? SoundError
            XCTAssertEqual(e?.exitCode, 40)
            XCTAssertTrue(e?.message.contains("'no_such_device'") ?? false, e?.message ?? "")
            XCTAssertFalse(e?.message.contains("\n") ?? true)
        }
    }

    func testOptionalModeDisablesSoundWithAWarning() throws {
        let s = try HitSonifier(device: "no_such_device", voice: "metal", mode: .hits, optional: true)
        XCTAssertFalse(s.isEnabled)
        XCTAssertTrue(s.warning?.hasPrefix("sound disabled: audio device 'no_such_device'") ?? false)
        XCTAssertFalse(s.submitHit(strength: 1))
        XCTAssertEqual(s.underruns, 0)
        XCTAssertEqual(s.latencyStats, .empty)
        s.stop()
    }

    func testUnknownVoiceThrowsEvenWhenOptional() {
        XCTAssertThrowsError(try HitSonifier(device: "default", voice: "kazoo", optional: true)) { error in
            XCTAssertTrue((error as? SoundError)?.message.contains("wood, metal, glass, drum, click") ?? false)
            XCTAssertEqual((error as? SoundError)?.exitCode, 64, "a bad --voice is a usage error")
        }
    }
}
