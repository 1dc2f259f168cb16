import ArgumentParser
import Foundation
import ThudCommandLine
import ThudRuntime
import ThudSound

@main
struct Thud: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thud",
        abstract: "Watches video and hears it: predicts, at 12 steps a second, the loudness envelope of the sound the visible action makes, and flags each hit.",
        discussion: """
        INPUT is a video file, '-' for standard input (a pipe: `ffmpeg -i x.mp4 -f matroska - | thud predict -`), or for \
        predict, live and watch a network stream (rtsp://, rtp://, udp://, http(s)://, srt://). \
        Every command prints one line on stderr naming the file and the problem when an input is bad, and \
        exits with a code that says what kind of problem it was (see README.md, "Exit codes").
        """,
        subcommands: [PredictCommand.self, LiveCommand.self, WatchCommand.self, EventsCommand.self, RecordCommand.self, ProbeCommand.self, EnvelopeCommand.self, FramesCommand.self, EvalCommand.self, RenderCommand.self])

    static func main() {
        // A command that succeeded must also close stdout cleanly (CommandLineTool checks it: a full disk reports at close).
        CommandLineTool.run(Thud.self, tool: "thud", arguments: SonifyRequest.expandBareFlag(Array(CommandLine.arguments.dropFirst())))
    }
}
