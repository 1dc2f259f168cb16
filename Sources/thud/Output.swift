import ArgumentParser
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudRuntime
import ThudSound

extension OutputFormat: ExpressibleByArgument {}

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
