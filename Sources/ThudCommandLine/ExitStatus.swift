import ArgumentParser

/// Every exit code a Thud executable ends with, and what it means: the one table (README "Exit codes" is checked
/// against it by ExitStatusTableTests, row for row). Executables name a case (`throw ExitStatus.usage.exitCode`);
/// libraries throw typed errors and never choose a code.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case success = 0
    case internalError = 1
    case notImproved = 3
    case inputUnreadable = 10
    case unusableInput = 11
    case corrupt = 12
    case noVideo = 13
    case noAudio = 14
    case audioUnusable = 15
    case tooShort = 16
    case unsupportedPicture = 17
    case badModel = 20
    case captureCannotStart = 30
    case captureLost = 31
    case networkCannotOpen = 32
    case networkLost = 33
    case audioOutput = 40
    case audioCapture = 41
    case usage = 64
    case diverged = 65
    case cannotWrite = 74
    case interrupted = 130

    /// README's rows for this code, in order (one row each, two for 3: `adapt` and `fp16`).
    public var meanings: [String] {
        switch self {
        case .success: ["success (for `probe`: the clip is usable)"]
        case .internalError: ["unexpected internal error"]
        case .notImproved: [
            "`thud-train adapt`: the adapted model does not beat the starting one on the held-out clips; nothing written (`--keep-worse` writes it)",
            "`thud-train fp16`: r or hit F1 on the validation clips moved by the tolerance or more (or a weight lies beyond half precision's range); nothing written",
        ]
        case .inputUnreadable: ["input not found, not readable, or a directory"]
        case .unusableInput: ["not a media file (empty, text, unknown format); for `thud events`, not a Thud events database (not SQLite, another program's, a newer schema)"]
        case .corrupt: ["truncated, or corrupt beyond use"]
        case .noVideo: ["no video stream"]
        case .noAudio: ["no audio stream"]
        case .audioUnusable: ["audio unusable (undecodable or silent)"]
        case .tooShort: ["too short"]
        case .unsupportedPicture: ["absurd picture size (outside 2…8192 pixels a side) or unsupported codec"]
        case .badModel: ["model file missing or invalid"]
        case .captureCannotStart: ["capture device cannot be opened, negotiated or started"]
        case .captureLost: ["capture device lost while streaming"]
        case .networkCannotOpen: ["network stream cannot be opened: refused, unreachable, an HTTP error, nothing within `--timeout` (with `--reconnect`: not within `--reconnect-give-up`)"]
        case .networkLost: ["network stream lost: silent for `--timeout` or a read error without `--reconnect`, or an outage longer than `--reconnect-give-up` (the steps before it are written)"]
        case .audioOutput: ["audio output device error"]
        case .audioCapture: ["audio capture device (`thud record --audio-device`) cannot be opened or configured, or lost while recording"]
        case .usage: ["command-line usage error (one line; also a numeric option out of range, `render --out` naming the clip itself, through any link, and an `--input-option` the stream's reader does not know)"]
        case .diverged: ["`thud-train`: training diverged (a non-finite loss or weights); `--out` is as it was before the run, and the line says whether the checkpoint holds the last epoch before the divergence or nothing was written"]
        case .cannotWrite: ["an output cannot be written: an output file (checked before the run where possible), the feature cache folder, a checkpoint, or stdout itself (a full disk, `/dev/full`; the lines already written stay, the exit code says they are not all)"]
        case .interrupted: ["stopped by Ctrl-C, SIGTERM (or for `render`, SIGHUP) before the end: `render` writes nothing and removes its temporary files; `thud-train` keeps its checkpoint and the best model so far in `OUT.best`, and `--resume` goes on"]
        }
    }

    /// The meaning on one line.
    public var meaning: String { meanings.joined(separator: "; ") }

    /// The code as ArgumentParser's ExitCode, for a command that has printed its line and leaves with it.
    public var exitCode: ExitCode { ExitCode(rawValue) }

    /// README's "Exit codes" table, as it must read: the header and one row per meaning.
    public static var markdownTable: String {
        (["| code | meaning |", "|---|---|"] + allCases.flatMap { s in s.meanings.map { "| \(s.rawValue) | \($0) |" } })
            .joined(separator: "\n")
    }
}
