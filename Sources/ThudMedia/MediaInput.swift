import CFFmpeg
import Foundation

/// An opened input: a path, or "-" for standard input read as a non-seekable pipe. Opening validates
/// what can be validated up front (existence, emptiness, container, streams, picture size, and for
/// seekable files whether the index points past the end of the file), so that a bad input fails before
/// anything is written to stdout.
public final class MediaInput {
    /// The name used in messages: the path as given, or "stdin".
    public let name: String
    public let info: MediaInfo
    let format: UnsafeMutablePointer<AVFormatContext>
    /// The input's time origin in microseconds (the container's start time): video steps and audio
    /// samples are both measured from here, so they stay aligned.
    let originMicroseconds: Int64

    public static let stdinPath = "-"

    public init(path: String) throws {
        _ = FF.quietOnce
        let isStdin = path == Self.stdinPath
        name = isStdin ? "stdin" : path
        if !isStdin {
            try Self.checkFile(path)
            if let problem = Self.isoBoxProblem(path) { throw MediaError(.truncated, file: path, problem) }
        }

        var ctx: UnsafeMutablePointer<AVFormatContext>? = avformat_alloc_context()
        var options: OpaquePointer?
        if isStdin {
            // Keep probing short on a pipe, so the first steps come out while the input is still arriving.
            av_dict_set(&options, "probesize", "1000000", 0)
            av_dict_set(&options, "analyzeduration", "2000000", 0)
        }
        let url = isStdin ? "pipe:0" : path
        let orc = avformat_open_input(&ctx, url, nil, &options)
        av_dict_free(&options)
        guard orc >= 0, let ctx else {
            if !isStdin, Self.looksLikeMP4(path) {
                throw MediaError(.truncated, file: name, "truncated or damaged MP4 (\(FF.describe(orc)))")
            }
            throw MediaError(.notMedia, file: name, "not a media file FFmpeg can read (\(FF.describe(orc)))")
        }
        do {
            (info, originMicroseconds) = try Self.validate(ctx, name: name, isStdin: isStdin)
        } catch {
            var owned: UnsafeMutablePointer<AVFormatContext>? = ctx
            avformat_close_input(&owned)
            throw error
        }
        // Assigned last: once every property is set, a throwing init would also run deinit.
        format = ctx
    }

    private static func validate(_ ctx: UnsafeMutablePointer<AVFormatContext>, name: String, isStdin: Bool) throws -> (MediaInfo, Int64) {
        if isStdin {
            ctx.pointee.max_analyze_duration = 2_000_000
        }
        let src = avformat_find_stream_info(ctx, nil)
        guard src >= 0 else {
            throw MediaError(.notMedia, file: name, "cannot read stream information (\(FF.describe(src)))")
        }
        let container = String(cString: ctx.pointee.iformat.pointee.name)
        // FFmpeg's tty demuxer will "play" any text file as ANSI art; for us it is not media.
        if container == "tty" {
            throw MediaError(.notMedia, file: name, "a text file, not a video")
        }
        let start = ctx.pointee.start_time
        let origin = start == FF.noPTS ? 0 : start
        let info = describe(ctx, seekable: !isStdin && ctx.pointee.pb != nil && (ctx.pointee.pb.pointee.seekable & AVIO_SEEKABLE_NORMAL) != 0)
        if let v = info.video {
            let sides = PictureLimits.minSide...PictureLimits.maxSide
            guard sides.contains(v.width), sides.contains(v.height) else {
                throw MediaError(.unsupported, file: name, "absurd picture size \(v.width)x\(v.height) (Thud reads \(PictureLimits.minSide)...\(PictureLimits.maxSide) pixels a side)")
            }
        }
        if info.seekable { try checkIndexWithinFile(ctx, name: name) }
        return (info, origin)
    }

    deinit {
        var owned: UnsafeMutablePointer<AVFormatContext>? = format
        avformat_close_input(&owned)
    }

    private static func checkFile(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let reason = errno == ENOENT ? "no such file" : String(cString: strerror(errno))
            throw MediaError(.notFound, file: path, reason)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw MediaError(.notFound, file: path, "is a directory, not a video file") }
        guard access(path, R_OK) == 0 else { throw MediaError(.notFound, file: path, "permission denied") }
        if (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0 { throw MediaError(.notMedia, file: path, "empty file (0 bytes)") }
    }

    /// MP4/MOV files are a sequence of top-level boxes, each stating its size. A file cut short leaves the
    /// last box claiming more bytes than exist; FFmpeg would still open it and play what is left (or find
    /// no streams at all), so this is checked first. Returns nil for files that are not ISO-BMFF.
    static func isoBoxProblem(_ path: String) -> String? {
        guard looksLikeMP4(path), let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        guard let fileSize = try? fh.seekToEnd() else { return nil }
        var offset: UInt64 = 0
        while offset + 8 <= fileSize {
            try? fh.seek(toOffset: offset)
            let header = fh.readData(ofLength: 16)
            guard header.count >= 8 else { break }
            var size = header.prefix(4).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if size == 1, header.count >= 16 {
                size = header[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            } else if size == 0 {
                return nil   // "extends to the end of the file"
            }
            guard size >= 8 else { return "damaged MP4: a box at byte \(offset) has an impossible size" }
            let type = String(decoding: header[4..<8], as: UTF8.self)
            if offset + size > fileSize {
                return "truncated: the '\(type)' box at byte \(offset) needs \(size) bytes but the file ends after \(fileSize - offset)"
            }
            offset += size
        }
        return nil
    }

    /// An ISO-BMFF file starts with a box whose type is "ftyp".
    private static func looksLikeMP4(_ path: String) -> Bool {
        guard let fh = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? fh.close() }
        let head = fh.readData(ofLength: 12)
        return head.count >= 8 && head[4..<8] == Data("ftyp".utf8)
    }

    /// A cut-off MP4 with its index at the front demuxes happily until the data runs out; catch it before
    /// any output by checking that every indexed packet lies inside the file.
    private static func checkIndexWithinFile(_ format: UnsafeMutablePointer<AVFormatContext>, name: String) throws {
        let size = avio_size(format.pointee.pb)
        guard size > 0 else { return }
        var furthest: Int64 = 0
        for i in 0..<Int(format.pointee.nb_streams) {
            guard let st = format.pointee.streams[i] else { continue }
            let n = avformat_index_get_entries_count(st)
            guard n > 0, let last = avformat_index_get_entry(st, n - 1) else { continue }
            furthest = max(furthest, last.pointee.pos + Int64(last.pointee.size))
        }
        if furthest > size {
            throw MediaError(.truncated, file: name, "truncated: media data runs to byte \(furthest) but the file has \(size) bytes")
        }
    }

    private static func describe(_ ctx: UnsafeMutablePointer<AVFormatContext>, seekable: Bool) -> MediaInfo {
        let duration = ctx.pointee.duration
        var result = MediaInfo(container: String(cString: ctx.pointee.iformat.pointee.name),
                               durationSeconds: duration > 0 && duration != FF.noPTS ? Double(duration) / 1e6 : nil,
                               bitRate: ctx.pointee.bit_rate > 0 ? Int(ctx.pointee.bit_rate) : nil,
                               video: nil, audio: nil, streamCount: Int(ctx.pointee.nb_streams), seekable: seekable)
        let vi = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        if vi >= 0, let st = ctx.pointee.streams[Int(vi)], let par = st.pointee.codecpar,
           st.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0 {
            let avg = st.pointee.avg_frame_rate
            let real = st.pointee.r_frame_rate
            let fps = avg.num > 0 && avg.den > 0 ? Double(avg.num) / Double(avg.den) : nil
            let rfps = real.num > 0 && real.den > 0 ? Double(real.num) / Double(real.den) : nil
            let pix = av_get_pix_fmt_name(AVPixelFormat(rawValue: par.pointee.format))
            result.video = VideoStreamInfo(index: Int(vi), codec: String(cString: avcodec_get_name(par.pointee.codec_id)),
                                           width: Int(par.pointee.width), height: Int(par.pointee.height),
                                           pixelFormat: pix.map { String(cString: $0) } ?? "unknown",
                                           frameRate: fps,
                                           variableFrameRate: fps != nil && rfps != nil && abs(fps! - rfps!) > 0.01 * rfps!)
        }
        // The first audio stream is the teacher (the brief: "first audio stream, first channel").
        for i in 0..<Int(ctx.pointee.nb_streams) {
            guard let st = ctx.pointee.streams[i], let par = st.pointee.codecpar, par.pointee.codec_type == AVMEDIA_TYPE_AUDIO else { continue }
            let fmt = av_get_sample_fmt_name(AVSampleFormat(rawValue: par.pointee.format))
            result.audio = AudioStreamInfo(index: i, codec: String(cString: avcodec_get_name(par.pointee.codec_id)),
                                           sampleRate: Int(par.pointee.sample_rate), channels: Int(par.pointee.ch_layout.nb_channels),
                                           sampleFormat: fmt.map { String(cString: $0) } ?? "unknown")
            break
        }
        return result
    }
}
