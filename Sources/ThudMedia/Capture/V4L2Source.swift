import CV4L2
import Glibc
import ThudBase

/// What the driver says it is (VIDIOC_QUERYCAP).
public struct CaptureDeviceInfo: Sendable, Equatable {
    public var driver: String
    public var card: String
    public var busInfo: String
    public var capabilities: UInt32   // device_caps when the driver reports them, else capabilities
}

/// One entry of VIDIOC_ENUM_FMT. `emulated`: libv4l2 converts it from another format in software.
public struct CaptureFormatDescription: Sendable, Equatable {
    public var fourcc: FourCC
    public var description: String
    public var compressed: Bool
    public var emulated: Bool
}

public struct CaptureFrameSize: Sendable, Equatable {
    public var width: Int
    public var height: Int
}

/// What the driver actually set after negotiation (read back with G_FMT / G_PARM, not what was asked).
public struct NegotiatedFormat: Sendable, Equatable {
    public var fourcc: FourCC
    public var width: Int
    public var height: Int
    public var bytesPerLine: Int
    public var imageSize: Int
    /// Frames per second the driver reports after S_PARM; nil when it reports no frame interval.
    public var framesPerSecond: Double?
    /// The format is produced by libv4l2's software conversion.
    public var emulated: Bool
    public var bufferCount: Int
}

/// A V4L2 capture device through libv4l2: capability query, enumeration, explicit negotiation and
/// memory-mapped streaming. Single-threaded by design (the capture thread owns it); `wake()` is the
/// one call meant for another thread. Every ioctl argument is a freshly zeroed, typed struct.
public final class V4L2Source {
    public let device: String
    public private(set) var info = CaptureDeviceInfo(driver: "", card: "", busInfo: "", capabilities: 0)
    public private(set) var negotiated: NegotiatedFormat?
    /// Driver timestamps are CLOCK_MONOTONIC (V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC seen on a buffer).
    public private(set) var monotonicTimestamps = false

    private var fd: Int32 = -1
    private var mapped: [(start: UnsafeMutableRawPointer, length: Int)] = []
    private var streaming = false
    // A self-pipe: poll() watches it next to the device so a stop request ends a wait at once.
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private let pollSet = UnsafeMutablePointer<pollfd>.allocate(capacity: 2)

    public init(device: String) throws {
        self.device = device
        pollSet.initialize(repeating: pollfd(), count: 2)
        var st = stat()
        if stat(device, &st) != 0 {
            throw CaptureError(.cannotOpen, device: device, "cannot open: \(CaptureError.describe(errno: errno))")
        }
        if (st.st_mode & S_IFMT) != S_IFCHR {
            throw CaptureError(.cannotOpen, device: device, "not a video device (not a character device)")
        }
        let raw = open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        if raw < 0 {
            throw CaptureError(.cannotOpen, device: device, "cannot open: \(CaptureError.describe(errno: errno))")
        }
        // A plain QUERYCAP first: libv4l2 would print its own complaint about a non-V4L2 node.
        var probe = v4l2_capability()
        if thud_sys_ioctl(raw, thud_vidioc_querycap(), &probe) != 0 {
            let e = errno
            Glibc.close(raw)
            throw CaptureError(.cannotOpen, device: device, "not a V4L2 device (VIDIOC_QUERYCAP: \(CaptureError.describe(errno: e)))")
        }
        thud_v4l2_quiet_log()
        fd = thud_v4l2_fd_open(raw, 0)
        if fd < 0 {
            let e = errno
            Glibc.close(raw)
            throw CaptureError(.cannotOpen, device: device, "libv4l2 cannot adopt it: \(CaptureError.describe(errno: e))")
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            closeDevice()
            throw CaptureError(.cannotOpen, device: device, "cannot create the stop pipe: \(CaptureError.describe(errno: errno))")
        }
        wakeRead = pipeFDs[0]; wakeWrite = pipeFDs[1]
        for p in pipeFDs {   // non-blocking so wake() never blocks; close-on-exec like the device fd
            _ = fcntl(p, F_SETFL, fcntl(p, F_GETFL) | O_NONBLOCK)
            _ = fcntl(p, F_SETFD, FD_CLOEXEC)
        }
        var cap = v4l2_capability()
        let err = ioctl(thud_vidioc_querycap(), &cap)
        guard err == 0 else {
            closeDevice()
            throw CaptureError(.cannotOpen, device: device, "not a V4L2 device (VIDIOC_QUERYCAP: \(CaptureError.describe(errno: err)))")
        }
        let caps = (cap.capabilities & thud_cap_device_caps()) != 0 ? cap.device_caps : cap.capabilities
        info = CaptureDeviceInfo(driver: Self.string(cap.driver), card: Self.string(cap.card),
                                 busInfo: Self.string(cap.bus_info), capabilities: caps)
        guard caps & thud_cap_video_capture() != 0 else {
            closeDevice()
            throw CaptureError(.cannotOpen, device: device, "not a video capture device (driver \(info.driver))")
        }
        guard caps & thud_cap_streaming() != 0 else {
            closeDevice()
            throw CaptureError(.cannotOpen, device: device, "does not support streaming I/O (driver \(info.driver))")
        }
    }

    deinit {
        close()
        pollSet.deallocate()
    }

    // MARK: ioctl

    /// v4l2_ioctl retried on EINTR; returns 0 or the errno (read at once: it is thread-local and
    /// anything after the call may change it).
    @discardableResult
    private func ioctl<T>(_ request: UInt, _ arg: inout T) -> Int32 {
        while true {
            let code: Int32 = withUnsafeMutablePointer(to: &arg) { p in
                thud_v4l2_ioctl(fd, request, UnsafeMutableRawPointer(p)) == -1 ? errno : 0
            }
            if code != EINTR { return code }
        }
    }

    private static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    // MARK: enumeration

    public func formats() -> [CaptureFormatDescription] {
        var out: [CaptureFormatDescription] = []
        var index: UInt32 = 0
        while index < 256 {
            var d = v4l2_fmtdesc()
            d.index = index
            d.type = thud_buf_type_video_capture()
            guard ioctl(thud_vidioc_enum_fmt(), &d) == 0 else { break }
            out.append(CaptureFormatDescription(fourcc: FourCC(d.pixelformat), description: Self.string(d.description),
                                                compressed: d.flags & thud_fmt_flag_compressed() != 0,
                                                emulated: d.flags & thud_fmt_flag_emulated() != 0))
            index += 1
        }
        return out
    }

    public enum FrameSizes: Equatable {
        case discrete([CaptureFrameSize])
        case range(min: CaptureFrameSize, max: CaptureFrameSize, stepWidth: Int, stepHeight: Int)
        case unknown   // the driver does not enumerate sizes
    }

    public func frameSizes(_ fourcc: FourCC) -> FrameSizes {
        var sizes: [CaptureFrameSize] = []
        var index: UInt32 = 0
        while index < 256 {
            var e = v4l2_frmsizeenum()
            e.index = index
            e.pixel_format = fourcc.code
            guard ioctl(thud_vidioc_enum_framesizes(), &e) == 0 else { break }
            if e.type == thud_frmsize_type_discrete() {
                sizes.append(CaptureFrameSize(width: Int(e.discrete.width), height: Int(e.discrete.height)))
            } else {
                let s = e.stepwise
                let continuous = e.type == thud_frmsize_type_continuous()
                return .range(min: CaptureFrameSize(width: Int(s.min_width), height: Int(s.min_height)),
                              max: CaptureFrameSize(width: Int(s.max_width), height: Int(s.max_height)),
                              stepWidth: continuous ? 1 : max(1, Int(s.step_width)),
                              stepHeight: continuous ? 1 : max(1, Int(s.step_height)))
            }
            index += 1
        }
        return sizes.isEmpty ? .unknown : .discrete(sizes)
    }

    /// Discrete frame intervals as frames per second (stepwise ranges give their two ends).
    public func framesPerSecondOptions(_ fourcc: FourCC, width: Int, height: Int) -> [Double] {
        var out: [Double] = []
        var index: UInt32 = 0
        while index < 256 {
            var e = v4l2_frmivalenum()
            e.index = index
            e.pixel_format = fourcc.code
            e.width = UInt32(width)
            e.height = UInt32(height)
            guard ioctl(thud_vidioc_enum_frameintervals(), &e) == 0 else { break }
            if e.type == thud_frmival_type_discrete() {
                if e.discrete.numerator > 0 { out.append(Double(e.discrete.denominator) / Double(e.discrete.numerator)) }
            } else {
                for f in [e.stepwise.min, e.stepwise.max] where f.numerator > 0 {
                    out.append(Double(f.denominator) / Double(f.numerator))
                }
                break
            }
            index += 1
        }
        return out
    }

    // MARK: negotiation

    /// Picks a format (the request's, or the cheapest to turn into luma; native before libv4l2's
    /// emulated ones), the offered size nearest the request, the frame rate nearest the request,
    /// sets them and reads back what the driver set.
    @discardableResult
    public func negotiate(_ request: CaptureRequest) throws -> NegotiatedFormat {
        let offered = formats()
        guard !offered.isEmpty else {
            throw CaptureError(.cannotNegotiate, device: device, "offers no capture formats")
        }
        let offeredList = offered.map { $0.fourcc.description }.joined(separator: ", ")
        let chosen: CaptureFormatDescription
        if let wanted = request.format {
            guard let f = offered.first(where: { $0.fourcc == wanted }) else {
                throw CaptureError(.cannotNegotiate, device: device, "does not offer \(wanted) (it offers \(offeredList))")
            }
            guard LumaSource(wanted) != nil else {
                throw CaptureError(.cannotNegotiate, device: device, "format \(wanted) is not supported here")
            }
            chosen = f
        } else {
            let usable = offered.compactMap { f in LumaSource.rank(f.fourcc).map { (f, $0 + (f.emulated ? 100 : 0)) } }
            guard let best = usable.min(by: { $0.1 < $1.1 }) else {
                throw CaptureError(.cannotNegotiate, device: device, "offers no usable format (it offers \(offeredList))")
            }
            chosen = best.0
        }

        let size = Self.nearestSize(frameSizes(chosen.fourcc), to: CaptureFrameSize(width: request.captureWidth, height: request.captureHeight))
        var fmt = v4l2_format()
        fmt.type = thud_buf_type_video_capture()
        fmt.fmt.pix.width = UInt32(size.width)
        fmt.fmt.pix.height = UInt32(size.height)
        fmt.fmt.pix.pixelformat = chosen.fourcc.code
        fmt.fmt.pix.field = thud_field_none()   // progressive: interlaced fields would halve the height
        var err = ioctl(thud_vidioc_s_fmt(), &fmt)
        if err == EBUSY {
            throw CaptureError(.cannotNegotiate, device: device, "is busy (another program is capturing)")
        }
        guard err == 0 else {
            throw CaptureError(.cannotNegotiate, device: device, "VIDIOC_S_FMT \(chosen.fourcc) \(size.width)x\(size.height): \(CaptureError.describe(errno: err))")
        }
        // Read back: drivers adjust silently and libv4l2 may substitute its own conversion.
        var actual = v4l2_format()
        actual.type = thud_buf_type_video_capture()
        err = ioctl(thud_vidioc_g_fmt(), &actual)
        guard err == 0 else {
            throw CaptureError(.cannotNegotiate, device: device, "VIDIOC_G_FMT: \(CaptureError.describe(errno: err))")
        }
        let pix = actual.fmt.pix
        let gotFourCC = FourCC(pix.pixelformat)
        guard LumaSource(gotFourCC) != nil else {
            throw CaptureError(.cannotNegotiate, device: device, "driver set format \(gotFourCC), which is not supported here")
        }
        guard pix.width > 0, pix.height > 0, pix.width <= 16384, pix.height <= 16384 else {
            throw CaptureError(.cannotNegotiate, device: device, "driver set an absurd size \(pix.width)x\(pix.height)")
        }
        let bpl = pix.bytesperline > 0 ? Int(pix.bytesperline) : Int(pix.width) * LumaSource.firstPlaneBytesPerPixel(gotFourCC)

        var fps: Double? = nil
        var parm = v4l2_streamparm()
        parm.type = thud_buf_type_video_capture()
        if ioctl(thud_vidioc_g_parm(), &parm) == 0 {
            let canSet = parm.parm.capture.capability & thud_cap_timeperframe() != 0
            if canSet, let wantedFPS = request.framesPerSecond {
                let options = framesPerSecondOptions(gotFourCC, width: Int(pix.width), height: Int(pix.height))
                let pick = options.min(by: { abs($0 - wantedFPS) < abs($1 - wantedFPS) }) ?? wantedFPS
                var set = v4l2_streamparm()
                set.type = thud_buf_type_video_capture()
                // 1000/(fps·1000) keeps fractional rates such as 12.5 or 29.97 exact enough.
                set.parm.capture.timeperframe = v4l2_fract(numerator: 1000, denominator: UInt32((pick * 1000).rounded()))
                _ = ioctl(thud_vidioc_s_parm(), &set)   // not fatal: some drivers fix the rate
            }
            var back = v4l2_streamparm()
            back.type = thud_buf_type_video_capture()
            if ioctl(thud_vidioc_g_parm(), &back) == 0 {
                let tpf = back.parm.capture.timeperframe
                if tpf.numerator > 0 && tpf.denominator > 0 { fps = Double(tpf.denominator) / Double(tpf.numerator) }
            }
        }
        let result = NegotiatedFormat(fourcc: gotFourCC, width: Int(pix.width), height: Int(pix.height),
                                      bytesPerLine: bpl, imageSize: Int(pix.sizeimage), framesPerSecond: fps,
                                      emulated: offered.first(where: { $0.fourcc == gotFourCC })?.emulated ?? false,
                                      bufferCount: 0)
        negotiated = result
        return result
    }

    /// Nearest by log-ratio of width and height (so 2× too big and 2× too small weigh alike); ties go
    /// to the larger size, which scales down without loss.
    static func nearestSize(_ sizes: FrameSizes, to want: CaptureFrameSize) -> CaptureFrameSize {
        func distance(_ s: CaptureFrameSize) -> Double {
            abs(log(Double(s.width) / Double(want.width))) + abs(log(Double(s.height) / Double(want.height)))
        }
        switch sizes {
        case .unknown: return want
        case .discrete(let list):
            return list.min(by: { (distance($0), -$0.width * $0.height) < (distance($1), -$1.width * $1.height) }) ?? want
        case .range(let lo, let hi, let sw, let sh):
            func snap(_ v: Int, _ lo: Int, _ hi: Int, _ step: Int) -> Int {
                let c = min(max(v, lo), hi)
                return lo + (c - lo) / step * step
            }
            return CaptureFrameSize(width: snap(want.width, lo.width, hi.width, sw), height: snap(want.height, lo.height, hi.height, sh))
        }
    }

    // MARK: streaming

    /// REQBUFS, QUERYBUF + mmap each buffer, QBUF all, STREAMON. On failure everything done so far
    /// is undone and the error says which step failed (exit code 30).
    public func startStreaming(bufferCount: Int) throws {
        guard negotiated != nil else { throw CaptureError(.cannotStart, device: device, "start before negotiation") }
        var req = v4l2_requestbuffers()
        req.count = UInt32(bufferCount)
        req.type = thud_buf_type_video_capture()
        req.memory = thud_memory_mmap()
        var err = ioctl(thud_vidioc_reqbufs(), &req)
        guard err == 0 else {
            throw CaptureError(.cannotStart, device: device, "VIDIOC_REQBUFS (\(bufferCount) buffers): \(CaptureError.describe(errno: err))")
        }
        guard req.count >= 2 else {
            releaseBuffers()
            throw CaptureError(.cannotStart, device: device, "driver granted only \(req.count) buffer(s)")
        }
        for i in 0..<req.count {
            var buf = v4l2_buffer()
            buf.index = i
            buf.type = thud_buf_type_video_capture()
            buf.memory = thud_memory_mmap()
            err = ioctl(thud_vidioc_querybuf(), &buf)
            guard err == 0 else {
                releaseBuffers()
                throw CaptureError(.cannotStart, device: device, "VIDIOC_QUERYBUF \(i): \(CaptureError.describe(errno: err))")
            }
            let p = thud_v4l2_mmap(nil, Int(buf.length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, Int64(buf.m.offset))
            guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
                let e = errno
                releaseBuffers()
                throw CaptureError(.cannotStart, device: device, "mmap of buffer \(i): \(CaptureError.describe(errno: e))")
            }
            mapped.append((p, Int(buf.length)))
        }
        for i in 0..<mapped.count {
            err = queue(UInt32(i))
            guard err == 0 else {
                releaseBuffers()
                throw CaptureError(.cannotStart, device: device, "VIDIOC_QBUF \(i): \(CaptureError.describe(errno: err))")
            }
        }
        var type = Int32(bitPattern: thud_buf_type_video_capture())
        err = ioctl(thud_vidioc_streamon(), &type)
        guard err == 0 else {
            releaseBuffers()
            throw CaptureError(.cannotStart, device: device, "VIDIOC_STREAMON: \(CaptureError.describe(errno: err))")
        }
        streaming = true
        negotiated?.bufferCount = mapped.count
    }

    private func queue(_ index: UInt32) -> Int32 {
        var buf = v4l2_buffer()
        buf.index = index
        buf.type = thud_buf_type_video_capture()
        buf.memory = thud_memory_mmap()
        return ioctl(thud_vidioc_qbuf(), &buf)
    }

    /// One dequeued buffer; hand it back with `requeue` once converted.
    public struct Frame {
        public var index: UInt32
        public var data: UnsafeRawPointer
        public var bytesUsed: Int
        public var timestamp: Double     // seconds, the driver's clock (see monotonicTimestamps)
        public var sequence: UInt32
        public var error: Bool           // V4L2_BUF_FLAG_ERROR: the data may be corrupt
    }

    public enum Wait {
        case frame(Frame)
        case woken        // wake() was called
        case timedOut
    }

    /// poll() for up to `timeout` seconds, then DQBUF. EINTR restarts the wait with the time left;
    /// EAGAIN (a wake-up without a buffer) goes back to polling. ENODEV, EIO, other DQBUF errors and
    /// poll errors on the device mean it is gone (exit code 31).
    public func waitForFrame(timeout: Double) throws -> Wait {
        let deadline = MonotonicClock.seconds() + timeout
        while true {
            let left = deadline - MonotonicClock.seconds()
            if left <= 0 { return .timedOut }
            pollSet[0] = pollfd(fd: fd, events: thud_pollin(), revents: 0)
            pollSet[1] = pollfd(fd: wakeRead, events: thud_pollin(), revents: 0)
            let n = poll(pollSet, 2, Int32(min(left * 1000 + 1, 60_000)))
            if n < 0 {
                let e = errno
                if e == EINTR || e == EAGAIN { continue }
                throw CaptureError(.deviceLost, device: device, "poll failed: \(CaptureError.describe(errno: e))")
            }
            if n == 0 { continue }   // re-checks the deadline
            if pollSet[1].revents != 0 { return .woken }
            let revents = pollSet[0].revents
            var buf = v4l2_buffer()
            buf.type = thud_buf_type_video_capture()
            buf.memory = thud_memory_mmap()
            let err = ioctl(thud_vidioc_dqbuf(), &buf)
            if err == EAGAIN {
                if revents & thud_pollerr_mask() != 0 {
                    throw CaptureError(.deviceLost, device: device, "device lost while streaming (poll reported \(Self.describe(revents: revents)))")
                }
                continue
            }
            if err != 0 {
                let what = err == ENODEV ? "device lost while streaming (disconnected)" : "device lost while streaming"
                throw CaptureError(.deviceLost, device: device, "\(what): VIDIOC_DQBUF: \(CaptureError.describe(errno: err))")
            }
            guard Int(buf.index) < mapped.count else {
                throw CaptureError(.deviceLost, device: device, "driver returned buffer \(buf.index) of \(mapped.count)")
            }
            if buf.flags & thud_buf_flag_timestamp_mask() == thud_buf_flag_timestamp_monotonic() { monotonicTimestamps = true }
            let ts = Double(buf.timestamp.tv_sec) + Double(buf.timestamp.tv_usec) * 1e-6
            return .frame(Frame(index: buf.index, data: UnsafeRawPointer(mapped[Int(buf.index)].start),
                                bytesUsed: min(Int(buf.bytesused), mapped[Int(buf.index)].length),
                                timestamp: ts, sequence: buf.sequence, error: buf.flags & thud_buf_flag_error() != 0))
        }
    }

    private static func describe(revents: Int16) -> String {
        var names: [String] = []
        if revents & Int16(POLLERR) != 0 { names.append("POLLERR") }
        if revents & Int16(POLLHUP) != 0 { names.append("POLLHUP") }
        if revents & Int16(POLLNVAL) != 0 { names.append("POLLNVAL") }
        return names.joined(separator: "|")
    }

    /// Gives a buffer back to the driver. ENODEV means the device is gone; another error is retried
    /// once (a transient refusal would otherwise cost a buffer for good), then is fatal too.
    /// Returns true when the first attempt failed and the retry succeeded.
    @discardableResult
    public func requeue(_ frame: Frame) throws -> Bool {
        var err = queue(frame.index)
        if err == 0 { return false }
        if err != ENODEV { err = queue(frame.index) }
        if err == 0 { return true }
        let what = err == ENODEV ? "device lost while streaming (disconnected)" : "device lost while streaming"
        throw CaptureError(.deviceLost, device: device, "\(what): VIDIOC_QBUF: \(CaptureError.describe(errno: err))")
    }

    /// Ends a `waitForFrame` in progress (or the next one) from any thread.
    public func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// STREAMOFF, unmap, free the driver's buffers. Errors are ignored: after a disconnect these
    /// fail with ENODEV, and there is nothing left to do about it.
    public func stopStreaming() {
        if streaming {
            var type = Int32(bitPattern: thud_buf_type_video_capture())
            _ = ioctl(thud_vidioc_streamoff(), &type)
            streaming = false
        }
        releaseBuffers()
    }

    private func releaseBuffers() {
        for m in mapped { _ = thud_v4l2_munmap(m.start, m.length) }
        let had = !mapped.isEmpty
        mapped.removeAll()
        if had {
            var req = v4l2_requestbuffers()
            req.count = 0
            req.type = thud_buf_type_video_capture()
            req.memory = thud_memory_mmap()
            if fd >= 0 { _ = ioctl(thud_vidioc_reqbufs(), &req) }
        }
    }

    private func closeDevice() {
        if fd >= 0 { _ = thud_v4l2_close(fd); fd = -1 }
        if wakeRead >= 0 { Glibc.close(wakeRead); wakeRead = -1 }
        if wakeWrite >= 0 { Glibc.close(wakeWrite); wakeWrite = -1 }
    }

    /// Stops streaming if needed and closes the device. Idempotent.
    public func close() {
        if fd >= 0 { stopStreaming() }
        closeDevice()
    }

    // MARK: controls

    /// Sets a control by its v4l2-ctl name ("disconnect", "reduced_framerate"; buttons take any
    /// value). For tools and tests: vivid's fault injection is driven this way.
    public func setControl(named name: String, value: Int32) throws {
        guard let id = controlID(named: name) else {
            throw CaptureError(.cannotNegotiate, device: device, "has no control named \(name)")
        }
        var ctrl = v4l2_control()
        ctrl.id = id
        ctrl.value = value
        let err = ioctl(thud_vidioc_s_ctrl(), &ctrl)
        guard err == 0 else {
            throw CaptureError(.cannotNegotiate, device: device, "setting \(name)=\(value): \(CaptureError.describe(errno: err))")
        }
    }

    private func controlID(named name: String) -> UInt32? {
        var id: UInt32 = 0
        for _ in 0..<1024 {
            var q = v4l2_queryctrl()
            q.id = id | thud_ctrl_flag_next_ctrl()
            guard ioctl(thud_vidioc_queryctrl(), &q) == 0 else { return nil }
            id = q.id
            if Self.controlName(Self.string(q.name)) == name { return q.id }
        }
        return nil
    }

    /// v4l2-ctl's naming: lower case, runs of non-alphanumerics become one underscore.
    static func controlName(_ label: String) -> String {
        var out = ""
        var pendingUnderscore = false
        for c in label.lowercased() {
            if c.isLetter || c.isNumber {
                if pendingUnderscore && !out.isEmpty { out.append("_") }
                pendingUnderscore = false
                out.append(c)
            } else {
                pendingUnderscore = true
            }
        }
        return out
    }
}
