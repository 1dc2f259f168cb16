import ArgumentParser
import Foundation
import ThudBase

/// How every Thud executable starts and ends: one place for what each `main` used to write for itself.
public enum CommandLineTool {
    /// Parses `arguments` as `Root`'s command line and runs it. A usage error is one line, `tool: problem`, with
    /// ArgumentParser's code (64, README "Exit codes"); `--help` and `--version` print as ArgumentParser prints them;
    /// a command's OneLineError is its line and code (ToolExit); a command that reported its own line already threw
    /// the ExitCode to leave with.
    public static func run<Root: ParsableCommand>(_ root: Root.Type, tool: String,
                                                  arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        do {
            var command = try root.parseAsRoot(arguments)
            try command.run()
        } catch {
            leave(root, tool: tool, error)
        }
        closeStandardOutput(tool: tool)
    }

    /// After a command that succeeded: stdout's last buffered bytes and its close can fail too (a full disk, /dev/full
    /// reports at the flush or the close), and a command whose output was lost has not succeeded: one line, exit 74.
    /// Every executable's output goes through here (print included), so none can end 0 with its output gone.
    public static func closeStandardOutput(tool: String) {
        if fflush(stdout) != 0 || ferror(stdout) != 0 || fclose(stdout) != 0 {
            fputs("\(tool): stdout: cannot be written (\(String(cString: strerror(errno))))\n", stderr)
            exit(ExitStatus.cannotWrite.rawValue)
        }
    }

    /// Parses `arguments` into `Root` for a tool that runs as a script over the parsed values; exits as `run` does.
    public static func parse<Root: ParsableArguments>(_ root: Root.Type, tool: String,
                                                      arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Root {
        do { return try root.parse(arguments) } catch { leave(root, tool: tool, error) }
    }

    private static func leave<Root: ParsableArguments>(_ root: Root.Type, tool: String, _ error: Error) -> Never {
        if let code = error as? ExitCode { exit(code.rawValue) }
        if error is OneLineError { exit(ToolExit.report(error, tool: tool)) }
        let code = root.exitCode(for: error)
        if code == .success { root.exit(withError: error) }
        let text = root.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        fputs("\(tool): \(text)\n", stderr)
        exit(code.rawValue)
    }

    /// Any error a command meets, as its one line on stderr (ToolExit) and the ExitCode to throw; an ExitCode
    /// passes through (its line was printed where it was decided).
    public static func exitCode(reporting error: Error, tool: String) -> ExitCode {
        if let exit = error as? ExitCode { return exit }
        return ExitCode(ToolExit.report(error, tool: tool))
    }
}

/// A command line that cannot work with its inputs (exit 64, like ArgumentParser's own usage errors).
public struct UsageError: OneLineError {
    public var message: String
    public var exitCode: Int32 { ExitStatus.usage.rawValue }
    public init(message: String) { self.message = message }
}

/// "WxH" on a command line (FrameSize.parse: 2…8192 on a side).
public struct PictureSize: ExpressibleByArgument, Sendable {
    public var width: Int
    public var height: Int
    public init?(argument: String) {
        guard let (w, h) = FrameSize.parse(argument) else { return nil }
        width = w
        height = h
    }
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    public var defaultValueDescription: String { "\(width)x\(height)" }
}
