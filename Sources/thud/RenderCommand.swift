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
            var options = RenderOptions(output: out, knock: knock)
            if gif && !out.lowercased().hasSuffix(".gif") { options.gifOutput = gifPath }
            try ClipRenderer.checkOutputs(clip: clip, options: options)
            let (modelPath, streaming) = try model.load()
            options.picker = try hits.configuration(for: streaming, path: modelPath)
            // The same knock `--sonify` plays: ThudSound's voice table at the clip's rate, scaled by its strength curve.
            let voiceName = voice
            options.knockSound = { KnockTable.knock(voice: voiceName, sampleRate: $0, strength: $1) }
            // Ctrl-C, SIGTERM or a closed terminal end the render between two steps, and its temporary files go.
            let stop = StopRequest()
            options.stop = stop
            let stopping = StopOnSignals([SIGINT, SIGTERM, SIGHUP]) { stop.request($0) }
            defer { stopping.cancel() }
            let summary = try ClipRenderer.render(clip: clip, model: streaming, options: options, warn: warnLine)
            try LineWriter().write(summary.describe(outputs: [out] + (options.gifOutput.map { [$0] } ?? []), knock: knock))
        } catch {
            throw exitWith(error)
        }
    }
}
