import ArgumentParser
import ThudCommandLine
import Foundation
import ThudMedia
import ThudRuntime

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Describe an input's streams and say whether it can teach (usable for training).",
        discussion: """
        Prints the container, duration, the video stream (codec, size, frame rate) and the first audio stream \
        (codec, rate, channels), then decodes the audio and the video to check that it is usable: the video \
        decodes, the input does not end before its headers say, the audio decodes, it is not silent (peak above \
        \(Int(AudioEnvelope.silenceDB)) dBFS) and it lasts at least --min-duration seconds. Exit status 0 means \
        usable; otherwise the exit code of the first problem (12 no video frame decodes or the input ends early, \
        13 no video, 14 no audio, 15 audio unusable, 16 too short), after the report has been printed.
        """)

    @Argument(help: "A video file, or '-' for standard input.")
    var input: String

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(parsing: .unconditional, help: "Shortest usable clip, in seconds.")
    var minDuration = ClipCheck.defaultMinimumSeconds

    func validate() throws {
        guard minDuration.isFinite, minDuration >= 0 else { throw ValidationError("--min-duration must be a number of seconds, 0 or more") }
    }

    func run() throws {
        let check = ClipCheck.run(path: input, minimumSeconds: minDuration)
        guard let info = check.info else { throw exitWith(check.problem!) }
        let name = input == "-" ? "stdin" : input
        if json {
            try LineWriter().write(check.jsonReport(name: name, info: info))
        } else {
            try LineWriter().write(check.textReport(name: name, info: info))
        }
        if let problem = check.problem { throw ExitCode(problem.exitCode) }
    }
}
