import Foundation
import ThudMedia

/// A fresh directory under the system temp dir, removed by `cleanup()`.
public final class TemporaryDirectory {
    public let url: URL
    public init(_ label: String = "thud") {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    public func cleanup() { try? FileManager.default.removeItem(at: url) }
    deinit { cleanup() }
}

/// Test clips whose pictures carry their own frame number, so a test can read back which source frame a
/// 12 Hz step shows. The number is drawn as 8 vertical bars (bit 7 on the left), white for 1, black for 0,
/// which survive any downscaling to the model's size.
public enum FrameCounterClip {
    public static let bits = 8

    /// Writes a clip whose frame i is shown at `times[i]`; returns the path. Audio: a click at each `clicks` time.
    @discardableResult
    public static func write(path: String, times: [Double], width: Int = 160, height: Int = 96,
                             codec: VideoCodecChoice = .h264, nominalFrameRate: Double,
                             audio: AudioEncodeSettings? = nil, clicks: [Double] = [], audioSeconds: Double? = nil,
                             format: String? = nil) throws -> String {
        let writer = try MediaWriter(path: path, video: VideoEncodeSettings(width: width, height: height, codec: codec, nominalFrameRate: nominalFrameRate, crf: 18),
                                     audio: audio, format: format)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for (i, t) in times.enumerated() {
            draw(number: i, into: &rgb, width: width, height: height)
            try rgb.withUnsafeBufferPointer { try writer.writeVideoFrame(rgb: $0, stride: width * 3, time: t) }
        }
        if let audio {
            let seconds = audioSeconds ?? (times.last.map { $0 + 0.1 } ?? 1)
            let samples = clickTrack(rate: audio.sampleRate, channels: audio.channels, seconds: seconds, clicks: clicks)
            try samples.withUnsafeBufferPointer { try writer.writeAudio(interleaved: $0) }
        }
        try writer.finish()
        return path
    }

    /// Frame times for a constant rate: i/fps for i in 0..<count, computed exactly as integer ratios.
    public static func times(fpsNumerator: Int, fpsDenominator: Int = 1, seconds: Double) -> [Double] {
        let count = Int((seconds * Double(fpsNumerator) / Double(fpsDenominator)).rounded(.down))
        return (0..<count).map { Double($0 * fpsDenominator) / Double(fpsNumerator) }
    }

    public static func draw(number: Int, into rgb: inout [UInt8], width: Int, height: Int) {
        let barWidth = width / bits
        for y in 0..<height {
            for x in 0..<width {
                let bit = min(bits - 1, x / barWidth)
                let on = (number >> (bits - 1 - bit)) & 1 == 1
                let v: UInt8 = on ? 235 : 16
                let o = (y * width + x) * 3
                rgb[o] = v; rgb[o + 1] = v; rgb[o + 2] = v
            }
        }
    }

    /// Reads the number back from a gray frame of any size (the centre of each bar).
    public static func read(gray: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> Int {
        var n = 0
        let row = height / 2
        for bit in 0..<bits {
            let x = (bit * width + width / 2) / bits
            n = (n << 1) | (gray[row * width + x] > 128 ? 1 : 0)
        }
        return n
    }

    /// Silence with a 5 ms full-scale click at each time (first channel), a steady tone on the others.
    public static func clickTrack(rate: Int, channels: Int, seconds: Double, clicks: [Double]) -> [Float] {
        let n = Int(seconds * Double(rate))
        var x = [Float](repeating: 0, count: n * channels)
        var state: UInt32 = 12345
        for t in clicks {
            let start = Int(t * Double(rate))
            for i in start..<min(n, start + rate / 200) {
                state = state &* 1_664_525 &+ 1_013_904_223
                x[i * channels] = Float(Int32(bitPattern: state)) / Float(Int32.max) * 0.9
            }
        }
        if channels > 1 {
            for i in 0..<n { for c in 1..<channels { x[i * channels + c] = 0.3 * sin(Float(i) * 0.05) } }
        }
        return x
    }
}

/// Runs a built executable of this package (from the same build folder as the tests).
public enum Executable {
    public static func url(_ name: String) -> URL {
        // Tests run from <build>/debug/ThudPackageTests.xctest; the executables sit beside it.
        var dir = Bundle.main.bundleURL
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let u = candidate.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: u.path) { return u }
        }
        dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return dir.appendingPathComponent(name)
    }

    public struct Result {
        public var status: Int32
        /// Ended by a signal (a crash: SIGILL from a Swift trap, SIGSEGV, SIGABRT); `status` is then the signal number.
        public var signaled = false
        public var stdout: Data
        public var stderr: Data
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
        public var lines: [String] { stdoutText.split(separator: "\n").map(String.init) }
    }

    /// Runs `name args`, feeding `stdin` (a file path) if given, and waits (with a timeout that fails loudly
    /// instead of hanging the suite).
    public static func run(_ name: String, _ args: [String], stdinFile: String? = nil, environment: [String: String] = [:],
                           timeout: TimeInterval = 120) throws -> Result {
        try launch(name, args, environment: environment, timeout: timeout,
                   stdin: stdinFile.map { .file($0) } ?? .none, stdout: .collect)
    }

    /// Where a launched executable's stdin comes from and its stdout goes.
    public enum Input { case none, file(String), pipe(Data) }
    public enum Output { case collect, file(String) }

    /// The one runner behind every `run`: starts `name args`, feeds stdin (a pipe is written on its own thread; a
    /// reader that stops early closes it, which is fine), collects stdout (unless it goes to a file) and stderr on
    /// reader threads, and waits, failing loudly after `timeout` instead of hanging the suite.
    public static func launch(_ name: String, _ args: [String], environment: [String: String] = [:], timeout: TimeInterval,
                              stdin: Input, stdout: Output) throws -> Result {
        let process = Process()
        process.executableURL = url(name)
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        switch stdout {
        case .collect: process.standardOutput = out
        case .file(let path):
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw NSError(domain: "Executable", code: 2, userInfo: [NSLocalizedDescriptionKey: "cannot open \(path)"])
            }
            process.standardOutput = handle
        }
        process.standardError = err
        switch stdin {
        case .none: process.standardInput = FileHandle.nullDevice
        case .file(let path): process.standardInput = FileHandle(forReadingAtPath: path)
        case .pipe: process.standardInput = inPipe
        }
        try process.run()
        let outData = Collected(), errData = Collected()
        let group = DispatchGroup()
        if case .collect = stdout {
            group.enter(); DispatchQueue.global().async { outData.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        }
        group.enter(); DispatchQueue.global().async { errData.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if case .pipe(let input) = stdin {
            let writer = inPipe.fileHandleForWriting
            DispatchQueue.global().async {
                signal(SIGPIPE, SIG_IGN)
                try? writer.write(contentsOf: input)
                try? writer.close()
            }
        }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            throw NSError(domain: "Executable", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) \(args) did not finish within \(timeout) s"])
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                      stdout: outData.data, stderr: errData.data)
    }

    /// Filled by one reader thread, read after it has finished (the group's wait orders the two).
    private final class Collected: @unchecked Sendable { var data = Data() }
}

extension Executable {
    /// Runs `name args` reading from a pipe: writes the first half of `input`, waits (up to `timeout`) for
    /// a whole line of output while the second half is still unsent, then sends the rest. Returns the
    /// output that arrived early, all of it, and the exit status — how tests show that output starts
    /// before the input ends.
    public static func feedHalfThenRest(_ name: String, _ args: [String], input: Data, timeout: TimeInterval = 30) throws
        -> (early: Data, all: Data, status: Int32) {
        let process = Process()
        process.executableURL = url(name)
        process.arguments = args
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(input.prefix(input.count / 2))
        let box = EarlyOutput()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            while !box.data.contains(10) {
                let chunk = stdout.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                box.data.append(chunk)
            }
            done.signal()
        }
        _ = done.wait(timeout: .now() + timeout)
        let early = box.data
        stdin.fileHandleForWriting.write(input.suffix(from: input.count / 2))
        try stdin.fileHandleForWriting.close()
        let rest = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (early, early + rest, process.terminationStatus)
    }

    private final class EarlyOutput: @unchecked Sendable { var data = Data() }
}
