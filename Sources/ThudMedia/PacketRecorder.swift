// `--learn` on a network feed: the stream's own packets (the video being decoded and the first audio stream) copied,
// not re-encoded, into rolling Matroska segments that `thud-train adapt` reads as a folder of clips. The reading
// thread only takes a reference to each packet into a slot of a fixed pool and queues it (lock-free; a full queue
// drops the packet and counts it: prediction never waits for the disk); a writer thread cuts the segments.
import CFFmpeg
import Dispatch
import Foundation
import Synchronization
import ThudBase

/// Copies a network feed's packets into rolling segments in a SegmentFolder. NetworkFeed calls its hooks on the
/// reading thread (set `NetworkFeed.recorder` before `run`); everything else happens on its writer thread:
/// - a segment starts at a video keyframe (what comes before a connection's first keyframe is not recorded: a segment
///   decodes from its start) and the next one at the first keyframe `segmentSeconds` or more later;
/// - timestamps are made relative to the segment's first keyframe, audio before it dropped, so that audio and video
///   keep the alignment they had on the wire; audio that arrives behind the video (an MPEG-TS muxer holds it back a
///   few hundred milliseconds) still goes to the segment it belongs to, which stays open for it, and audio that
///   arrives ahead of it waits for the keyframe that decides which segment it belongs to;
/// - a segment shorter than ClipCheck's minimum (a second: the end of a connection, say) teaches nothing: not kept;
/// - before each segment the oldest finished segments are deleted to keep the folder's budget;
/// - a gap (packets dropped because the writer fell behind, a reconnection, timestamps that jump, parameters that
///   change) ends the open segment cleanly, and the next starts at the next keyframe;
/// - a stream without audio is said once (learning needs the sound) and nothing of it is recorded;
/// - a segment that cannot be written is dropped (one line per distinct problem), recording resumes at a keyframe
///   `retrySeconds` later, and "recording again" is said once a segment is in place again.
/// `warn` is called from the reading thread and from the writer thread. `stop()` must be called once the feed is done.
public final class PacketRecorder {
    public struct Statistics: Sendable, Equatable {
        public var segmentsWritten = 0
        /// Seconds of video in the segments written.
        public var secondsRecorded = 0.0
        /// Packets in the segments written.
        public var packetsWritten = 0
        /// Packets the reading thread could not queue because the writer had fallen behind.
        public var packetsDropped = 0
        /// Old segments deleted to keep the folder within its budget.
        public var segmentsDeleted = 0
        public init() {}
    }

    public let folder: SegmentFolder
    public let segmentSeconds: Double
    public let feedName: String
    /// A segment shorter than this teaches nothing (ClipCheck's minimum) and is not kept.
    static let minimumSeconds = ClipCheck.defaultMinimumSeconds
    /// Audio behind the video by more than this does not hold the previous segment open any longer.
    static let longestAudioLag = 2.0
    /// Timestamps that jump ahead by more than this (or go back) are a discontinuity: the segment ends there.
    static let largestJumpSeconds = 10.0

    /// Called on the writer thread with each finished segment's path.
    public var segmentFinished: (String) -> Void {
        get { lock.withLock { finishedHandler } }
        set { lock.withLock { finishedHandler = newValue } }
    }

    // Shared by the two threads.
    private let pool: UnsafeMutablePointer<UnsafeMutablePointer<AVPacket>>
    private let poolSize: Int
    /// Reading thread → writer: packets (by pool slot) and connection events, in order.
    private let queue: SPSCQueue<Item>
    /// Writer → reading thread: slots whose packet has been written (or dropped) and unreferenced.
    private let freeSlots: SPSCQueue<Int32>
    private let wake = DispatchSemaphore(value: 0)
    private let writerDone = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let dropped = Atomic<Int>(0)
    private let lock = NSLock()
    private var counts = Statistics()                           // under `lock`
    private var finishedHandler: (String) -> Void = { _ in }    // under `lock`
    private let stopLock = NSLock()
    private var joined = false                                  // under `stopLock`
    fileprivate let warn: (String) -> Void
    fileprivate let retrySeconds: Double
    /// Test hook: while set, the writer takes nothing from the queue (a disk that has stopped answering).
    let stallWriter = Atomic<Bool>(false)

    // The reading thread's own.
    private struct Connection {
        var format: UnsafeMutablePointer<AVFormatContext>
        var videoIndex: Int32
        var audioIndex: Int32
        var videoCodec: AVCodecID
        var audioCodec: AVCodecID
    }
    private var connection: Connection?
    /// A connection event the queue had no room for: sent before the next packet (the latest one stands for all).
    private var pendingEvent: Item?
    private var gapBeforeNext = false
    private var spareSlot: Int32 = -1
    private var saidNoAudio = false

    private struct Item {
        enum Kind { case packet, begin, end }
        var kind: Kind
        var slot: Int32 = -1
        /// Packets were dropped just before this one.
        var afterGap = false
        var layout: StreamLayout?
    }

    /// `queueCapacity`: packets held between the reading thread and the writer (1024: several seconds of a camera's
    /// stream). `warn` gets one-line notices naming `feedName`.
    public convenience init(folder: SegmentFolder, segmentSeconds: Double = 20, queueCapacity: Int = 1024, feedName: String,
                            warn: @escaping (String) -> Void) {
        self.init(folder: folder, segmentSeconds: segmentSeconds, queueCapacity: queueCapacity, feedName: feedName,
                  retrySeconds: 10, warn: warn)
    }

    /// `retrySeconds`: how long after a failed write the next segment may start (tests shorten it).
    init(folder: SegmentFolder, segmentSeconds: Double, queueCapacity: Int, feedName: String, retrySeconds: Double,
         warn: @escaping (String) -> Void) {
        _ = FF.quietOnce
        self.folder = folder
        self.segmentSeconds = segmentSeconds
        self.feedName = feedName
        self.retrySeconds = retrySeconds
        self.warn = warn
        poolSize = max(8, queueCapacity)
        pool = .allocate(capacity: poolSize)
        for i in 0..<poolSize { (pool + i).initialize(to: av_packet_alloc()!) }
        freeSlots = SPSCQueue(capacity: poolSize)
        for i in 0..<poolSize { _ = freeSlots.push(Int32(i)) }
        // Room for every packet of the pool and for connection events beside them.
        queue = SPSCQueue(capacity: poolSize + 16)
        let thread = Thread { [self] in
            runWriter()
            writerDone.signal()
        }
        thread.name = "thud-learn"
        thread.start()
    }

    deinit {
        for i in 0..<poolSize {
            var packet: UnsafeMutablePointer<AVPacket>? = pool[i]
            av_packet_free(&packet)
        }
        pool.deallocate()
    }

    /// Ends the recording: the writer writes what is queued, finishes the open segment there, and ends. Idempotent;
    /// from any thread.
    public func stop() {
        stopLock.lock(); defer { stopLock.unlock() }
        guard !joined else { return }
        stopping.store(true, ordering: .releasing)
        wake.signal()
        writerDone.wait()
        joined = true
    }

    public var statistics: Statistics {
        var s = lock.withLock { counts }
        s.packetsDropped = dropped.load(ordering: .relaxed)
        return s
    }

    /// The recording's figures in one line.
    public var report: String {
        let s = statistics
        return "\(feedName): recorded \(s.segmentsWritten) segment\(s.segmentsWritten == 1 ? "" : "s") (\(Format.fixed(s.secondsRecorded, 1)) s) into \(folder.path); \(s.packetsWritten) packets copied, \(s.packetsDropped) dropped because the writer fell behind, \(s.segmentsDeleted) old segment\(s.segmentsDeleted == 1 ? "" : "s") deleted for the budget"
    }

    // MARK: the reading thread's hooks (NetworkFeed's decodeLive)

    /// A connection opened, or its video changed to stream `videoStream`: from now on its packets are recorded (when
    /// it has audio), as a new segment.
    func connectionOpened(_ format: UnsafeMutablePointer<AVFormatContext>, videoStream: Int) {
        let wasRecording = connection != nil
        connection = nil
        guard !stopping.load(ordering: .relaxed) else { return }
        guard let audioStream = StreamLayout.firstAudioStream(format) else {
            if !saidNoAudio {
                saidNoAudio = true
                warn("\(feedName): the stream has no audio: nothing to learn from, so nothing is recorded; predicting on")
            }
            if wasRecording { send(Item(kind: .end)) }
            return
        }
        guard let layout = StreamLayout(format: format, videoStream: videoStream, audioStream: audioStream) else { return }
        connection = Connection(format: format, videoIndex: layout.videoIndex, audioIndex: layout.audioIndex,
                                videoCodec: layout.video.pointee.codec_id, audioCodec: layout.audio.pointee.codec_id)
        send(Item(kind: .begin, layout: layout))
    }

    /// One packet as the demuxer read it: a reference to it is queued for the writer, or (queue full) it is dropped.
    /// Never waits.
    func packetRead(_ packet: UnsafeMutablePointer<AVPacket>) {
        guard let c = connection else { return }
        let index = packet.pointee.stream_index
        let isVideo = index == c.videoIndex
        guard isVideo || index == c.audioIndex, !stopping.load(ordering: .relaxed) else { return }
        if let parameters = c.format.pointee.streams[Int(index)]?.pointee.codecpar,
           parameters.pointee.codec_id != (isVideo ? c.videoCodec : c.audioCodec) {
            // The demuxer says the stream's codec changed: the copied parameters no longer describe it.
            connectionOpened(c.format, videoStream: Int(c.videoIndex))
            guard connection != nil else { return }
        }
        guard flushPendingEvent() else { return lose() }
        let slot: Int32
        if spareSlot >= 0 {
            slot = spareSlot
            spareSlot = -1
        } else if let free = freeSlots.pop() {
            slot = free
        } else {
            return lose()
        }
        let copy = pool[Int(slot)]
        guard av_packet_ref(copy, packet) >= 0 else { spareSlot = slot; return lose() }
        guard queue.push(Item(kind: .packet, slot: slot, afterGap: gapBeforeNext)) else {
            av_packet_unref(copy)
            spareSlot = slot
            return lose()
        }
        gapBeforeNext = false
        wake.signal()
    }

    /// The connection ended (the stream ended, was lost or stopped): the open segment is finished.
    func connectionEnded() {
        guard connection != nil else { return }
        connection = nil
        send(Item(kind: .end))
    }

    private func lose() {
        dropped.add(1, ordering: .relaxed)
        gapBeforeNext = true
    }

    private func send(_ event: Item) {
        pendingEvent = event
        _ = flushPendingEvent()
    }

    private func flushPendingEvent() -> Bool {
        guard let event = pendingEvent else { return true }
        guard queue.push(event) else { return false }
        pendingEvent = nil
        wake.signal()
        return true
    }

    // MARK: the writer thread

    private func runWriter() {
        let cutter = SegmentCutter(recorder: self)
        while true {
            while stallWriter.load(ordering: .relaxed), !stopping.load(ordering: .relaxed) { usleep(5_000) }
            if let item = queue.pop() {
                switch item.kind {
                case .packet:
                    let packet = pool[Int(item.slot)]
                    if item.afterGap { cutter.gap() }
                    cutter.take(packet)
                    av_packet_unref(packet)
                    _ = freeSlots.push(item.slot)
                case .begin:
                    cutter.begin(item.layout!)
                case .end:
                    cutter.end()
                }
                continue
            }
            if stopping.load(ordering: .acquiring) { break }
            _ = wake.wait(timeout: .now() + .milliseconds(250))
        }
        cutter.end()
    }

    fileprivate func segmentWritten(_ path: String, seconds: Double, packets: Int) {
        let handler = lock.withLock {
            counts.segmentsWritten += 1
            counts.secondsRecorded += seconds
            counts.packetsWritten += packets
            return finishedHandler
        }
        handler(path)
    }

    fileprivate func segmentsDeleted(_ count: Int) {
        guard count > 0 else { return }
        lock.withLock { counts.segmentsDeleted += count }
    }
}

/// The writer thread's state: which segment is open, which one is still taking its late audio, when recording may
/// resume after a failed write.
private final class SegmentCutter {
    unowned let recorder: PacketRecorder
    var layout: StreamLayout?
    var keyframes: KeyframeParameters?
    var current: MatroskaSegment?
    /// The previous segment, open until the audio that arrives behind the video has reached the current one's start.
    var closing: MatroskaSegment?
    var lastVideoDTS: Int64?
    var lastAudioDTS: Int64?
    /// No segment starts before this (MonotonicClock seconds): a write failed.
    var resumeAt = -Double.infinity
    /// The causes of the failed writes said since the last segment put in place.
    var problems: Set<String> = []
    var lastSegmentBytes: Int64 = 0
    /// Audio that may belong to the next segment, which no keyframe has started yet: audio that arrives ahead of the
    /// video (at or after the earliest instant the open segment can end, or while none is open). The keyframe that
    /// starts the next segment decides where each goes. Their references moved out of the pool (whose slots go back
    /// to the reading thread); `spare` keeps the emptied packets for reuse.
    var held: [UnsafeMutablePointer<AVPacket>] = []
    var spare: [UnsafeMutablePointer<AVPacket>] = []
    /// Held audio beyond this (a long GOP, no segment for a while) is not held: the oldest goes where it would have.
    static let mostHeld = 512

    init(recorder: PacketRecorder) { self.recorder = recorder }

    deinit {
        for packet in held + spare {
            var owned: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&owned)
        }
    }

    func begin(_ layout: StreamLayout) {
        end()
        self.layout = layout
        keyframes = KeyframeParameters(video: layout.video, timeBase: layout.videoTimeBase)
    }

    func end() {
        gap()
        layout = nil
        keyframes = nil
    }

    /// Packets are missing from here: what is open ends, the next segment starts at the next keyframe.
    func gap() {
        placeHeld()
        finishClosing()
        if let segment = current { current = nil; finish(segment) }
        lastVideoDTS = nil
        lastAudioDTS = nil
    }

    func take(_ packet: UnsafeMutablePointer<AVPacket>) {
        guard let layout else { return }
        let isVideo = packet.pointee.stream_index == layout.videoIndex
        let pts = packet.pointee.pts != FF.noPTS ? packet.pointee.pts : packet.pointee.dts
        let dts = packet.pointee.dts != FF.noPTS ? packet.pointee.dts : packet.pointee.pts
        guard pts != FF.noPTS else {
            if isVideo { gap() }   // a frame that cannot be placed: what follows would not decode without it
            return
        }
        let timeBase = TimeBase(isVideo ? layout.videoTimeBase : layout.audioTimeBase)
        if let last = isVideo ? lastVideoDTS : lastAudioDTS, dts < last || timeBase.seconds(dts - last) > PacketRecorder.largestJumpSeconds {
            gap()
        }
        if isVideo { lastVideoDTS = dts } else { lastAudioDTS = dts }
        if isVideo { video(packet, pts: pts, layout: layout) } else { audio(packet, pts: pts) }
    }

    private func video(_ packet: UnsafeMutablePointer<AVPacket>, pts: Int64, layout: StreamLayout) {
        let timeBase = TimeBase(layout.videoTimeBase)
        let isKey = packet.pointee.flags & AV_PKT_FLAG_KEY != 0
        let sets = isKey ? keyframes?.parameterSets(of: packet) : nil
        if isKey, let segment = current {
            if let sets, sets != segment.parameterSets {
                gap()   // the stream's parameters changed: a segment holds one set
                lastVideoDTS = packet.pointee.dts != FF.noPTS ? packet.pointee.dts : pts
            } else if timeBase.seconds(pts - segment.videoStart) >= recorder.segmentSeconds {
                finishClosing()
                // (A failure there drops every open segment, this one too.)
                if current === segment {
                    segment.videoEnd = pts
                    segment.audioEnd = av_rescale_q(pts, layout.videoTimeBase, layout.audioTimeBase)
                    closing = segment
                    current = nil
                }
            }
        }
        if current == nil {
            guard isKey, MonotonicClock.seconds() >= resumeAt else { return }
            open(at: pts, keyframe: packet, sets: sets, layout: layout)
            placeHeld()
        }
        if let segment = current { write(packet, to: segment, video: true) }
        if let old = closing, let end = old.videoEnd, timeBase.seconds(pts - end) > PacketRecorder.longestAudioLag { finishClosing() }
    }

    private func audio(_ packet: UnsafeMutablePointer<AVPacket>, pts: Int64) {
        if let old = closing {
            if let end = old.audioEnd, pts < end { return write(packet, to: old, video: false) }
            finishClosing()
        }
        if let segment = current {
            guard pts >= segment.audioStart else { return }
            if pts < segment.audioMayEnd { return write(packet, to: segment, video: false) }
        }
        hold(packet)
    }

    private func hold(_ packet: UnsafeMutablePointer<AVPacket>) {
        guard let copy = spare.popLast() ?? av_packet_alloc() else { return }
        av_packet_move_ref(copy, packet)
        held.append(copy)
        if held.count > Self.mostHeld {
            let oldest = held.removeFirst()
            if let segment = current { write(oldest, to: segment, video: false) }
            av_packet_unref(oldest)
            spare.append(oldest)
        }
    }

    /// Held audio to the segment it belongs to, now that a keyframe has decided (or a gap ends what is open): before
    /// the closing segment's end to it, the rest from the open segment's start to that one; what lies before both is
    /// dropped.
    private func placeHeld() {
        for packet in held {
            let pts = packet.pointee.pts != FF.noPTS ? packet.pointee.pts : packet.pointee.dts
            if let old = closing, let end = old.audioEnd, pts < end {
                write(packet, to: old, video: false)
            } else if let segment = current, pts >= segment.audioStart {
                write(packet, to: segment, video: false)
            }
            av_packet_unref(packet)
            spare.append(packet)
        }
        held.removeAll(keepingCapacity: true)
    }

    private func open(at pts: Int64, keyframe: UnsafeMutablePointer<AVPacket>, sets: [UInt8]?, layout: StreamLayout) {
        let folder = recorder.folder
        // After a failure the folder may have been removed: made again (a file in its place still fails below).
        if !problems.isEmpty { mkdir(folder.path, 0o755) }
        recorder.segmentsDeleted(folder.prune(reserve: lastSegmentBytes).count)
        if let sets { layout.setVideoExtradata(sets) }
        if layout.video.pointee.width <= 0 || layout.video.pointee.height <= 0, let size = keyframes?.pictureSize(of: keyframe) {
            layout.video.pointee.width = size.width
            layout.video.pointee.height = size.height
        }
        let (path, temporary) = folder.next()
        do {
            current = try MatroskaSegment(path: path, temporary: temporary, layout: layout, videoStart: pts, parameterSets: sets,
                                          seconds: recorder.segmentSeconds)
        } catch let error as SegmentWriteError {
            failed(path, error)
        } catch {
            failed(path, SegmentWriteError("\(error)", cause: "\(error)"))
        }
    }

    private func write(_ packet: UnsafeMutablePointer<AVPacket>, to segment: MatroskaSegment, video: Bool) {
        do {
            try segment.write(packet, video: video)
        } catch let error as SegmentWriteError {
            failed(segment.path, error)
        } catch {
            failed(segment.path, SegmentWriteError("\(error)", cause: "\(error)"))
        }
    }

    private func finishClosing() {
        if let segment = closing { closing = nil; finish(segment) }
    }

    private func finish(_ segment: MatroskaSegment) {
        guard segment.isOpen else { return }
        guard segment.seconds >= PacketRecorder.minimumSeconds else { return segment.abandon() }
        do {
            try segment.finish()
            try recorder.folder.commit(segment.temporary, to: segment.path)
        } catch let error as SegmentWriteError {
            return failed(segment.path, error)
        } catch let error as FileWriteError {
            return failed(segment.path, SegmentWriteError(error))
        } catch {
            return failed(segment.path, SegmentWriteError("\(error)", cause: "\(error)"))
        }
        var st = stat()
        lastSegmentBytes = stat(segment.path, &st) == 0 ? Int64(st.st_size) : lastSegmentBytes
        if !problems.isEmpty {
            problems.removeAll()
            recorder.warn("\(recorder.feedName): recording again (\(segment.path))")
        }
        recorder.segmentWritten(segment.path, seconds: segment.seconds, packets: segment.packets)
    }

    /// A write failed: every open segment is dropped (its temporary file removed), one line unless this problem was
    /// already said, and no segment starts for `retrySeconds`.
    private func failed(_ path: String, _ error: SegmentWriteError) {
        current?.abandon(); current = nil
        closing?.abandon(); closing = nil
        resumeAt = MonotonicClock.seconds() + recorder.retrySeconds
        if problems.insert(error.cause).inserted {
            recorder.warn("\(recorder.feedName): \(path): \(error.problem); not recording until a write works again (next try at a keyframe in \(Format.fixed(recorder.retrySeconds, 1)) s)")
        }
    }
}
