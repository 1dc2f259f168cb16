import ArgumentParser
import Foundation
import ThudBase
import ThudCommandLine
import ThudMedia
import ThudModel
import ThudRuntime
import ThudSound

extension OutputFormat: ExpressibleByArgument {}

/// Prints the one-line error and turns it into the documented exit code (CommandLineTool, as every tool does).
func exitWith(_ error: Error) -> ExitCode { CommandLineTool.exitCode(reporting: error, tool: "thud") }

func warnLine(_ text: String) { fputs("thud: warning: \(text)\n", stderr) }


