// THROWAWAY STUB of ThudMedia's MediaWriter API (being written on main). It pipes through the ffmpeg CLI,
// ignores per-frame times (constant rate) and garblePackets. Delete before merging main.
import Foundation

public enum VideoCodecChoice: String, Sendable { case h264, mpeg4, vp8, vp9, mjpeg }
public enum AudioCodecChoice: String, Sendable { case aac, pcm16, flac }
public struct VideoEncodeSettings: Sendable {
    public var width: Int; public var height: Int
    public var codec: VideoCodecChoice
    public var nominalFrameRate: Double
    public var crf: Int
    public init(width: Int, height: Int, codec: VideoCodecChoice = .h264, nominalFrameRate: Double, crf: Int = 23) {
        self.width = width; self.height = height; self.codec = codec; self.nominalFrameRate = nominalFrameRate; self.crf = crf
    }
}
public struct AudioEncodeSettings: Sendable {
    public var sampleRate: Int; public var channels: Int
    public var codec: AudioCodecChoice
    public var bitRate: Int
    public var garblePackets: Bool
    public init(sampleRate: Int, channels: Int, codec: AudioCodecChoice = .aac, bitRate: Int = 128_000, garblePackets: Bool = false) {
        self.sampleRate = sampleRate; self.channels = channels; self.codec = codec; self.bitRate = bitRate; self.garblePackets = garblePackets
    }
}
public final class MediaWriter {
    let path: String
    let video: VideoEncodeSettings?
    let audio: AudioEncodeSettings?
    var videoData = Data()
    var audioData = Data()
    public init(path: String, video: VideoEncodeSettings?, audio: AudioEncodeSettings?, format: String? = nil) throws {
        self.path = path; self.video = video; self.audio = audio
    }
    public func writeVideoFrame(rgb: UnsafeBufferPointer<UInt8>, stride: Int, time: Double) throws {
        let v = video!
        for y in 0..<v.height { videoData.append(UnsafeBufferPointer(rebasing: rgb[(y * stride)..<(y * stride + v.width * 3)])) }
    }
    public func writeAudio(interleaved: UnsafeBufferPointer<Float>) throws {
        audioData.append(Data(buffer: interleaved))
    }
    public func finish() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("stub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        var args = ["-y", "-loglevel", "error"]
        if let v = video {
            try videoData.write(to: tmp.appendingPathComponent("v.raw"))
            args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(v.width)x\(v.height)", "-r", String(v.nominalFrameRate), "-i", tmp.appendingPathComponent("v.raw").path]
        }
        if let a = audio {
            try audioData.write(to: tmp.appendingPathComponent("a.raw"))
            args += ["-f", "f32le", "-ar", "\(a.sampleRate)", "-ac", "\(a.channels)", "-i", tmp.appendingPathComponent("a.raw").path]
        }
        if let v = video { args += ["-c:v", "libx264", "-threads", "1", "-crf", "\(v.crf)", "-pix_fmt", "yuv420p"] }
        if let a = audio { args += ["-c:a", "aac", "-b:a", "\(a.bitRate)"] }
        args += ["-movflags", "+faststart", "-fflags", "+bitexact", path]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        p.arguments = args
        try p.run(); p.waitUntilExit()
        if p.terminationStatus != 0 { throw NSError(domain: "stub", code: Int(p.terminationStatus)) }
    }
}
