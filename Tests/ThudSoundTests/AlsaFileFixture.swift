import Foundation
import XCTest
@testable import ThudSound

/// Routes ALSA's `default` PCM to the `file` plugin over `null` with an asoundrc written by the
/// test (ALSA_CONFIG_PATH), so real alsa-lib runs end to end with no sound card and the PCM
/// that reached the device can be read back. alsa-lib re-reads its configuration when
/// ALSA_CONFIG_PATH changes, so each test gets its own file.
final class AlsaFileFixture {
    let directory: URL
    let rawURL: URL
    private let previousConfigPath: String?

    init(name: String) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("thud-sound-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        rawURL = directory.appendingPathComponent("out.raw")
        let asoundrc = """
        # Written by ThudSoundTests: a complete ALSA configuration (ALSA_CONFIG_PATH replaces
        # alsa.conf), so `null` has to be defined here too.
        pcm.null { type null }
        pcm.!default {
            type file
            slave.pcm "null"
            file "\(rawURL.path)"
            format "raw"
        }
        """
        let rc = directory.appendingPathComponent("asoundrc")
        try asoundrc.write(to: rc, atomically: true, encoding: .utf8)
        previousConfigPath = ProcessInfo.processInfo.environment["ALSA_CONFIG_PATH"]
        setenv("ALSA_CONFIG_PATH", rc.path, 1)
    }

    /// The samples the file plugin wrote (mono S16_LE).
    func samples() throws -> [Int16] {
        let data = try Data(contentsOf: rawURL)
        return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: Int16.self)) }
    }

    func tearDown() {
        if let previousConfigPath { setenv("ALSA_CONFIG_PATH", previousConfigPath, 1) } else { unsetenv("ALSA_CONFIG_PATH") }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A knock found in the written PCM.
struct FoundKnock: Equatable {
    var start: Int
    var maxError: Int  // worst |written − expected| over the knock, in LSB
}

/// Splits a recording into knocks: a knock starts at the first non-zero sample after silence and
/// lasts exactly `table.frames`; its samples are compared with `gain × table`. Any non-zero
/// sample outside a knock would start an extra knock, so "count matches" also proves that
/// nothing but silence lies between knocks.
func findKnocks(in pcm: [Int16], table: KnockTable, strengths: [Float]) -> [FoundKnock] {
    var found: [FoundKnock] = []
    var i = 0
    while i < pcm.count {
        if pcm[i] == 0 { i += 1; continue }
        let k = found.count
        let gain = KnockTable.gain(forStrength: k < strengths.count ? strengths[k] : 1)
        var worst = 0
        for j in 0..<table.frames where i + j < pcm.count {
            let expected = Int((gain * table.samples[j] * 32767).rounded())
            worst = max(worst, abs(Int(pcm[i + j]) - expected))
        }
        if i + table.frames > pcm.count { worst = Int.max }  // truncated knock
        found.append(FoundKnock(start: i, maxError: worst))
        i += table.frames
    }
    return found
}
