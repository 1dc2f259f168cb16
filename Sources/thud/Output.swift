import ArgumentParser
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudSound

/// Lines to stdout, flushed one by one: downstream tools see each step as it is computed, and a slow
/// reader blocks us (the pipe fills) instead of us buffering without bound. A line that cannot be written (a full
/// disk, /dev/full, an I/O error) ends the command at once: exit 74, one line naming the output.
struct LineWriter {
    let file: UnsafeMutablePointer<FILE>
    let name: String

    init() { file = stdout; name = "stdout" }

    /// "-" is stdout; anything else is created (or truncated) for writing.
    init(path: String) throws {
        if path == "-" { file = stdout; name = "stdout"; return }
        guard let f = fopen(path, "w") else {
            throw MediaError(.writeFailed, file: path, "cannot open for writing: \(String(cString: strerror(errno)))")
        }
        file = f
        name = path
    }

    func write(_ line: String) {
        if fputs(line, file) < 0 || fputc(10, file) == EOF || fflush(file) != 0 { OutputFailure.exit(name) }
    }

    /// Raw bytes (frames as video), checked like a line.
    func write(bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count > 0 else { return }
        if fwrite(bytes.baseAddress, 1, bytes.count, file) != bytes.count { OutputFailure.exit(name) }
    }
}

/// An output that cannot be written mid-run: there is no way to report it through the command's result (the lines
/// already written cannot be taken back), so it is the one place that ends the process directly.
enum OutputFailure {
    static func exit(_ name: String) -> Never {
        let reason = String(cString: strerror(errno))
        fputs("thud: \(name): cannot be written (\(reason))\n", stderr)
        Foundation.exit(74)
    }

    /// After a successful command: stdout's last buffered bytes and its close can fail too (a full disk reports
    /// at close), and a command whose output was lost has not succeeded.
    static func closeStandardOutput() {
        if fflush(stdout) != 0 || ferror(stdout) != 0 || fclose(stdout) != 0 { exit("stdout") }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv
}

/// Every module's error type already carries a one-line message (naming the file or device) and its
/// documented exit code; the CLI only prints and returns them.
protocol OneLineError: Error {
    var message: String { get }
    var exitCode: Int32 { get }
}

extension MediaError: OneLineError {}
extension ModelFileError: OneLineError {}
extension SoundError: OneLineError {}
extension CaptureError: OneLineError {}
extension FileWriteError: OneLineError {}

/// A command line that cannot work with its inputs (exit 64, like ArgumentParser's own usage errors).
struct UsageError: OneLineError {
    var message: String
    var exitCode: Int32 { 64 }
}

/// Prints the one-line error and turns it into the documented exit code.
func exitWith(_ error: Error) -> ExitCode {
    if let known = error as? OneLineError {
        fputs("thud: \(known.message)\n", stderr)
        return ExitCode(known.exitCode)
    }
    if let exit = error as? ExitCode { return exit }
    fputs("thud: \(error)\n", stderr)
    return ExitCode(1)
}

func warnLine(_ text: String) { fputs("thud: warning: \(text)\n", stderr) }

/// Fixed-point numbers for JSON and CSV (six digits keep step times like 1/12 readable and exact enough).
func fixed(_ value: Double, _ digits: Int = 6) -> String { Format.fixed(value, digits) }

struct PictureSize: ExpressibleByArgument {
    var width: Int
    var height: Int
    init?(argument: String) {
        guard let (w, h) = FrameSize.parse(argument) else { return nil }
        width = w
        height = h
    }
    init(width: Int, height: Int) { self.width = width; self.height = height }
    var defaultValueDescription: String { "\(width)x\(height)" }
}
