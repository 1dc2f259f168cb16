import Foundation

/// Every error a tool reports: one line naming the file or device and what is wrong with it, and its documented exit
/// code (README, "Exit codes"). Each module's error types adopt it where they are defined; each executable turns any
/// error into its line and code with `ToolExit.report`, so no command matches error types one by one.
public protocol OneLineError: Error {
    var message: String { get }
    var exitCode: Int32 { get }
}

public enum ToolExit {
    /// Prints `tool: message` on stderr (the first line only: a message never spans lines) and returns the error's
    /// exit code; an error that is not a OneLineError is an internal one, exit 1.
    public static func report(_ error: Error, tool: String) -> Int32 {
        let (text, code): (String, Int32) = (error as? OneLineError).map { ($0.message, $0.exitCode) } ?? ("\(error)", 1)
        fputs("\(tool): \(text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? "")\n", stderr)
        return code
    }
}
