import ArgumentParser
import ThudCommandLine
import Foundation
import ThudMedia
import ThudRuntime

struct FramesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frames",
        abstract: "Decode an input into the 12 Hz frames the model sees.",
        discussion: """
        Writes the frames as raw video to stdout (gray8 or rgb24, --size), or with --index one JSON line per \
        step saying which source frame was chosen: {"step", "t", "source_t", "source_frame"}. Step k shows \
        the latest frame whose presentation time is ≤ k/12 s. With --null nothing is written and a summary \
        (steps, decoded frames, steps per second) goes to stderr: the decode benchmark uses this.
        """)

    @Argument(help: "A video file, or '-' for standard input.")
    var input: String

    @Option(help: "Frame size, WxH.")
    var size = PictureSize(width: 96, height: 96)

    @Option(help: "gray8 or rgb24.")
    var pixelFormat: String = "gray8"

    @Flag(help: "Print which source frame each step shows, as JSON lines, instead of pixels.")
    var index = false

    @Flag(help: "Decode and scale, but write nothing; print a timing summary on stderr.")
    var null = false

    @Option(parsing: .unconditional, help: "Stop after this many steps.")
    var limit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be a whole number of steps, at least 1") }
    }

    func run() throws {
        guard let pix = StepPixelFormat(rawValue: pixelFormat) else {
            throw ValidationError("--pixel-format must be gray8 or rgb24")
        }
        do {
            let request = VideoStepRequest(width: size.width, height: size.height, pixelFormat: pix)
            let timing = try StepDump.frames(try MediaInput(path: input), request: request, output: index ? .index : null ? .nothing : .pixels,
                                             limit: limit, out: LineWriter(), warn: warnLine)
            if null { fputs(timing + "\n", stderr) }
        } catch {
            throw exitWith(error)
        }
    }
}
