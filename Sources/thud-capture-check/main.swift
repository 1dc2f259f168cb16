// thud-capture-check: live capture without the model. One JSON line per 12 Hz step on stdout,
// a negotiated-format line and a summary line on stderr. Used by the vivid VM tests
// (Tests/ThudCaptureTests) and for the latency / CPU / drop figures (tools/vivid/capture-figures.sh).
//
//   thud-capture-check DEVICE [--frames N | --duration S] [--size WxH] [--model-size WxH]
//                      [--format yuyv|uyvy|nv12|yu12|grey|rgb24|mjpeg|FOURCC] [--fps F]
//                      [--stall-timeout S] [--work-ms MS] [--set NAME=VALUE]...
//                      [--set-at STEP:NAME=VALUE]... [--quiet] [--list]
//   thud-capture-check --bench-convert [--frames N] [--format F] [--size WxH] [--model-size WxH]
//
// --set writes a control before streaming starts (e.g. vivid's inject_vidioc_streamon_error=1);
// --set-at writes one from a second file handle after step STEP (e.g. disconnect=1), the way
// v4l2-ctl would from another process. --work-ms simulates inference time per step.
// Exit codes: 0, 30 (open/negotiate/start), 31 (lost while streaming), 64 (usage).
import Glibc
import ThudMedia
import ThudBase

func fail(_ code: Int32, _ message: String) -> Never {
    fputs("thud-capture-check: \(message)\n", stderr)
    exit(code)
}

func parseSize(_ s: String, _ option: String) -> (Int, Int) {
    guard let size = FrameSize.parse(s) else { fail(64, "\(option) wants WxH (e.g. 320x240), got '\(s)'") }
    return size
}

struct ControlWrite { var step: Int; var name: String; var value: Int32 }

func parseControl(_ s: String, _ option: String) -> (String, Int32) {
    let kv = s.split(separator: "=", maxSplits: 1).map(String.init)
    guard kv.count == 2, !kv[0].isEmpty, let v = Int32(kv[1]) else { fail(64, "\(option) wants NAME=VALUE, got '\(s)'") }
    return (kv[0], v)
}

var args = Array(CommandLine.arguments.dropFirst())
var device: String?
var request = CaptureRequest()
var frames: Int?
var duration: Double?
var workMs = 0.0
var listOnly = false
var benchConvert = false
var quiet = false   // no step lines: what is left of the loop allocates nothing per step
var before: [(String, Int32)] = []
var during: [ControlWrite] = []
var i = 0
func value(_ option: String) -> String {
    i += 1
    guard i < args.count else { fail(64, "\(option) needs a value") }
    return args[i]
}
while i < args.count {
    let a = args[i]
    switch a {
    case "--frames":
        guard let n = Int(value(a)), n > 0 else { fail(64, "--frames wants a positive integer") }
        frames = n
    case "--duration":
        guard let d = Double(value(a)), d > 0 else { fail(64, "--duration wants seconds > 0") }
        duration = d
    case "--size": (request.captureWidth, request.captureHeight) = parseSize(value(a), a)
    case "--model-size": (request.outputWidth, request.outputHeight) = parseSize(value(a), a)
    case "--format":
        let v = value(a)
        guard let f = FourCC.parse(v) else { fail(64, "--format: unknown format '\(v)'") }
        request.format = f
    case "--fps":
        guard let f = Double(value(a)), f > 0, f <= 1000 else { fail(64, "--fps wants a rate in frames per second") }
        request.framesPerSecond = f
    case "--stall-timeout":
        guard let s = Double(value(a)), s > 0 else { fail(64, "--stall-timeout wants seconds > 0") }
        request.stallTimeout = s
    case "--work-ms":
        guard let w = Double(value(a)), w >= 0 else { fail(64, "--work-ms wants milliseconds >= 0") }
        workMs = w
    case "--set": before.append(parseControl(value(a), a))
    case "--set-at":
        let v = value(a)
        let parts = v.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let step = Int(parts[0]), step >= 0 else { fail(64, "--set-at wants STEP:NAME=VALUE, got '\(v)'") }
        let (n, val) = parseControl(parts[1], a)
        during.append(ControlWrite(step: step, name: n, value: val))
    case "--list": listOnly = true
    case "--bench-convert": benchConvert = true
    case "--quiet": quiet = true
    case "-h", "--help":
        print("usage: thud-capture-check DEVICE [--frames N | --duration S] [--size WxH] [--model-size WxH] [--format F] [--fps F] [--stall-timeout S] [--work-ms MS] [--set NAME=VALUE]... [--set-at STEP:NAME=VALUE]... [--list]")
        exit(0)
    default:
        if a.hasPrefix("-") { fail(64, "unknown option \(a)") }
        guard device == nil else { fail(64, "one device only (got \(device!) and \(a))") }
        device = a
    }
    i += 1
}
let path = device ?? "/dev/video0"
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
if benchConvert {
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

if listOnly {
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

// Ctrl-C / SIGTERM stop the session cleanly (see StopSignals); installed before any thread starts.
let signalLock = CaptureSignalBox()
StopSignals.install { sig in
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
latencies.reserveCapacity(frames ?? Int((duration ?? 1) * 12) + 16)
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
        if steps == 12 { allocationMark?(1, steps) }
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
