import CALSA
import Foundation
import XCTest
@testable import ThudSound
import ThudBase
import ThudSoundTestSupport

/// Underruns and suspends through real alsa-lib state handling, on a card that is paced like
/// hardware (see VirtualCard): the sink must count them, call snd_pcm_recover, and carry on.
final class SoundSinkRecoveryTests: XCTestCase {
    func testStereoOnlyCardGetsKnocksOnEveryFrame() throws {
        let card = try VirtualCard(channels: 2...2)
        let s = try makeSonifier(card, voice: "wood")
        XCTAssertEqual(s.channels, 2, "channels read back from the device, not assumed")
        XCTAssertTrue(waitUntil(1) { s.framesWritten >= 4 * s.periodFrames })
        let table = try XCTUnwrap(s.knockTable)
        let before = s.framesWritten
        s.submitHit(strength: 0.6)
        let window = before...(s.framesWritten + s.periodFrames)
        XCTAssertTrue(waitUntil(5) { s.framesWritten > window.upperBound + table.frames })
        s.stop(drain: false)
        let knocks = findKnocks(in: card.samples, table: table, strengths: [0.6])
        XCTAssertEqual(knocks.count, 1)
        XCTAssertTrue(knocks.first.map { window.contains($0.start) } ?? false)
        XCTAssertLessThanOrEqual(knocks.first?.maxError ?? .max, 1, "interleaving intact: frame k holds sample k")
        card.release()
    }

    private func makeSonifier(_ card: VirtualCard, voice: String = "click") throws -> HitSonifier {
        let settings = SinkSettings(device: "thud-virtual-card", pacing: .auto)
        return try HitSonifier(options: .init(sink: settings, voice: voice, mode: .hits)) {
            try AlsaDevice(pcm: card.pcm, name: "thud-virtual-card", settings: settings)
        }
    }

    private func waitUntil(_ timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if condition() { return true }; usleep(2_000) }
        return condition()
    }

    func testDevicePacedCardIsNotMistakenForNull() throws {
        let card = try VirtualCard()
        let s = try makeSonifier(card)
        XCTAssertTrue(waitUntil(1) { s.framesWritten >= 4 * s.periodFrames })
        XCTAssertFalse(s.isWallClockPaced, "a card that consumes in real time paces the sink itself")
        // Rate over measured wall time (not the requested sleep, which overshoots under load).
        let f0 = s.framesWritten, t0 = MonotonicClock.nanos()
        usleep(300_000)
        let rate = Double(s.framesWritten - f0) / (Double(MonotonicClock.nanos() - t0) * 1e-9)
        // The card only takes frames as its clock plays them; a loaded machine can only make
        // the sink slower (underruns), never faster.
        XCTAssertLessThan(rate, 48_000 * 1.1, "written at the card's real-time rate")
        XCTAssertGreaterThan(rate, 48_000 * 0.5, "written at the card's real-time rate")
        s.stop(drain: false)
        card.release()
    }

    func testStalledWriterGetsEPIPEAndRecovers() throws {
        let card = try VirtualCard()
        let s = try makeSonifier(card)
        let table = try XCTUnwrap(s.knockTable)
        XCTAssertTrue(waitUntil(1) { s.framesWritten >= 4 * s.periodFrames })
        let underrunsBefore = s.underruns
        var windows: [ClosedRange<Int>] = []
        var nextFree = 0
        for k in 0..<3 {
            let before = s.underruns
            s.stallWriterOnce(seconds: 0.04)  // 40 ms without writing against a 10 ms buffer
            XCTAssertTrue(waitUntil(5) { s.underruns > before }, "stall \(k): alsa-lib reported the xrun")
            XCTAssertTrue(waitUntil(5) { s.framesWritten > nextFree + 2 * s.periodFrames })
            let start = s.framesWritten
            XCTAssertTrue(s.submitHit(strength: 1))
            let after = s.framesWritten
            windows.append(start...(after + s.periodFrames))
            nextFree = after + s.periodFrames + table.frames
        }
        let recovered = s.underruns - underrunsBefore
        XCTAssertGreaterThanOrEqual(recovered, 3, "every stall is an xrun reported by alsa-lib")
        XCTAssertNil(s.failure, "underruns are never fatal")
        // Frame-based, not timed: on a loaded machine the thread may lag, but it must resume.
        let f0 = s.framesWritten
        XCTAssertTrue(waitUntil(2) { s.framesWritten - f0 > 4_800 }, "playing again after recovery")
        s.stop(drain: false)

        // The card saw exactly the stream the sink wrote: knocks where the sink put them.
        let knocks = findKnocks(in: card.samples, table: table, strengths: [1, 1, 1])
        XCTAssertEqual(knocks.count, 3)
        for (k, knock) in knocks.prefix(3).enumerated() {
            XCTAssertTrue(windows[k].contains(knock.start), "knock \(k) at \(knock.start), expected \(windows[k])")
            XCTAssertLessThanOrEqual(knock.maxError, 1)
        }
        card.release()
    }

    func testSuspendIsRecovered() throws {
        let card = try VirtualCard()
        let s = try makeSonifier(card)
        XCTAssertTrue(waitUntil(1) { s.framesWritten >= 4 * s.periodFrames })
        card.suspendNext.store(true, ordering: .releasing)
        XCTAssertTrue(waitUntil(1) { s.suspends == 1 }, "suspends \(s.suspends) underruns \(s.underruns) failure \(s.failure ?? "-")")
        let f0 = s.framesWritten
        XCTAssertTrue(waitUntil(2) { s.framesWritten - f0 > 4_800 }, "playing again after resume")
        XCTAssertNil(s.failure)
        s.stop(drain: false)
        card.release()
    }

    func testLatencyOnACardPacedLikeHardware() throws {
        let card = try VirtualCard()
        let s = try makeSonifier(card)
        XCTAssertTrue(waitUntil(1) { s.framesWritten >= 4 * s.periodFrames })
        for _ in 0..<10 {
            s.submitHit(strength: 0.5)
            usleep(30_000)
        }
        s.stop(drain: false)
        let stats = s.latencyStats
        XCTAssertEqual(stats.count, 10)
        // Behaviour, not a benchmark: the frames queued ahead of a knock come from the card's
        // real pointer, so output latency exceeds handoff by at most one buffer.
        XCTAssertGreaterThanOrEqual(stats.outputMedian, stats.handoffMedian)
        XCTAssertLessThanOrEqual(stats.outputMax - stats.handoffMax, s.bufferSeconds + 0.001)
        card.release()
    }
}
