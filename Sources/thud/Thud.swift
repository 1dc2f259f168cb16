import ArgumentParser
import Foundation
import ThudRuntime

@main
struct Thud: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thud",
        abstract: "Watches video and hears it: predicts, at 12 steps a second, the loudness envelope of the sound the visible action makes, and flags each hit.",
        discussion: """
        INPUT is a video file or '-' for standard input (a pipe: `ffmpeg -i x.mp4 -f matroska - | thud predict -`). \
        Every command prints one line on stderr naming the file and the problem when an input is bad, and \
        exits with a code that says what kind of problem it was (see README.md, "Exit codes").
        """,
        subcommands: [PredictCommand.self, LiveCommand.self, RecordCommand.self, ProbeCommand.self, EnvelopeCommand.self, FramesCommand.self, EvalCommand.self, RenderCommand.self])

    static func main() {
        do {
            var command = try parseAsRoot(SoundOptions.expandBareFlag(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            exitOneLine(error)
        }
        // The command succeeded: then stdout must close cleanly too (a full disk reports at close).
        OutputFailure.closeStandardOutput()
    }

    /// A usage error is one line, `thud: problem`, and exit 64 (README, "Exit codes"), as every input error is; help
    /// and --version print as ArgumentParser prints them; a command's own error was printed where it was thrown.
    static func exitOneLine(_ error: Error) -> Never {
        if let code = error as? ExitCode { Foundation.exit(code.rawValue) }
        let code = exitCode(for: error)
        if code == .success { exit(withError: error) }
        let text = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        fputs("thud: \(text)\n", stderr)
        Foundation.exit(code.rawValue)
    }
}
