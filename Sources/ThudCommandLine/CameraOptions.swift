import ArgumentParser
import ThudMedia

/// What `live` and `record` ask a V4L2 camera for: a size, a frame rate and a pixel format (the nearest the camera
/// offers is used).
public struct CameraOptions: ParsableArguments {
    @Option(help: "Camera size to ask for, WxH (the nearest offered is used).")
    public var size = PictureSize(width: 320, height: 240)

    @Option(parsing: .unconditional, help: "Camera frame rate to ask for (the nearest offered is used).")
    public var fps: Double = 30

    // `--format` was live's old spelling (predict's --format is its output format).
    @Option(name: [.customLong("pixel-format"), .customLong("format", withSingleDash: false)],
            help: "Camera pixel format to ask for (yuyv, uyvy, nv12, yuv420, mjpeg, rgb24, grey…); default: the cheapest the camera offers.")
    public var pixelFormat: String?

    public init() {}

    public func validate() throws {
        if let pixelFormat, FourCC.parse(pixelFormat) == nil { throw ValidationError("--pixel-format \(pixelFormat) is not a pixel format Thud reads") }
        guard fps.isFinite, fps > 0, fps <= 1000 else { throw ValidationError("--fps must be a frame rate above 0 and at most 1000") }
    }

    /// The capture request (the output size is the model's, set where the model is known).
    public var request: CaptureRequest {
        CaptureRequest(captureWidth: size.width, captureHeight: size.height, format: pixelFormat.flatMap(FourCC.parse), framesPerSecond: fps)
    }
}
