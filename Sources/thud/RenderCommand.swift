import ArgumentParser
import ThudCommandLine
import Foundation
import ThudBase
import ThudEval
import ThudMedia
import ThudRuntime
import ThudModel
import ThudSound

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Write a video to judge a prediction by: the clip, and under it the target and predicted envelopes scrolling past a cursor, with the clip's audio.",
        discussion: """
        The output runs at 12 frames a second (the steps the model saw), at the clip's width kept within \
        320...640 pixels, with a 120-pixel strip underneath: the target envelope (blue, from the clip's audio), \
        the predicted envelope (orange, drawn only up to the cursor: the model has not seen the future), a red \
        marker at each detected hit's peak that appears, with a flash, on the step the causal peak picker \
        reports it. The clip's first audio channel is put back (mono). --knock mixes a synthesized knock in \
        at each reported hit (ThudSound's --voice, as --sonify plays it). --gif also writes an animated GIF (no sound) beside the video, with the same \
        name and .gif; an --out ending in .gif writes only the GIF.
        """)

    @Argument(help: "A video file.")
    var clip: String

    @OptionGroup var model: ModelOptions

    @Option(help: "The video to write (mp4, mkv, ...; or .gif).")
    var out: String

    @Flag(help: "Also write an animated GIF beside the video.")
    var gif = false

    @Flag(help: "Mix a synthesized knock into the audio at each detected hit.")
    var knock = false

    @Option(help: "The knock's voice for --knock: \(VoiceSpec.names.joined(separator: ", ")) (ThudSound's, as --sonify plays them).")
    var voice = "wood"

    @OptionGroup var hits: PickerOptions

    /// The GIF written beside the video with --gif.
    private var gifPath: String { ((out as NSString).deletingPathExtension as String) + ".gif" }

    func validate() throws {
        guard VoiceSpec.names.contains(voice.lowercased()) else {
            throw ValidationError("--voice must be one of \(VoiceSpec.names.joined(separator: ", "))")
        }
        guard clip != "-" else { throw ValidationError("render reads the clip twice, so it needs a file, not standard input") }
        // A FIFO, /dev/stdin or a shell's <(…) can be read once only: the second pass would wait for a writer that
        // has gone (a hang) or read nothing. Refused before anything is opened.
        var st = stat()
        if stat(clip, &st) == 0, [S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK].contains(st.st_mode & S_IFMT) {
            throw ValidationError("\(clip): is not a regular file (a pipe or a device can be read once; render reads the clip twice): save it to a file first")
        }
    }

    func run() throws {
        do {
            // Before the model and the clip are read: a render that could not be kept, or would replace its own
            // input, is refused at once.
            for target in [out, gif && !out.lowercased().hasSuffix(".gif") ? gifPath : nil].compactMap({ $0 }) {
                if AtomicFile.sameFile(clip, target) { throw UsageError(message: "\(target): is the clip being rendered; refusing to overwrite it") }
                try AtomicFile.checkWritable(target)
            }
            let modelPath = try model.path()
            let streaming = try StreamingModel(path: modelPath)
            var options = RenderOptions(output: out, knock: knock)
            options.picker = try hits.configuration(for: streaming, path: modelPath)
            // The same knock `--sonify` plays: ThudSound's voice table at the clip's rate, scaled by its strength curve.
            let voiceName = voice
            options.knockSound = { rate, strength in
                let table = KnockTable((try? VoiceSpec.named(voiceName)) ?? .wood, sampleRate: rate)
                let gain = KnockTable.gain(forStrength: strength)
                return table.samples.map { $0 * gain }
            }
            if gif && !out.lowercased().hasSuffix(".gif") { options.gifOutput = gifPath }
            // Ctrl-C, SIGTERM or a closed terminal end the render between two steps, and its temporary files go.
            let stop = StopRequest()
            options.stop = stop
            let stopping = StopOnSignals([SIGINT, SIGTERM, SIGHUP]) { stop.request($0) }
            defer { stopping.cancel() }
            let summary = try ClipRenderer.render(clip: clip, model: streaming, options: options, warn: warnLine)
            var wrote = [out]
            if let g = options.gifOutput { wrote.append(g) }
            try LineWriter().write("wrote \(wrote.joined(separator: " and ")): \(summary.frames) frames at 12 fps, \(fixed(summary.seconds, 2)) s, \(summary.width)x\(summary.height), \(summary.hasAudio ? "audio" : "no audio")\(knock ? " with knocks" : ""), \(summary.hits.count) hits, r \(summary.r.map { fixed($0, 3) } ?? "n/a")")
        } catch {
            throw exitWith(error)
        }
    }
}
