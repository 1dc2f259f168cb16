// What `thud probe` prints about a clip (the command only chooses the form).
import Foundation
import ThudBase

extension ClipCheck {
    /// `thud probe`'s text: streams, duration, and whether the clip can teach.
    public func textReport(name: String, info: MediaInfo) -> String {
        var lines = ["file:      \(name)", "container: \(info.container)"]
        lines.append("duration:  " + (info.durationSeconds.map { Format.fixed($0, 3) + " s (\(AudioEnvelope.stepCount(sampleCount: Int($0 * 1e6), sampleRate: 1_000_000)) steps at 12 Hz)" } ?? "unknown"))
        if let v = info.video {
            let fps = v.frameRate.map { Format.fixed($0, 3) + " fps" + (v.variableFrameRate ? " (variable)" : "") } ?? "unknown rate"
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
        if let problem = self.problem {
            lines.append("usable:    no: \(problem.problem)")
        } else {
            lines.append("usable:    yes (audio peak \(Format.fixed(Double(self.audioPeakDB ?? AudioEnvelope.floorDB), 1)) dBFS)")
        }
        return lines.joined(separator: "\n")
    }

    /// `thud probe --json`: the same as one JSON object.
    public func jsonReport(name: String, info: MediaInfo) -> String {
        var object: [String: Any] = ["file": name, "container": info.container, "usable": self.usable]
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
        if let p = self.audioPeakDB { object["audio_peak_db"] = Double(p) }
        if let problem = self.problem { object["problem"] = problem.problem; object["exit_code"] = Int(problem.exitCode) }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
