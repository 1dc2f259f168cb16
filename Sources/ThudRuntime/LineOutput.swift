// The runtime's outputs: lines to stdout or a file, each flushed and checked (a line that cannot be written ends the
// command with exit 74), and the fixed-point numbers they carry.
import Foundation
import ThudBase
import ThudMedia

/// Lines to stdout, flushed one by one: downstream tools see each step as it is computed, and a slow
/// reader blocks us (the pipe fills) instead of us buffering without bound. A line that cannot be written (a full
/// disk, /dev/full, an I/O error) throws OutputError (exit 74, one line naming the output): the run ends there, its
/// sinks finished, and the command says so.
public struct LineWriter {
    let file: UnsafeMutablePointer<FILE>
    public let name: String

    public init() { file = stdout; name = "stdout" }

    /// "-" is stdout; anything else is created (or truncated) for writing.
    public init(path: String) throws {
        if path == "-" { file = stdout; name = "stdout"; return }
        guard let f = fopen(path, "w") else {
            throw MediaError(.writeFailed, file: path, "cannot open for writing: \(String(cString: strerror(errno)))")
        }
        file = f
        name = path
    }

    public func write(_ line: String) throws {
        if fputs(line, file) < 0 || fputc(10, file) == EOF || fflush(file) != 0 { throw OutputError(name: name) }
    }

    /// Raw bytes (frames as video), checked like a line.
    public func write(bytes: UnsafeBufferPointer<UInt8>) throws {
        guard bytes.count > 0 else { return }
        if fwrite(bytes.baseAddress, 1, bytes.count, file) != bytes.count { throw OutputError(name: name) }
    }
}

/// An output that cannot be written mid-run (the lines already written stay; the exit code says they are not all).
public struct OutputError: Error, OneLineError {
    public let name: String
    public let reason: String
    public init(name: String) { self.name = name; reason = String(cString: strerror(errno)) }
    public var message: String { "\(name): cannot be written (\(reason))" }
    public var exitCode: Int32 { 74 }
}

/// How `predict` writes its steps.
public enum OutputFormat: String, CaseIterable, Sendable {
    case jsonl, csv
}

/// Fixed-point numbers for JSON and CSV (six digits keep step times like 1/12 readable and exact enough).
public func fixed(_ value: Double, _ digits: Int = 6) -> String { Format.fixed(value, digits) }
