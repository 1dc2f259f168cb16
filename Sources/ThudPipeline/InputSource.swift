// What kind of input a command-line string names, decided once for every command: a network URL, a camera, or a
// file (a regular file, '-', a FIFO, /dev/stdin, a shell's <(…)).
import Foundation
import ThudMedia

/// How an input is opened, whatever it turns out to be; each kind takes the part it needs.
public struct InputOptions {
    /// The frames the model wants (its input size, gray8).
    public var request: VideoStepRequest
    /// Network streams: how they are read and reconnected, and whether any of that was asked for (a usage error for
    /// an input that is not a network stream).
    public var network = StreamSettings()
    public var reconnect = ReconnectPolicy.off
    public var networkOptionsGiven = false
    /// A camera: what to ask it for (the output size is the model's).
    public var capture = CaptureRequest()
    /// Warnings about the input (damage, discontinuities), one line each.
    public var warn: (String) -> Void = { _ in }

    public init(request: VideoStepRequest) {
        self.request = request
        capture.outputWidth = request.width
        capture.outputHeight = request.height
    }
}

public enum InputSource {
    /// Opens `input` as the step source it names. A URL (NetworkStream.isURL) is a NetworkSource, /dev/video* a
    /// CameraSource, anything else a FileSource. Throws the input's one-line error (MediaError, CaptureError).
    public static func open(_ input: String, options: InputOptions) throws -> StepSource {
        if NetworkStream.isURL(input) {
            let source = NetworkSource(url: input, settings: options.network, reconnect: options.reconnect,
                                       request: options.request, warn: options.warn)
            try source.connect()
            return source
        }
        if options.networkOptionsGiven {
            throw MediaError(.usage, file: input, "--reconnect, --rtsp-transport and --input-option are for network streams (rtsp://, udp://, http://…), not this input")
        }
        if input.hasPrefix("/dev/video") {
            var capture = options.capture
            capture.outputWidth = options.request.width
            capture.outputHeight = options.request.height
            return try CameraSource(device: input, request: capture)
        }
        return FileSource(try MediaInput(path: input), request: options.request, warn: options.warn)
    }
}
