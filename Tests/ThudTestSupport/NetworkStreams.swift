import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Real network streams for the tests, made in the test: ffmpeg senders (UDP MPEG-TS, RTSP pushes, HTTP served by
/// ffmpeg itself), a static HTTP server for HLS and progressive files, free ports on 127.0.0.1, and a running
/// executable whose output lines can be awaited.
public enum FreePort {
    /// A port nobody listens on right now (bound to port 0, read back, closed).
    public static func pick(udp: Bool = false) -> Int {
        let fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        return bindLoopback(fd) ?? 0
    }

    /// Binds the socket to a port the system picks on 127.0.0.1 and returns that port (nil if binding failed).
    public static func bindLoopback(_ fd: Int32) -> Int? {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        return ok ? Int(UInt16(bigEndian: addr.sin_port)) : nil
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:port (a guard against a hang, not a speed limit).
    @discardableResult
    public static func waitUntilListening(_ port: Int, timeout: TimeInterval = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = UInt16(port).bigEndian
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
            close(fd)
            if ok { return true }
            usleep(50_000)
        }
        return false
    }
}

/// A child process (an ffmpeg sender, a server, the built `thud`) whose stdout lines and stderr are collected as they
/// come, so a test can wait for output, kill it mid-stream and restart it.
public final class RunningProcess: @unchecked Sendable {
    public let process = Process()
    private let lock = NSCondition()
    private var outData = Data()
    private var errData = Data()
    private var outDone = false, errDone = false

    /// Starts `executable` (a path or a name on PATH) with `args`.
    public init(_ executable: String, _ args: [String], environment: [String: String] = [:]) throws {
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = args
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + args
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        for (handle, isOut) in [(out.fileHandleForReading, true), (err.fileHandleForReading, false)] {
            Thread.detachNewThread { [self] in
                while true {
                    let chunk = handle.availableData
                    lock.lock()
                    if chunk.isEmpty { if isOut { outDone = true } else { errDone = true } } else if isOut { outData.append(chunk) } else { errData.append(chunk) }
                    lock.broadcast()
                    lock.unlock()
                    if chunk.isEmpty { return }
                }
            }
        }
    }

    /// Starts the built executable `name` of this package.
    public static func thud(_ args: [String], executable name: String = "thud") throws -> RunningProcess {
        try RunningProcess(Executable.url(name).path, args)
    }

    public var stdoutText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: outData, as: UTF8.self) }
    /// Stdout as bytes (a picture ffmpeg wrote there).
    public var stdoutData: Data { lock.lock(); defer { lock.unlock() }; return outData }
    public var stderrText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errData, as: UTF8.self) }
    public var lines: [String] { stdoutText.split(separator: "\n").map(String.init) }

    /// Waits until stdout has `count` whole lines matching `filter` (or the process ends, or `timeout` passes: a
    /// guard against a hang, not a speed requirement). Returns whether they came.
    @discardableResult
    public func waitForLines(_ count: Int, matching filter: (String) -> Bool = { _ in true }, timeout: TimeInterval = 120) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock(); defer { lock.unlock() }
        while true {
            let text = String(decoding: outData, as: UTF8.self)
            let whole = text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)])
            if whole.split(separator: "\n").filter({ filter(String($0)) }).count >= count { return true }
            if outDone || Date() > deadline { return false }
            _ = lock.wait(until: min(deadline, Date().addingTimeInterval(0.2)))
        }
    }

    /// Waits for the exit (killing it after `timeout`: a hang guard) and for its output to be read; returns the status
    /// and whether it ended by a signal.
    @discardableResult
    public func waitForExit(timeout: TimeInterval = 120) -> (status: Int32, signaled: Bool, timedOut: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline { timedOut = true; kill(process.processIdentifier, SIGKILL) ; break }
            usleep(20_000)
        }
        process.waitUntilExit()
        lock.lock()
        while !(outDone && errDone) { if !lock.wait(until: Date().addingTimeInterval(5)) { break } }
        lock.unlock()
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal, timedOut)
    }

    /// SIGKILL: a sender that dies mid-stream, no goodbye.
    public func kill9() { if process.isRunning { kill(process.processIdentifier, SIGKILL) }; process.waitUntilExit() }
    public func terminate() { if process.isRunning { kill(process.processIdentifier, SIGTERM) } }

    /// The resident memory of the running process, kB (VmRSS), nil once it ended.
    public var residentKilobytes: Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// ffmpeg senders of a synthetic moving picture (testsrc2) encoded as H.264 with a short GOP, so a receiver that
/// joins late starts within half a second.
public enum StreamSender {
    public static func h264Input(seconds: Double, size: String = "320x180", rate: Int = 30) -> [String] {
        ["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=\(rate)",
         "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-pix_fmt", "yuv420p"]
    }

    /// MPEG-TS over UDP to 127.0.0.1:port, in real time.
    public static func udp(port: Int, seconds: Double, size: String = "320x180") throws -> RunningProcess {
        try RunningProcess("ffmpeg", h264Input(seconds: seconds, size: size) + ["-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"])
    }

    /// MPEG-TS over UDP with sound, in real time: a black picture that turns white for 0.1 s at every whole second
    /// and a 20 ms 1 kHz click at the same instants (both sources count time from 0), so that a recording of it can
    /// be checked for audio and video alignment. `audioCodec`: "aac", or "mp2" (ffmpeg's MPEG-TS default); `gop`: frames
    /// from one keyframe to the next (at 30 fps).
    public static func flashAndClickUDP(port: Int, seconds: Double, audioCodec: String, size: String = "160x96", gop: Int = 15) throws -> RunningProcess {
        try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error",
                                      "-re", "-f", "lavfi", "-i", "color=c=black:s=\(size):r=30,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'",
                                      "-re", "-f", "lavfi", "-i", "aevalsrc='if(lt(mod(t\\,1)\\,0.02)\\,0.8*sin(2*PI*1000*t)\\,0)':s=48000",
                                      "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "\(gop)",
                                      "-pix_fmt", "yuv420p", "-c:a", audioCodec, "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"])
    }

    /// Random bytes over UDP (no container at all).
    public static func garbageUDP(port: Int, seconds: Double) throws -> RunningProcess {
        try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "anoisesrc=r=48000:d=\(seconds)",
                                      "-f", "s16le", "-ac", "2", "udp://127.0.0.1:\(port)?pkt_size=1316"])
    }

    /// Pushes to an RTSP server (ANNOUNCE/RECORD) over `transport`.
    public static func rtspPush(url: String, transport: String, seconds: Double) throws -> RunningProcess {
        try RunningProcess("ffmpeg", h264Input(seconds: seconds) + ["-f", "rtsp", "-rtsp_transport", transport, url])
    }

    /// ffmpeg as a one-client HTTP server of a live MPEG-TS stream (its http protocol's listen mode).
    public static func httpServe(port: Int, seconds: Double) throws -> RunningProcess {
        try RunningProcess("ffmpeg", h264Input(seconds: seconds) + ["-f", "mpegts", "-listen", "1", "http://127.0.0.1:\(port)/live.ts"])
    }

    /// A clip file (H.264 in MP4 with its index first, or MPEG-TS) made with ffmpeg.
    public static func writeClip(_ path: String, seconds: Double, extra: [String] = []) throws {
        let p = try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
                                              "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p"]
                                   + extra + ["-y", path])
        p.waitForExit()
    }
}

/// A static HTTP/1.0 file server on 127.0.0.1 (GET, whole files, Content-Length), enough for HLS playlists and
/// segments and progressive files.
public final class StaticHTTPServer: @unchecked Sendable {
    public let port: Int
    private let fd: Int32
    private let root: String

    public init(root: String) throws {
        self.root = root
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = FreePort.bindLoopback(fd)
        port = bound ?? 0
        guard bound != nil, listen(fd, 16) == 0 else { close(fd); throw NSError(domain: "StaticHTTPServer", code: 1) }
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                Thread.detachNewThread { self.serve(client) }
            }
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var request = [UInt8](repeating: 0, count: 4096)
        let n = read(client, &request, request.count)
        guard n > 0 else { return }
        let line = String(decoding: request[0..<n], as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = line.split(separator: " ")
        let path = parts.count > 1 ? String(parts[1].split(separator: "?").first ?? "") : "/"
        let file = root + path
        func send(_ bytes: [UInt8]) { var at = 0; while at < bytes.count { let w = write(client, Array(bytes[at...]), bytes.count - at); if w <= 0 { return }; at += w } }
        guard !path.contains(".."), let data = FileManager.default.contents(atPath: file) else {
            send(Array("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".utf8))
            return
        }
        let type = path.hasSuffix(".m3u8") ? "application/vnd.apple.mpegurl" : path.hasSuffix(".ts") ? "video/mp2t" : "video/mp4"
        send(Array("HTTP/1.0 200 OK\r\nContent-Type: \(type)\r\nContent-Length: \(data.count)\r\nConnection: close\r\n\r\n".utf8))
        send([UInt8](data))
    }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

/// A UDP relay on 127.0.0.1 that forwards every datagram from `inPort` to `outPort` until `cut` is set: a network
/// that drops a stream for a while without the sender knowing (its timestamps run on).
public final class UDPRelay: @unchecked Sendable {
    public let inPort: Int
    public let outPort: Int
    private let fd: Int32
    private let lock = NSLock()
    private var isCut = false
    private var stopped = false

    public init(outPort: Int) throws {
        self.outPort = outPort
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        self.fd = fd
        let bound = FreePort.bindLoopback(fd)
        inPort = bound ?? 0
        guard bound != nil else { close(fd); throw NSError(domain: "UDPRelay", code: 1) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        Thread.detachNewThread { [self] in
            var to = sockaddr_in()
            to.sin_family = sa_family_t(AF_INET)
            to.sin_addr.s_addr = inet_addr("127.0.0.1")
            to.sin_port = UInt16(outPort).bigEndian
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                lock.lock(); let done = stopped; let drop = isCut; lock.unlock()
                if done { return }
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0, !drop else { continue }
                _ = withUnsafePointer(to: &to) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buffer, n, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        }
    }

    /// Drops (true) or forwards (false) from now on.
    public var cut: Bool {
        get { lock.lock(); defer { lock.unlock() }; return isCut }
        set { lock.lock(); isCut = newValue; lock.unlock() }
    }

    deinit {
        lock.lock(); stopped = true; lock.unlock()
        usleep(300_000)
        close(fd)
    }
}
