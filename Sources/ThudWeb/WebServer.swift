// `--http [HOST:]PORT`: the page, its live stream, the API and the metrics, served by Hummingbird on its own event
// loop threads for as long as the command runs. The handlers read what the hub keeps (WebHub) and the events
// database (read-only, WAL: a reader never waits for the writer); nothing here is on a feed's thread.
import Foundation
import Hummingbird
import Logging
import NIOCore
import ThudBase
import ThudEvents

/// What `--http` was given, checked: where to listen, and the token every request needs (required off loopback).
public struct WebSettings: Sendable {
    public var host: String
    public var port: Int
    public var token: String?
    public var hub: WebHub.Settings

    public init(host: String, port: Int, token: String?, hub: WebHub.Settings = .init()) {
        self.host = host; self.port = port; self.token = token; self.hub = hub
    }

    /// `PORT`, `HOST:PORT` or `[V6]:PORT`; nil when it is none of them.
    public static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        var host = "127.0.0.1", portText = Substring(text)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        return (host, port)
    }

    /// Loopback addresses: reachable from this machine only, so no token is needed.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// Why the web server could not start: one line (74).
public struct WebServerError: OneLineError {
    public let message: String
    public var exitCode: Int32 { 74 }
}

public final class WebServer: @unchecked Sendable {
    public let hub: WebHub
    public let settings: WebSettings
    /// The port it listens on (the one asked for, or the one the system chose for port 0).
    public private(set) var port = 0
    private var task: Task<Void, Never>?
    private let finished = DispatchSemaphore(value: 0)

    public init(hub: WebHub, settings: WebSettings) { self.hub = hub; self.settings = settings }

    /// Starts the hub's pump and the server; returns once it listens. A port in use, an address this machine does not
    /// have: one line (74).
    public func start() throws {
        let router = Router(context: WebContext.self)
        if let token = settings.token { router.add(middleware: TokenMiddleware(token: token)) }
        addRoutes(router)
        // Hummingbird's own log lines go to stderr, errors only: stdout is the run's JSON lines.
        var logger = Logger(label: "thud-web", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .error
        let running = DispatchSemaphore(value: 0)
        final class Outcome: @unchecked Sendable { var port: Int?; var error: Error? }
        let outcome = Outcome()
        let app = Application(router: router,
                              configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "thud"),
                              onServerRunning: { channel in outcome.port = channel.localAddress?.port; running.signal() },
                              logger: logger)
        hub.start()
        let finished = self.finished
        task = Task.detached {
            do { try await app.runService(gracefulShutdownSignals: []) } catch { outcome.error = error }
            running.signal()
            finished.signal()
        }
        running.wait()
        guard let port = outcome.port else {
            hub.stop()
            task = nil
            let reason = (outcome.error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? outcome.error.map { "\($0)" } ?? "it stopped"
            throw WebServerError(message: "--http \(settings.host):\(settings.port): cannot listen: \(reason)")
        }
        self.port = port
    }

    /// The page's address as the start line shows it.
    public var url: String {
        let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        return "http://\(host == "0.0.0.0" || host == "[::]" ? "localhost" : host):\(port)/"
    }

    /// Ends the live streams (their handlers return), then the server (waiting up to 3 s for it). Once.
    public func stop() {
        guard let task else { return }
        self.task = nil
        hub.stop()
        task.cancel()
        _ = finished.wait(timeout: .now() + 3)
    }

    private func addRoutes(_ router: Router<WebContext>) {
        let hub = self.hub
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: WebPage.html)))
        }
        router.get("/api/feeds") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: hub.feedsJSON())))
        }
        router.get("/api/feeds/:name/picture.jpg") { _, context in
            let name = context.parameters.get("name") ?? ""
            guard let picture = hub.picture(feed: name) else { return Response(status: .notFound) }
            // No picture yet (none was wanted until now): 204, and the pump starts making them.
            guard !picture.bytes.isEmpty else { return Response(status: .noContent, headers: [.cacheControl: "no-store"]) }
            return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: picture.bytes)))
        }
        router.get("/api/stream") { _, context in
            guard let client = hub.openStream() else {
                return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain", .retryAfter: "5"],
                                body: .init(byteBuffer: ByteBuffer(string: "too many live streams open (--http-max-clients)\n")))
            }
            let channel = context.channel
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                            body: .init { writer in
                defer { hub.closeStream(client) }
                // A client too slow for its queue is dropped by the pump: its connection is closed, which also ends a
                // write that waits on its full socket.
                let closer = Task {
                    for await _ in client.dropped {}
                    if client.wasDropped { channel.close(promise: nil) }
                }
                defer { closer.cancel() }
                for await message in client.messages { try await writer.write(message) }
                try await writer.finish(nil)
            })
        }
        router.get("/api/events") { request, _ in
            let q = request.uri.queryParameters
            guard let path = hub.eventsPath else {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "[]")))
            }
            let since = q.get("since").flatMap(Double.init)
            let limit = min(1000, max(1, q.get("limit").flatMap(Int.init) ?? 200))
            do {
                let json = try WebEvents.list(path: path, feed: q.get("feed").map { String($0) }, since: since, limit: limit)
                return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                                body: .init(byteBuffer: ByteBuffer(string: json)))
            } catch {
                return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain"],
                                body: .init(byteBuffer: ByteBuffer(string: "\(error)\n")))
            }
        }
        router.get("/api/events/:id/snapshot.jpg") { _, context in
            guard let path = hub.eventsPath, let id = context.parameters.get("id").flatMap(Int64.init),
                  let jpeg = try? WebEvents.snapshot(path: path, id: id), !jpeg.isEmpty else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "max-age=86400"],
                            body: .init(byteBuffer: ByteBuffer(bytes: jpeg)))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: hub.registry.emitToBuffer())))
        }
    }
}

/// Hummingbird's basic context plus the connection, so that a dropped live stream can be closed.
struct WebContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Every request needs the token (`--http-token`): as `Authorization: Bearer T`, as `?token=T` (the page's first
/// visit: it is then kept in a cookie, so the page's own requests and its live stream carry it), or that cookie.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let query = request.uri.queryParameters.get("token").map { String($0) }
        let cookie = request.headers[.cookie].flatMap { header in
            header.split(separator: ";").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.hasPrefix("thud_token=") }.map { String($0.dropFirst("thud_token=".count)) }
        }
        guard [bearer, query, cookie].contains(where: { $0.map(Self.sameToken(token)) ?? false }) else {
            return Response(status: .unauthorized, headers: [.contentType: "text/plain", .wwwAuthenticate: "Bearer"],
                            body: .init(byteBuffer: ByteBuffer(string: "this thud needs its token (--http-token): ?token=… or Authorization: Bearer …\n")))
        }
        var response = try await next(request, context)
        if query != nil { response.headers[.setCookie] = "thud_token=\(token); Path=/; HttpOnly; SameSite=Strict" }
        return response
    }

    /// Compares in time independent of where the two differ.
    static func sameToken(_ expected: String) -> (String) -> Bool {
        { given in
            let a = Array(expected.utf8), b = Array(given.utf8)
            var diff = a.count ^ b.count
            for i in 0..<max(a.count, b.count) { diff |= Int((i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)) }
            return diff == 0
        }
    }
}
