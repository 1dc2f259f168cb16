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
            let started = Date()
            let media = try MediaInput(path: input)
            let out = LineWriter()
            let request = VideoStepRequest(width: size.width, height: size.height, pixelFormat: pix)
            let summary = try media.decode(video: request, audio: false, warn: warnLine) { step in
                if index {
                    try out.write("{\"step\": \(step.index), \"t\": \(fixed(step.time)), \"source_t\": \(fixed(step.sourceTime)), \"source_frame\": \(step.sourceFrameNumber)}")
                } else if !null {
                    try out.write(bytes: step.pixels)
                }
                return limit.map { step.index + 1 < $0 } ?? true
            }
            if null {
                let seconds = Date().timeIntervalSince(started)
                fputs("steps=\(summary.steps) decoded_frames=\(summary.videoFrames) seconds=\(fixed(seconds, 3)) steps_per_second=\(fixed(Double(summary.steps) / max(seconds, 1e-9), 1))\n", stderr)
            }
            if let error = summary.readError, !summary.stoppedEarly {
                throw MediaError(.truncated, file: media.name, "input ends early (\(error))")
            }
        } catch {
            throw exitWith(error)
        }
    }
}
