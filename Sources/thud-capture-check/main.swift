// thud-capture-check: live capture without the model. One JSON line per 12 Hz step on stdout,
// a negotiated-format line and a summary line on stderr. Used by the vivid VM tests
// (Tests/ThudCaptureTests) and for the latency / CPU / drop figures (tools/vivid/capture-figures.sh).
// Exit codes: 0, 30 (open/negotiate/start), 31 (lost while streaming), 64 (usage).
import ArgumentParser
import Glibc
import ThudBase
import ThudCommandLine
import ThudMedia

struct ControlWrite { var step: Int; var name: String; var value: Int32 }

/// NAME=VALUE for --set.
struct ControlSetting: ExpressibleByArgument {
    var name: String
    var value: Int32
    init?(argument: String) {
        let kv = argument.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2, !kv[0].isEmpty, let v = Int32(kv[1]) else { return nil }
        name = kv[0]; value = v
    }
}

/// STEP:NAME=VALUE for --set-at.
struct TimedControlSetting: ExpressibleByArgument {
    var write: ControlWrite
    init?(argument: String) {
        let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let step = Int(parts[0]), step >= 0, let c = ControlSetting(argument: parts[1]) else { return nil }
        write = ControlWrite(step: step, name: c.name, value: c.value)
    }
}

extension FourCC: ExpressibleByArgument {
    public init?(argument: String) {
        guard let f = FourCC.parse(argument) else { return nil }
        self = f
    }
}

struct CaptureCheckOptions: ParsableCommand {  // ParsableCommand for its help; parsed, not run
    static let configuration = CommandConfiguration(
        commandName: "thud-capture-check",
        abstract: "Live capture without the model: one JSON line per 12 Hz step, a negotiated-format line and a summary on stderr.",
        discussion: """
        --set writes a control before streaming starts (e.g. vivid's inject_vidioc_streamon_error=1); --set-at \
        writes one from a second file handle after step STEP (e.g. disconnect=1), the way v4l2-ctl would from \
        another process. --work-ms simulates inference time per step. --bench-convert measures the capture \
        thread's per-frame work (conversion to model-sized luma, a ring push and a step's take) with no device. \
        Exit codes: 0, 30 (open/negotiate/start), 31 (lost while streaming), 64 (usage).
        """)

    @Argument(help: "V4L2 device.") var device = "/dev/video0"
    @Option(help: "Stop after this many steps (default 36 unless --duration).") var frames: Int?
    @Option(help: "Stop after this many seconds of steps.") var duration: Double?
    @Option(help: "Camera size to ask for, WxH.") var size = PictureSize(width: 320, height: 240)
    @Option(name: .customLong("model-size"), help: "Model input size, WxH.") var modelSize = PictureSize(width: 64, height: 64)
    @Option(help: "Pixel format (yuyv, uyvy, nv12, yu12, grey, rgb24, mjpeg or a FOURCC).") var format: FourCC?
    @Option(help: "Camera frame rate to ask for.") var fps: Double?
    @Option(name: .customLong("stall-timeout"), help: "Seconds without a frame before exit 31.") var stallTimeout: Double?
    @Option(name: .customLong("work-ms"), help: "Simulated inference time per step, ms.") var workMs = 0.0
    @Option(name: .customLong("set"), help: "NAME=VALUE control written before streaming.") var before: [ControlSetting] = []
    @Option(name: .customLong("set-at"), help: "STEP:NAME=VALUE control written after step STEP.") var during: [TimedControlSetting] = []
    @Flag(help: "No step lines (what is left of the loop allocates nothing per step).") var quiet = false
    @Flag(help: "List the device's formats, sizes and rates.") var list = false
    @Flag(name: .customLong("bench-convert"), help: "Measure conversion + ring work per frame, no device.") var benchConvert = false

    func validate() throws {
        if let frames, frames <= 0 { throw ValidationError("--frames wants a positive integer") }
        if let duration, !(duration > 0) { throw ValidationError("--duration wants seconds > 0") }
        if let fps, !(fps > 0 && fps <= 1000) { throw ValidationError("--fps wants a rate in frames per second") }
        if let stallTimeout, !(stallTimeout > 0) { throw ValidationError("--stall-timeout wants seconds > 0") }
        if !(workMs >= 0) { throw ValidationError("--work-ms wants milliseconds >= 0") }
    }
}

// Parsed once; the check below is a plain script over these values.
let options = CommandLineTool.parse(CaptureCheckOptions.self, tool: "thud-capture-check")

func fail(_ code: Int32, _ message: String) -> Never {
    fputs("thud-capture-check: \(message)\n", stderr)
    exit(code)
}

let path = options.device
var request = CaptureRequest(captureWidth: options.size.width, captureHeight: options.size.height,
                             outputWidth: options.modelSize.width, outputHeight: options.modelSize.height, format: options.format)
if let fps = options.fps { request.framesPerSecond = fps }
if let s = options.stallTimeout { request.stallTimeout = s }
var frames = options.frames
let duration = options.duration
let workMs = options.workMs
let quiet = options.quiet
let before = options.before.map { ($0.name, $0.value) }
let during = options.during.map(\.write)
if frames == nil && duration == nil { frames = 36 }

/// tools/vivid/malloc-count.c, when preloaded, counts heap allocations; marks bracket the steady
/// streaming loop (after a 12-step warm-up, and at its end) so the per-step figure excludes start-up
/// and the summary. Without the shim dlsym finds nothing and this does nothing.
typealias AllocationMark = @convention(c) (Int32, Int) -> Void
let allocationMark: AllocationMark? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "thud_malloc_count_mark")
    .map { unsafeBitCast($0, to: AllocationMark.self) }

// --bench-convert: the per-frame CPU cost of the capture thread's work (conversion to model-sized
// luma plus a ring push and a step's take) on this machine, with no device: the VM's figures are
// for an emulated CPU. Uses --format, --size, --model-size and --fps (for the CPU share).
if options.benchConvert {
    let fmt = request.format ?? .yuyv
    let (w, h) = (request.captureWidth, request.captureHeight)
    let bpl = w * (fmt == .yuyv || fmt == .uyvy ? 2 : fmt == .rgb24 || fmt == .bgr24 ? 3 : 1)
    guard let conv = CaptureFrameConverter(format: fmt, width: w, height: h, bytesPerLine: bpl,
                                           outputWidth: request.outputWidth, outputHeight: request.outputHeight),
          fmt != .mjpeg, fmt != .jpeg else { fail(64, "--bench-convert: raw formats only (not \(fmt))") }
    let bytes = bpl * h * 2
    let src = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes)
    for i in 0..<bytes { src[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
    let dst = UnsafeMutablePointer<UInt8>.allocate(capacity: conv.outputByteCount)
    let ring = FrameRing(capacity: 8, width: request.outputWidth, height: request.outputHeight)
    let n = frames ?? 2000
    var u0 = rusage(); getrusage(RUSAGE_SELF.rawValue, &u0)
    let t0 = MonotonicClock.seconds()
    allocationMark?(1, 0)
    for i in 0..<n {
        _ = conv.convert(src, bytesUsed: 0, into: dst)
        ring.push(dst, timestamp: Double(i), sequence: UInt32(i))
        _ = ring.take(atOrBefore: Double(i), into: dst)
    }
    let wall = MonotonicClock.seconds() - t0
    allocationMark?(2, n)
    var u1 = rusage(); getrusage(RUSAGE_SELF.rawValue, &u1)
    let cpu = Double(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec) + Double(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec) * 1e-6
        + Double(u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) + Double(u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) * 1e-6
    let fps = request.framesPerSecond ?? 30
    print("{\"bench\":\"convert+ring\",\"format\":\"\(fmt)\",\"size\":\"\(w)x\(h)\",\"model_size\":\"\(request.outputWidth)x\(request.outputHeight)\",\"frames\":\(n),\"us_per_frame\":\(Format.fixed(wall / Double(n) * 1e6, 1)),\"cpu_us_per_frame\":\(Format.fixed(cpu / Double(n) * 1e6, 1)),\"cpu_percent_at_fps\":\(Format.fixed(cpu / Double(n) * fps * 100, 2)),\"fps\":\(Format.fixed(fps, 1))}")
    exit(0)
}

if options.list {
    do {
        let src = try V4L2Source(device: path)
        print("\(path): driver \(src.info.driver), card \(src.info.card), bus \(src.info.busInfo)")
        for f in src.formats() {
            var line = "  \(f.fourcc) (\(f.description))\(f.emulated ? " [libv4l2]" : "")\(f.compressed ? " [compressed]" : ""):"
            if case .discrete(let sizes) = src.frameSizes(f.fourcc) {
                for s in sizes {
                    let fps = src.framesPerSecondOptions(f.fourcc, width: s.width, height: s.height).map { Format.fixed($0, 1) }
                    line += " \(s.width)x\(s.height)@[\(fps.joined(separator: ","))]"
                }
            }
            print(line)
        }
        src.close()
        exit(0)
    } catch let e as CaptureError { fail(e.exitCode, e.message) } catch { fail(1, "\(error)") }
}

// Ctrl-C / SIGTERM stop the session cleanly (ThudBase's StopOnSignals, as every thud loop); installed before the
// session exists.
let signalLock = CaptureSignalBox()
let stopOnSignals = StopOnSignals { sig in
    fputs("capture-check: signal \(sig), stopping\n", stderr)
    // Before the session exists there is nothing to stop cleanly: exiting closes the device.
    guard let session = signalLock.get() else { exit(128 + sig) }
    session.requestStop()
}

/// The session, once made, for the signal thread (which starts before it exists).
final class CaptureSignalBox {
    private var session: CaptureSession?
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {   // heap: a pthread mutex must not move
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()
    func set(_ s: CaptureSession) { pthread_mutex_lock(mutex); session = s; pthread_mutex_unlock(mutex) }
    func get() -> CaptureSession? { pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }; return session }
}

func q(_ s: String) -> String { "\"" + s.replacingOccurrences("\"", "'") + "\"" }
extension String {
    func replacingOccurrences(_ a: Character, _ b: Character) -> String { String(map { $0 == a ? b : $0 }) }
}

let session: CaptureSession
do {
    session = try CaptureSession(device: path, request: request)
} catch let e as CaptureError { fail(e.exitCode, e.message) } catch { fail(1, "\(error)") }
let fmt = session.format
fputs("capture-check: negotiated {\"device\":\(q(path)),\"driver\":\(q(session.source.info.driver)),\"format\":\(q(fmt.fourcc.description)),\"width\":\(fmt.width),\"height\":\(fmt.height),\"bytes_per_line\":\(fmt.bytesPerLine),\"fps\":\(fmt.framesPerSecond.map { Format.fixed($0, 3) } ?? "null"),\"emulated\":\(fmt.emulated),\"model_size\":\"\(request.outputWidth)x\(request.outputHeight)\"}\n", stderr)

signalLock.set(session)

do {
    for (name, v) in before { try session.source.setControl(named: name, value: v) }
    try session.start()
} catch let e as CaptureError { fail(e.exitCode, e.message) } catch { fail(1, "\(error)") }

var usage0 = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage0)
let wall0 = MonotonicClock.seconds()
var latencies: [Double] = []
latencies.reserveCapacity(frames ?? StepRate.steps(covering: duration ?? 1) + 16)
var delays: [Double] = []
delays.reserveCapacity(latencies.capacity)
var steps = 0
var lastStep: CapturedStep?
var previousIndex = -1
var exitCode: Int32 = 0
var stepLine = ""
stepLine.reserveCapacity(256)
do {
    while let step = try session.nextStep() {
        steps += 1
        lastStep = step
        if steps == StepRate.perSecond { allocationMark?(1, steps) }  // after a one-second warm-up
        latencies.append(step.latency)
        delays.append(step.delay)
        if !quiet {
        stepLine = "{\"step\":\(step.index),\"t\":\(Format.fixed(step.time, 4)),\"seq\":\(step.sequence),\"frame_t\":\(Format.fixed(step.frameTime, 4)),\"latency_ms\":\(Format.fixed(step.latency * 1000, 2)),\"delay_ms\":\(Format.fixed(step.delay * 1000, 2)),\"dropped\":\(step.droppedFrames),\"skipped\":\(step.skippedSteps),\"repeat\":\(step.repeated)}\n"
        fputs(stepLine, stdout)
        fflush(stdout)
        }
        // Steps can be skipped when the consumer is late: a write is due once its step has passed.
        for c in during where c.step <= step.index && c.step > previousIndex {
            do {
                let side = try V4L2Source(device: path)
                try side.setControl(named: c.name, value: c.value)
                side.close()
                fputs("capture-check: set \(c.name)=\(c.value) after step \(step.index)\n", stderr)
            } catch let e as CaptureError {
                fputs("capture-check: could not set \(c.name): \(e.message)\n", stderr)
            }
        }
        previousIndex = step.index
        if let frames, steps >= frames { break }
        if let duration, step.time >= duration { break }
        if workMs > 0 { usleep(useconds_t(workMs * 1000)) }
    }
} catch let e as CaptureError {
    fputs("thud-capture-check: \(e.message)\n", stderr)
    exitCode = e.exitCode
} catch {
    fputs("thud-capture-check: \(error)\n", stderr)
    exitCode = 1
}
allocationMark?(2, steps)
let wall = MonotonicClock.seconds() - wall0
session.stop()
var usage1 = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage1)
func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
let cpu = seconds(usage1.ru_utime) + seconds(usage1.ru_stime) - seconds(usage0.ru_utime) - seconds(usage0.ru_stime)
latencies.sort()
delays.sort()
func percentile(_ p: Double, _ xs: [Double] = latencies) -> Double { Percentiles.nearestRank(xs, p) }
/// A JSON number, or null where there is none (no steps: no latency).
func num(_ x: Double, _ digits: Int) -> String { x.isFinite ? Format.fixed(x, digits) : "null" }
let st = session.statistics
fputs("capture-check: summary {\"steps\":\(steps),\"last_step\":\(lastStep?.index ?? -1),\"wall_s\":\(num(wall, 3)),\"cpu_s\":\(num(cpu, 3)),\"cpu_percent\":\(num(wall > 0 ? 100 * cpu / wall : 0, 1)),\"latency_ms_median\":\(num(percentile(0.5) * 1000, 2)),\"latency_ms_p99\":\(num(percentile(0.99) * 1000, 2)),\"latency_ms_max\":\(num((latencies.last ?? .nan) * 1000, 2)),\"delay_ms_median\":\(num(percentile(0.5, delays) * 1000, 2)),\"delay_ms_p99\":\(num(percentile(0.99, delays) * 1000, 2)),\"frames_captured\":\(st.framesCaptured),\"frames_dropped_by_driver\":\(st.framesDroppedByDriver),\"error_frames\":\(st.errorFrames),\"frames_decimated\":\(st.framesDecimated),\"repeated_steps\":\(st.repeatedSteps),\"skipped_steps\":\(st.skippedSteps),\"exit\":\(exitCode)}\n", stderr)
exit(exitCode)
