import ArgumentParser
import Foundation
import ThudCommandLine
import ThudWeb

/// `--http [HOST:]PORT` and its access rules, shared by predict, live and watch: every feed in a browser.
struct WebOption: ParsableArguments {
    @Option(help: ArgumentHelp("Serve a live page of the feeds at this address (PORT alone: 127.0.0.1): each feed's picture, envelope strip with its hits flashing and state, the hits on record (--events) with their snapshots; /api/feeds, /api/events, /api/stream (Server-Sent Events) and /metrics (Prometheus) beside it. Any address but loopback needs --http-token.", valueName: "[HOST:]PORT"))
    var http: String?

    @Option(help: ArgumentHelp("Every request to --http must carry this token: as ?token=T once (the page keeps it in a cookie) or as `Authorization: Bearer T`. Letters, digits, . _ ~ - only, at least 16.", valueName: "TOKEN"))
    var httpToken: String?

    @Option(help: ArgumentHelp("As --http-token, read from the first line of FILE (so that it is not in the process list).", valueName: "FILE"))
    var httpTokenFile: String?

    @Option(help: ArgumentHelp("Live page streams served at once (default 8); one more is answered 503.", valueName: "N"))
    var httpMaxClients: Int = 8

    @Option(help: ArgumentHelp("Updates (ten a second) a page may fall behind before it is dropped (default 64): a slow client is cut off, never waited for.", valueName: "N"))
    var httpClientQueue: Int = 64

    func validate() throws {
        if http == nil && (httpToken != nil || httpTokenFile != nil) { throw ValidationError("--http-token and --http-token-file go with --http") }
        if httpToken != nil && httpTokenFile != nil { throw ValidationError("give --http-token or --http-token-file, not both") }
        guard let http else { return }
        guard let address = WebSettings.parseAddress(http) else { throw ValidationError("--http \(http): give PORT, HOST:PORT or [IPv6]:PORT (port 0…65535)") }
        if let t = httpToken { try Self.check(token: t) }
        if !WebSettings.isLoopback(address.host) && httpToken == nil && httpTokenFile == nil {
            throw ValidationError("--http \(http) is reachable from other machines: give --http-token or --http-token-file (or serve on 127.0.0.1)")
        }
        guard (1...1000).contains(httpMaxClients) else { throw ValidationError("--http-max-clients must be 1…1000") }
        guard (4...100_000).contains(httpClientQueue) else { throw ValidationError("--http-client-queue must be 4…100000") }
    }

    static func check(token: String) throws {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-")
        guard token.count >= 16, token.allSatisfy(allowed.contains) else {
            throw ValidationError("the --http token must be at least 16 letters, digits, . _ ~ or -")
        }
    }

    /// The checked settings, the token file read; nil without --http. A token file that cannot be read or holds no
    /// usable token is its one line (66 / 64).
    func settings() throws -> WebSettings? {
        guard let http, let address = WebSettings.parseAddress(http) else { return nil }
        var token = httpToken
        if let file = httpTokenFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw UsageError(message: "\(file): cannot read the --http token file")
            }
            let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            do { try Self.check(token: line) } catch { throw UsageError(message: "\(file): the first line is not a token (at least 16 letters, digits, . _ ~ or -)") }
            token = line
        }
        return WebSettings(host: address.host, port: address.port, token: token,
                           hub: .init(maxClients: httpMaxClients, clientQueue: httpClientQueue))
    }

    /// The running server for these feeds (started: it listens), nil without --http; one line says where.
    func start(feeds: [WebFeed], eventsPath: String?) throws -> WebServer? {
        guard let settings = try settings() else { return nil }
        let server = WebServer(hub: WebHub(feeds: feeds, settings: settings.hub, eventsPath: eventsPath), settings: settings)
        try server.start()
        noteLine("the page is at \(server.url)\(settings.token == nil ? "" : "?token=…") (\(feeds.count) feed\(feeds.count == 1 ? "" : "s"))")
        return server
    }
}
