import ArgumentParser
import Foundation
import ThudMedia
import ThudModel

/// Lines to stdout, flushed one by one: downstream tools see each step as it is computed, and a slow
/// reader blocks us (the pipe fills) instead of us buffering without bound.
struct LineWriter {
    func write(_ line: String) {
        fputs(line, stdout)
        fputc(10, stdout)
        fflush(stdout)
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv
}

/// Prints the one-line error and turns it into the documented exit code.
func exitWith(_ error: Error) -> ExitCode {
    if let media = error as? MediaError {
        fputs("thud: \(media.message)\n", stderr)
        return ExitCode(media.exitCode)
    }
    if let model = error as? ModelFileError {
        fputs("thud: \(model.message)\n", stderr)
        return ExitCode(model.exitCode)
    }
    if let exit = error as? ExitCode { return exit }
    fputs("thud: \(error)\n", stderr)
    return ExitCode(1)
}

func warnLine(_ text: String) { fputs("thud: warning: \(text)\n", stderr) }

/// Fixed-point numbers for JSON and CSV ("%.6f" keeps step times like 1/12 readable and exact enough).
func fixed(_ value: Double, _ digits: Int = 6) -> String { String(format: "%.\(digits)f", value) }

struct PictureSize: ExpressibleByArgument {
    var width: Int
    var height: Int
    init?(argument: String) {
        let parts = argument.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0, w <= 4096, h <= 4096 else { return nil }
        width = w
        height = h
    }
    init(width: Int, height: Int) { self.width = width; self.height = height }
    var defaultValueDescription: String { "\(width)x\(height)" }
}
