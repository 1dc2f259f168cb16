import CFFmpeg
import Foundation
import ThudBase

/// An opened input: a path, or "-" for standard input read as a non-seekable pipe (as is any path that is not a
/// regular file: a FIFO, /dev/stdin, a shell's <(…): opened once and read as a stream). Opening validates
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
    /// Where the streams' own headers say the media ends, seconds from the origin (nil when nothing says so, or only
    /// a guess from the bit rate does): decoding that stops well before it reports the input as ending early.
    let declaredEndSeconds: Double?
    /// Read once, front to back (stdin, a FIFO, a pipe, a network stream): nothing may be opened or read twice.
    public let isStream: Bool
    /// A network input's deadline and stop request, which FFmpeg's blocking I/O checks (nil for files and pipes).
    let interrupt: IOInterrupt?

    public static let stdinPath = "-"

    public init(path: String) throws {
        _ = FF.quietOnce
        interrupt = nil
        let isStdin = path == Self.stdinPath
        name = isStdin ? "stdin" : path
        var isStream = isStdin
        if !isStdin {
            // A FIFO or pipe gives its bytes once: reading its head here would leave FFmpeg a stream that lost them
            // (or, for a FIFO, block for a writer that has gone).
            isStream = try !Self.checkFile(path)
            if !isStream, let problem = Self.isoBoxProblem(path) { throw MediaError(.truncated, file: path, problem) }
        }
        self.isStream = isStream

        var ctx: UnsafeMutablePointer<AVFormatContext>? = avformat_alloc_context()
        var options: OpaquePointer?
        if isStream {
            // Keep probing short on a pipe, so the first steps come out while the input is still arriving.
            av_dict_set(&options, "probesize", "1000000", 0)
            av_dict_set(&options, "analyzeduration", "2000000", 0)
        }
        let url = isStdin ? "pipe:0" : path
        let orc = avformat_open_input(&ctx, url, nil, &options)
        av_dict_free(&options)
        guard orc >= 0, let ctx else {
            if !isStream, Self.looksLikeMP4(path) {
                throw MediaError(.truncated, file: name, "truncated or damaged MP4 (\(FF.describe(orc)))")
            }
            if !isStream, let size = Self.y4mPictureSize(path), !PictureLimits.accepts(width: size.width, height: size.height) {
                // FFmpeg refuses the header with an unrelated errno; the problem is the picture's size (17).
                throw MediaError(.unsupported, file: name, "absurd picture size \(size.width)x\(size.height) (Thud reads \(PictureLimits.minSide)...\(PictureLimits.maxSide) pixels a side)")
            }
            throw MediaError(.notMedia, file: name, "not a media file FFmpeg can read (\(FF.describe(orc)))")
        }
        do {
            if isStream { try Self.checkIndexFirst(ctx, name: name) }
            (info, originMicroseconds) = try Self.validate(ctx, name: name, isStream: isStream)
            declaredEndSeconds = Self.declaredEnd(ctx, originMicroseconds: originMicroseconds)
        } catch {
            var owned: UnsafeMutablePointer<AVFormatContext>? = ctx
            avformat_close_input(&owned)
            throw error
        }
        // Assigned last: once every property is set, a throwing init would also run deinit.
        format = ctx
    }

    /// Opens a network stream (rtsp://, rtp://, udp://, http(s)://, hls, srt://: NetworkStream.isURL) as a live source:
    /// a small probe, no input buffering, low delay, and `settings.ioTimeout` as the longest FFmpeg may block without
    /// data (through `interrupt`, which also takes a stop request from another thread). A server that refuses, a host
    /// that does not answer and a stream that sends nothing within the timeout are `.unreachable` (exit 32); a stream
    /// that sends what no demuxer reads is `.notMedia` (11), as a file would be.
    public init(url: String, settings: StreamSettings, interrupt: IOInterrupt) throws {
        _ = FF.quietOnce
        _ = NetworkStream.networkInitOnce
        name = NetworkStream.redacted(url)
        isStream = true
        self.interrupt = interrupt
        if let problem = NetworkStream.usageProblem(url, settings: settings) { throw MediaError(.usage, file: name, problem) }
        var ctx: UnsafeMutablePointer<AVFormatContext>? = avformat_alloc_context()
        guard let allocated = ctx else { throw MediaError(.internalError, file: name, "out of memory") }
        allocated.pointee.interrupt_callback = interrupt.callback
        var options: OpaquePointer?
        settings.apply(to: &options)
        interrupt.arm(seconds: settings.ioTimeout)
        interrupt.watch(allocated)
        let orc = avformat_open_input(&ctx, url, nil, &options)
        interrupt.stopWatching()
        var unused: [String] = []
        var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let e = av_dict_get(options, "", entry, AV_DICT_IGNORE_SUFFIX) {
            entry = e
            let key = String(cString: e.pointee.key)
            if settings.options.contains(where: { $0.key == key }) { unused.append(key) }
        }
        av_dict_free(&options)
        guard orc >= 0, let ctx else {
            interrupt.disarm()
            throw NetworkStream.openError(orc, name: name, settings: settings, interrupt: interrupt)
        }
        do {
            if !unused.isEmpty {
                throw MediaError(.usage, file: name, "option\(unused.count == 1 ? "" : "s") \(unused.joined(separator: ", ")) not known to the \(String(cString: ctx.pointee.iformat.pointee.name)) reader or its protocol")
            }
            interrupt.arm(seconds: settings.ioTimeout + Double(settings.analyzeMicroseconds) / 1e6)
            (info, originMicroseconds) = try Self.validate(ctx, name: name, isStream: true, maxAnalyze: settings.analyzeMicroseconds)
            interrupt.disarm()
            if info.video == nil { throw MediaError(.noVideo, file: name, "no video stream") }
            declaredEndSeconds = nil
        } catch {
            interrupt.disarm()
            var owned: UnsafeMutablePointer<AVFormatContext>? = ctx
            avformat_close_input(&owned)
            if let media = error as? MediaError, media.kind == .notMedia, interrupt.fired {
                throw MediaError(.unreachable, file: name, "no stream information within \(Format.fixed(settings.ioTimeout, 1)) s (--timeout)")
            }
            throw error
        }
        format = ctx
    }

    /// The message every command gives for an MP4 whose index (moov) comes after its media data on a pipe.
    public static let pipeNeedsIndexFirst = "an MP4 on a pipe needs its index first: -movflags +faststart"

    /// An MP4 read as a stream can only be played when its index comes before its media data: the demuxer found the
    /// index after the data, which a stream cannot rewind to. Checked right after the header is read: with the
    /// index first the reader stands before the first sample; with it last, past every sample.
    private static func checkIndexFirst(_ ctx: UnsafeMutablePointer<AVFormatContext>, name: String) throws {
        guard String(cString: ctx.pointee.iformat.pointee.name).contains("mp4"), let pb = ctx.pointee.pb else { return }
        let position = avio_tell(pb)
        for i in 0..<Int(ctx.pointee.nb_streams) {
            guard let st = ctx.pointee.streams[i], avformat_index_get_entries_count(st) > 0,
                  let first = avformat_index_get_entry(st, 0) else { continue }
            if first.pointee.pos < position { throw MediaError(.truncated, file: name, pipeNeedsIndexFirst) }
        }
    }

    /// The latest end any stream's header declares (its start plus its duration), else the container's duration when
    /// it was not estimated from the bit rate; nil when neither is known. Streams first: an MP4's movie header may
    /// claim any duration (a damaged one says 136 years) while its tracks say what they hold.
    private static func declaredEnd(_ ctx: UnsafeMutablePointer<AVFormatContext>, originMicroseconds: Int64) -> Double? {
        var end: Double?
        for i in 0..<Int(ctx.pointee.nb_streams) {
            guard let st = ctx.pointee.streams[i], st.pointee.duration > 0, st.pointee.duration != FF.noPTS else { continue }
            let tb = TimeBase(st.pointee.time_base)
            let start = st.pointee.start_time == FF.noPTS ? 0 : tb.seconds(st.pointee.start_time) - Double(originMicroseconds) / 1e6
            let e = start + tb.seconds(st.pointee.duration)
            if e.isFinite { end = max(end ?? e, e) }
        }
        if let end { return end }
        let duration = ctx.pointee.duration
        guard duration > 0, duration != FF.noPTS, ctx.pointee.duration_estimation_method != AVFMT_DURATION_FROM_BITRATE else { return nil }
        return Double(duration) / 1e6
    }

    private static func validate(_ ctx: UnsafeMutablePointer<AVFormatContext>, name: String, isStream: Bool,
                                 maxAnalyze: Int64 = 2_000_000) throws -> (MediaInfo, Int64) {
        if isStream {
            ctx.pointee.max_analyze_duration = maxAnalyze
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
        let info = describe(ctx, seekable: !isStream && ctx.pointee.pb != nil && (ctx.pointee.pb.pointee.seekable & AVIO_SEEKABLE_NORMAL) != 0)
        // A live stream joined between keyframes has not said its picture size yet (0x0: its parameter sets come with
        // the next keyframe, 2–10 s away on an IP camera); its frames are checked as they decode.
        if let v = info.video, !(isStream && v.width == 0 && v.height == 0) {
            guard PictureLimits.accepts(width: v.width, height: v.height) else {
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

    /// Throws for a missing, unreadable, empty file or a directory; returns whether it is a regular file (false: a
    /// FIFO, a pipe, a character device, to be read as a stream).
    private static func checkFile(_ path: String) throws -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let reason = errno == ENOENT ? "no such file" : String(cString: strerror(errno))
            throw MediaError(.notFound, file: path, reason)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw MediaError(.notFound, file: path, "is a directory, not a video file") }
        guard access(path, R_OK) == 0 else { throw MediaError(.notFound, file: path, "permission denied") }
        if (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0 { throw MediaError(.notMedia, file: path, "empty file (0 bytes)") }
        return (st.st_mode & S_IFMT) == S_IFREG
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
            // A damaged type is arbitrary bytes (a newline would split the one-line error): printable ASCII or \xNN.
            let type = header[4..<8].map { (0x20...0x7E).contains($0) && $0 != 0x27 ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }.joined()
            if offset + size > fileSize {
                return "truncated: the '\(type)' box at byte \(offset) needs \(size) bytes but the file ends after \(fileSize - offset)"
            }
            offset += size
        }
        return nil
    }

    /// The W and H of a YUV4MPEG2 stream header ("YUV4MPEG2 W640 H360 …"), nil for anything else.
    static func y4mPictureSize(_ path: String) -> (width: Int, height: Int)? {
        guard let fh = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? fh.close() }
        let head = fh.readData(ofLength: 256)
        guard head.starts(with: Data("YUV4MPEG2 ".utf8)) else { return nil }
        let line = String(decoding: head.prefix { $0 != 10 }, as: UTF8.self)
        var width: Int?, height: Int?
        for field in line.split(separator: " ") {
            if field.hasPrefix("W") { width = Int(field.dropFirst()) }
            if field.hasPrefix("H") { height = Int(field.dropFirst()) }
        }
        guard let width, let height else { return nil }
        return (width, height)
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

    /// The display matrix's angle (degrees counterclockwise) as the clockwise quarter turn FFmpeg's tools apply
    /// (fftools' get_rotation and autorotate): 90, 180 or 270, else 0.
    static func clockwiseTurn(_ counterclockwise: Double) -> Int {
        var theta = -counterclockwise.rounded()
        theta -= 360 * (theta / 360 + 0.9 / 360).rounded(.down)
        for turn in [90, 180, 270] where abs(theta - Double(turn)) < 1 { return turn }
        return 0
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
            result.video?.rotation = clockwiseTurn(thud_stream_rotation(st))
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
