// A page as a person meets it, for the web tests: headless Chromium (Debian's `chromium`, installed by
// tools/setup.sh) loads a URL, runs its scripts for a while and hands back a screenshot (decoded to RGB by ffmpeg) or
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

    /// Chromium's command line for one page, a throwaway profile; `--timeout` lets the page's scripts (and its live
    /// stream) run that long before the capture.
    static func run(_ url: String, _ what: [String], waitMilliseconds: Int, size: String) throws -> (out: Data, status: Int32) {
        guard let browser = path else { throw BrowserError(message: "chromium is not installed (tools/setup.sh installs it)") }
        let profile = TemporaryDirectory("chromium")
        let p = try RunningProcess(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                             "--user-data-dir=\(profile.url.path)", "--window-size=\(size.replacingOccurrences(of: "x", with: ","))",
                                             "--timeout=\(waitMilliseconds)"] + what + [url])
        let end = p.waitForExit(timeout: 180)
        if end.timedOut { p.kill9() }
        return (p.stdoutData, end.status)
    }

    /// A screenshot of `url` after its scripts ran `waitMilliseconds`.
    public static func screenshot(_ url: String, waitMilliseconds: Int = 4000, size: String = "1280x900", keep: String? = nil) throws -> Screenshot {
        let dir = TemporaryDirectory("shot")
        let png = keep ?? dir.path("page.png")
        try? FileManager.default.removeItem(atPath: png)
        _ = try run(url, ["--screenshot=\(png)"], waitMilliseconds: waitMilliseconds, size: size)
        guard FileManager.default.fileExists(atPath: png) else { throw BrowserError(message: "chromium wrote no screenshot of \(url)") }
        let parts = size.split(separator: "x").compactMap { Int($0) }
        let ffmpeg = try RunningProcess("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", png, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        _ = ffmpeg.waitForExit(timeout: 60)
        let rgb = [UInt8](ffmpeg.stdoutData)
        guard parts.count == 2, rgb.count == parts[0] * parts[1] * 3 else {
            throw BrowserError(message: "the screenshot of \(url) is not \(size) (\(rgb.count) bytes of RGB)")
        }
        return Screenshot(width: parts[0], height: parts[1], rgb: rgb)
    }

    /// The DOM of `url` after its scripts ran `waitMilliseconds`.
    public static func dom(_ url: String, waitMilliseconds: Int = 4000, size: String = "1280x900") throws -> String {
        let (out, _) = try run(url, ["--dump-dom"], waitMilliseconds: waitMilliseconds, size: size)
        return String(decoding: out, as: UTF8.self)
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
