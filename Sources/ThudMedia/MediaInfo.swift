/// What `thud probe` reports about an input, read from the container and codec headers.
public struct MediaInfo: Sendable {
    public var container: String
    public var durationSeconds: Double?
    public var bitRate: Int?
    public var video: VideoStreamInfo?
    public var audio: AudioStreamInfo?
    public var streamCount: Int
    public var seekable: Bool
}

public struct VideoStreamInfo: Sendable {
    public var index: Int
    public var codec: String
    public var width: Int
    public var height: Int
    public var pixelFormat: String
    /// Average frame rate from the container (nil when unknown); the 12 Hz clock never relies on it.
    public var frameRate: Double?
    public var variableFrameRate: Bool
    /// Quarter turns clockwise (0, 90, 180 or 270) the container's display matrix asks for (a phone held upright):
    /// frames are turned so, as FFmpeg's own tools do by default. Other angles are ignored (0).
    public var rotation: Int = 0
    /// The picture as shown: `width`×`height` turned by `rotation`.
    public var displayWidth: Int { rotation % 180 == 0 ? width : height }
    public var displayHeight: Int { rotation % 180 == 0 ? height : width }
}

public struct AudioStreamInfo: Sendable {
    public var index: Int
    public var codec: String
    public var sampleRate: Int
    public var channels: Int
    public var sampleFormat: String
}

/// Limits on picture size: anything outside is reported as absurd rather than attempted.
public enum PictureLimits {
    public static let minSide = 2
    public static let maxSide = 8192
    public static func accepts(width: Int, height: Int) -> Bool {
        (minSide...maxSide).contains(width) && (minSide...maxSide).contains(height)
    }
}
