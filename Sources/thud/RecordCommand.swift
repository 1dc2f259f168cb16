import ArgumentParser
import ThudCommandLine
import Foundation
import ThudBase
import ThudMedia
import ThudRuntime
import ThudSound

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record your own training clips: a V4L2 camera and an ALSA microphone into Matroska clips thud-train reads.",
        discussion: """
        Video comes through the same capture path as `thud live` (every camera frame, kept at the camera's size as \
        luma, encoded with libx264); audio is captured from the ALSA PCM on its own thread (S16, kept as FLAC or \
        PCM), overruns recovered and counted. Both are stamped with CLOCK_MONOTONIC (the driver's buffer timestamps, \
        ALSA's htstamp), so a clap lands on its own 12 Hz step. Each clip is written under a temporary name and \
        renamed when it is finished; its path is printed on stdout. Ctrl-C or SIGTERM finishes the open clip. A \
        full disk (74), a camera that vanishes (31) or a microphone that does (41) stops with one line; the clips \
        finished before stay. Then: `thud-train adapt DIR --from models/default.thud --out mine.thud`.
        """)

    @Argument(help: "V4L2 device.")
    var device = "/dev/video0"

    @Option(help: "ALSA capture PCM (e.g. default, hw:1,0, plughw:CARD=Mic).")
    var audioDevice = "default"

    @Option(help: "Folder the clips go into (created if missing).")
    var out: String

    @Option(parsing: .unconditional, help: "Length of each clip in seconds.")
    var clipSeconds: Double = 30

    @Option(parsing: .unconditional, help: "Stop after this many clips (default: until Ctrl-C).")
    var clips: Int?

    @OptionGroup(title: "Camera (the clips keep its size)") var camera: CameraOptions

    @Option(parsing: .unconditional, help: "Audio sample rate to ask for (the nearest the device offers is used).")
    var sampleRate = 48_000

    @Option(parsing: .unconditional, help: "Audio channels to ask for (the envelope is taken from the first).")
    var channels = 1

    @Option(help: "Audio codec in the clips: flac or pcm.")
    var audioCodec = "flac"

    func validate() throws {
        guard clipSeconds.isFinite, clipSeconds >= 1, clipSeconds <= 3600 else { throw ValidationError("--clip-seconds must be between 1 and 3600") }
        if let clips, clips < 1 { throw ValidationError("--clips must be at least 1") }
        let size = camera.size
        guard size.width % 2 == 0, size.height % 2 == 0, size.width >= 16, size.height >= 16, size.width <= 4096, size.height <= 4096 else {
            throw ValidationError("--size must be even and within 16…4096 a side")
        }
        guard (8000...192_000).contains(sampleRate) else { throw ValidationError("--sample-rate must be between 8000 and 192000") }
        guard (1...8).contains(channels) else { throw ValidationError("--channels must be between 1 and 8") }
        guard ["flac", "pcm"].contains(audioCodec) else { throw ValidationError("--audio-codec must be flac or pcm") }
    }

    func run() throws {
        var settings = RecordSettings(device: device, request: camera.request,
                                      audio: CaptureAudioSettings(device: audioDevice, sampleRate: sampleRate, channels: channels),
                                      outDirectory: out)
        settings.clipSeconds = clipSeconds
        settings.clips = clips
        settings.audioCodec = audioCodec == "pcm" ? .pcm16 : .flac
        let recorder = Recorder(settings: settings)
        recorder.clipFinished = { path in print(path); fflush(stdout) }
        // Ctrl-C / SIGTERM: the recorder finishes the open clip and returns.
        let stopping = StopOnSignals { _ in recorder.requestStop() }
        defer { stopping.cancel() }
        do {
            noteLine(try recorder.run().describe(folder: out, sampleRate: sampleRate))
        } catch {
            throw exitWith(error)
        }
    }
}
