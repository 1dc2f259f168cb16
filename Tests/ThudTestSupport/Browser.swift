// A page as a person meets it, for the web tests: headless Chromium (Debian's `chromium`, installed by
// tools/setup.sh) keeps a URL open while its scripts run, and hands back screenshots (decoded to RGB by ffmpeg) and
// the DOM as the scripts left it; plain HTTP requests beside it.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public struct Screenshot {
    public let width: Int
    public let height: Int
    /// RGB, rows packed.
    public let rgb: [UInt8]

    public func pixel(_ x: Int, _ y: Int) -> (r: Int, g: Int, b: Int) {
        let i = 3 * (y * width + x)
        return (Int(rgb[i]), Int(rgb[i + 1]), Int(rgb[i + 2]))
    }

    /// How many pixels `matches` says yes to.
    public func count(_ matches: (Int, Int, Int) -> Bool) -> Int {
        var n = 0
        for i in stride(from: 0, to: rgb.count, by: 3) where matches(Int(rgb[i]), Int(rgb[i + 1]), Int(rgb[i + 2])) { n += 1 }
        return n
    }
}

public enum Browser {
    public static var path: String? { ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) } }
}

/// One page open in headless Chromium, driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON
/// messages ending in NUL on fds 3 and 4), so that a test can let the page run for real seconds, screenshot it twice
/// and read its DOM as its scripts left it.
public final class BrowserPage {
    private let pid: pid_t
    private let toBrowser: FileHandle
    private let fromBrowser: FileHandle
    private var buffer = Data()
    private var nextID = 0
    private var sessionID = ""
    private let profile = TemporaryDirectory("chromium")

    public init(_ url: String, width: Int = 1280, height: Int = 900) throws {
        guard let browser = Browser.path else { throw BrowserError(message: "chromium is not installed (tools/setup.sh installs it)") }
        var toPipe: [Int32] = [0, 0], fromPipe: [Int32] = [0, 0]
        guard pipe(&toPipe) == 0, pipe(&fromPipe) == 0 else { throw BrowserError(message: "no pipes") }
        // Only fds 3 and 4 (dup2 clears the flag) reach the browser.
        for fd in toPipe + fromPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toPipe[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromPipe[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--remote-debugging-pipe",
                    "--user-data-dir=\(profile.url.path)", "--window-size=\(width),\(height)", "about:blank"]
        var argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, browser, &actions, nil, &argv, environ)
        close(toPipe[0]); close(fromPipe[1])
        guard rc == 0 else { throw BrowserError(message: "cannot start chromium: \(String(cString: strerror(rc)))") }
        pid = child
        toBrowser = FileHandle(fileDescriptor: toPipe[1], closeOnDealloc: true)
        fromBrowser = FileHandle(fileDescriptor: fromPipe[0], closeOnDealloc: true)
        let target = try call("Target.createTarget", ["url": url], session: nil)
        guard let targetID = target["targetId"] as? String else { throw BrowserError(message: "no page for \(url)") }
        let attached = try call("Target.attachToTarget", ["targetId": targetID, "flatten": true], session: nil)
        guard let s = attached["sessionId"] as? String else { throw BrowserError(message: "cannot attach to the page of \(url)") }
        sessionID = s
        _ = try call("Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// One DevTools command and its result (events in between are skipped).
    @discardableResult
    private func call(_ method: String, _ params: [String: Any] = [:], session: String?? = .none) throws -> [String: Any] {
        nextID += 1
        var message: [String: Any] = ["id": nextID, "method": method, "params": params]
        let s: String? = session ?? sessionID
        if let s, !s.isEmpty { message["sessionId"] = s }
        var data = try JSONSerialization.data(withJSONObject: message)
        data.append(0)
        toBrowser.write(data)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let end = buffer.firstIndex(of: 0) {
                let one = buffer[buffer.startIndex..<end]
                buffer = Data(buffer[(end + 1)...])
                guard let reply = try JSONSerialization.jsonObject(with: one) as? [String: Any], reply["id"] as? Int == nextID else { continue }
                if let error = reply["error"] as? [String: Any] { throw BrowserError(message: "\(method): \(error)") }
                return reply["result"] as? [String: Any] ?? [:]
            }
            let chunk = fromBrowser.availableData
            if chunk.isEmpty { throw BrowserError(message: "chromium closed its pipe during \(method)") }
            buffer.append(chunk)
        }
        throw BrowserError(message: "no answer to \(method) in 60 s")
    }

    /// The page as it is now, decoded to RGB (ffmpeg reads Chromium's PNG); `keep` also writes the PNG there.
    public func screenshot(keep: String? = nil) throws -> Screenshot {
        let result = try call("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let png = Data(base64Encoded: base64) else { throw BrowserError(message: "no screenshot") }
        let dir = TemporaryDirectory("shot")
        let file = keep ?? dir.path("page.png")
        try png.write(to: URL(fileURLWithPath: file))
        let ffmpeg = try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", file, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        _ = ffmpeg.waitForExit(timeout: 60)
        let probe = try RunningProcess("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", file])
        _ = probe.waitForExit(timeout: 60)
        let size = probe.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap { Int($0) }
        let rgb = [UInt8](ffmpeg.stdoutData)
        guard size.count == 2, rgb.count == size[0] * size[1] * 3 else { throw BrowserError(message: "the screenshot does not decode (\(rgb.count) bytes)") }
        return Screenshot(width: size[0], height: size[1], rgb: rgb)
    }

    /// The DOM as the page's scripts left it.
    public func dom() throws -> String {
        let result = try call("Runtime.evaluate", ["expression": "document.documentElement.outerHTML", "returnByValue": true])
        return ((result["result"] as? [String: Any])?["value"] as? String) ?? ""
    }
}

public struct BrowserError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// One HTTP request, waited for (a test's client beside the browser).
public enum HTTP {
    public struct Reply {
        public let status: Int
        public let headers: [String: String]
        public let body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public static func get(_ url: String, headers: [String: String] = [:], timeout: TimeInterval = 30) throws -> Reply {
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: timeout)
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        final class Box: @unchecked Sendable { var reply: Reply?; var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let session = URLSession(configuration: .ephemeral)
        session.dataTask(with: request) { data, response, error in
            if let http = response as? HTTPURLResponse {
                var h: [String: String] = [:]
                for (k, v) in http.allHeaderFields { h[String(describing: k).lowercased()] = String(describing: v) }
                box.reply = Reply(status: http.statusCode, headers: h, body: data ?? Data())
            }
            box.error = error
            done.signal()
        }.resume()
        done.wait()
        session.finishTasksAndInvalidate()
        if let reply = box.reply { return reply }
        throw box.error ?? BrowserError(message: "no reply from \(url)")
    }
}
