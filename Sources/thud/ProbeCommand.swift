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
            LineWriter().write(jsonReport(name: name, info: info, check: check))
        } else {
            LineWriter().write(textReport(name: name, info: info, check: check))
        }
        if let problem = check.problem { throw ExitCode(problem.exitCode) }
    }

    private func textReport(name: String, info: MediaInfo, check: ClipCheck) -> String {
        var lines = ["file:      \(name)", "container: \(info.container)"]
        lines.append("duration:  " + (info.durationSeconds.map { fixed($0, 3) + " s (\(AudioEnvelope.stepCount(sampleCount: Int($0 * 1e6), sampleRate: 1_000_000)) steps at 12 Hz)" } ?? "unknown"))
        if let v = info.video {
            let fps = v.frameRate.map { fixed($0, 3) + " fps" + (v.variableFrameRate ? " (variable)" : "") } ?? "unknown rate"
            let turned = v.rotation != 0 ? " (shown turned \(v.rotation)° clockwise: \(v.displayWidth)x\(v.displayHeight))" : ""
            lines.append("video:     \(v.codec), \(v.width)x\(v.height)\(turned), \(v.pixelFormat), \(fps)")
        } else {
            lines.append("video:     none")
        }
        if let a = info.audio {
            lines.append("audio:     \(a.codec), \(a.sampleRate) Hz, \(a.channels) ch, \(a.sampleFormat)")
        } else {
            lines.append("audio:     none")
        }
        if let problem = check.problem {
            lines.append("usable:    no: \(problem.problem)")
        } else {
            lines.append("usable:    yes (audio peak \(fixed(Double(check.audioPeakDB ?? AudioEnvelope.floorDB), 1)) dBFS)")
        }
        return lines.joined(separator: "\n")
    }

    private func jsonReport(name: String, info: MediaInfo, check: ClipCheck) -> String {
        var object: [String: Any] = ["file": name, "container": info.container, "usable": check.usable]
        if let d = info.durationSeconds { object["duration"] = d }
        if let v = info.video {
            var video: [String: Any] = ["codec": v.codec, "width": v.width, "height": v.height, "pixel_format": v.pixelFormat,
                                        "variable_frame_rate": v.variableFrameRate, "rotation": v.rotation]
            if let fps = v.frameRate { video["fps"] = fps }
            object["video"] = video
        }
        if let a = info.audio {
            object["audio"] = ["codec": a.codec, "sample_rate": a.sampleRate, "channels": a.channels, "sample_format": a.sampleFormat] as [String: Any]
        }
        if let p = check.audioPeakDB { object["audio_peak_db"] = Double(p) }
        if let problem = check.problem { object["problem"] = problem.problem; object["exit_code"] = Int(problem.exitCode) }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
