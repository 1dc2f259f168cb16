import Foundation
import XCTest
@testable import ThudSound

final class SonifyRequestAndErrorTests: XCTestCase {
    func testSonifyArgumentParsing() {
        XCTAssertEqual(SonifyRequest(argument: ""), SonifyRequest(mode: .hits, optional: false))
        XCTAssertEqual(SonifyRequest(argument: "hits"), SonifyRequest(mode: .hits, optional: false))
        XCTAssertEqual(SonifyRequest(argument: "envelope"), SonifyRequest(mode: .envelope, optional: false))
        XCTAssertEqual(SonifyRequest(argument: "optional"), SonifyRequest(mode: .hits, optional: true))
        XCTAssertEqual(SonifyRequest(argument: "Envelope, optional"), SonifyRequest(mode: .envelope, optional: true))
        XCTAssertNil(SonifyRequest(argument: "loud"))
        XCTAssertNil(SonifyRequest(argument: "hits,envelope"))
    }

    func testUnknownVoiceIsAUsageError() {
        XCTAssertThrowsError(try VoiceSpec.named("kazoo")) { error in
            XCTAssertEqual((error as? SoundError)?.exitCode, 64)
        }
    }

    /// Runs `body` with fd 2 redirected to a pipe and returns what was written there.
    private func capturingStderr(_ body: () throws -> Void) rethrows -> String {
        fflush(stderr)
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let saved = dup(2)
        dup2(fds[1], 2)
        defer {
            fflush(stderr)
            dup2(saved, 2)
            close(saved)
        }
        try body()
        fflush(stderr)
        dup2(saved, 2)
        close(fds[1])
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        close(fds[0])
        return String(decoding: bytes, as: UTF8.self)
    }

    /// With the system's own ALSA configuration (no test asoundrc), a card that does not exist:
    /// alsa-lib would print several "ALSA lib …" lines; the user must see one line only.
    func testMissingCardGivesOneLineAndNoAlsaChatter() throws {
        let saved = ProcessInfo.processInfo.environment["ALSA_CONFIG_PATH"]
        unsetenv("ALSA_CONFIG_PATH")
        defer { if let saved { setenv("ALSA_CONFIG_PATH", saved, 1) } }

        var thrown: SoundError?
        let quiet = try capturingStderr {
            XCTAssertThrowsError(try HitSonifier(device: "hw:99")) { thrown = $0 as? SoundError }
        }
        XCTAssertEqual(quiet, "", "alsa-lib's own error lines are muted")
        XCTAssertEqual(thrown?.exitCode, 40)
        XCTAssertEqual(thrown?.message.hasPrefix("audio device 'hw:99': cannot open for playback: "), true, thrown?.message ?? "")

        var sonifier: HitSonifier?
        let warned = try capturingStderr {
            sonifier = try HitSonifier(request: XCTUnwrap(SonifyRequest(argument: "envelope,optional")),
                                       device: "hw:99", voice: "drum", warn: { fputs("thud: warning: \($0)\n", stderr) })
        }
        XCTAssertEqual(warned.filter { $0 == "\n" }.count, 1, "exactly one line: \(warned)")
        XCTAssertTrue(warned.hasPrefix("thud: warning: sound disabled: audio device 'hw:99'"), warned)
        XCTAssertEqual(sonifier?.isEnabled, false)
        XCTAssertEqual(sonifier?.submitEnvelope(0.5), false)
    }

    /// The library speaks for no CLI: an optional sonifier whose device is missing prints nothing itself; the caller's
    /// `warn` gets the warning (once), and `warning` keeps it.
    func testAnOptionalSonifierHandsItsWarningToTheCallerAndPrintsNothing() throws {
        let saved = ProcessInfo.processInfo.environment["ALSA_CONFIG_PATH"]
        unsetenv("ALSA_CONFIG_PATH")
        defer { if let saved { setenv("ALSA_CONFIG_PATH", saved, 1) } }
        var warnings: [String] = []
        var sonifier: HitSonifier?
        let printed = try capturingStderr {
            sonifier = try HitSonifier(device: "hw:99", voice: "drum", optional: true, warn: { warnings.append($0) })
        }
        XCTAssertEqual(printed, "")
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.hasPrefix("sound disabled: audio device 'hw:99'") ?? false, "\(warnings)")
        XCTAssertEqual(sonifier?.warning, warnings.first)
        XCTAssertEqual(try capturingStderr { _ = try HitSonifier(device: "hw:99", optional: true) }, "")
    }
}
