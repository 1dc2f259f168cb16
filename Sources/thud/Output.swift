import ArgumentParser
import Foundation
import ThudBase
import ThudMedia
import ThudModel
import ThudRuntime
import ThudSound

extension OutputFormat: ExpressibleByArgument {}

/// A command line that cannot work with its inputs (exit 64, like ArgumentParser's own usage errors).
struct UsageError: OneLineError {
    var message: String
    var exitCode: Int32 { 64 }
}

/// Prints the one-line error and turns it into the documented exit code (ToolExit: the one place every tool does).
func exitWith(_ error: Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    return ExitCode(ToolExit.report(error, tool: "thud"))
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
