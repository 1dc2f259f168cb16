import Foundation

/// Routes ALSA's `default` PCM to the `file` plugin over `null` with an asoundrc written by the
/// test (ALSA_CONFIG_PATH), so real alsa-lib runs end to end with no sound card and the PCM
/// that reached the device can be read back. alsa-lib re-reads its configuration when
/// ALSA_CONFIG_PATH changes, so each test gets its own file. With `captureInput` (mono S16_LE
/// samples), the same PCM is also a capture device: the file plugin's `infile` replaces what
/// `null` captures (silence) with these samples, then silence once they run out.
public final class AlsaFileFixture {
    public let directory: URL
    public let rawURL: URL
    private let previousConfigPath: String?

    public init(name: String, captureInput: [Int16]? = nil) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("thud-sound-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        rawURL = directory.appendingPathComponent("out.raw")
        var infile = ""
        if let captureInput {
            let url = directory.appendingPathComponent("in.raw")
            try captureInput.withUnsafeBytes { Data($0) }.write(to: url)
            infile = "\n    infile \"\(url.path)\""
        }
        let asoundrc = """
        # Written by ThudSoundTestSupport: a complete ALSA configuration (ALSA_CONFIG_PATH replaces
        # alsa.conf), so `null` has to be defined here too.
        pcm.null { type null }
        pcm.!default {
            type file
            slave.pcm "null"
            file "\(rawURL.path)"\(infile)
            format "raw"
        }
        """
        let rc = directory.appendingPathComponent("asoundrc")
        try asoundrc.write(to: rc, atomically: true, encoding: .utf8)
        previousConfigPath = ProcessInfo.processInfo.environment["ALSA_CONFIG_PATH"]
        setenv("ALSA_CONFIG_PATH", rc.path, 1)
    }

    /// The samples the file plugin wrote (mono S16_LE).
    public func samples() throws -> [Int16] {
        let data = try Data(contentsOf: rawURL)
        return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: Int16.self)) }
    }

    public func tearDown() {
        if let previousConfigPath { setenv("ALSA_CONFIG_PATH", previousConfigPath, 1) } else { unsetenv("ALSA_CONFIG_PATH") }
        try? FileManager.default.removeItem(at: directory)
    }
}
