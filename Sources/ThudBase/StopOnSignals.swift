import Dispatch
import Glibc

/// Ctrl-C and SIGTERM as a request to stop, for every loop that runs until told (live, a network stream, watch,
/// record, thud-capture-check): the signals are ignored as signals and taken on a dispatch source, so the request runs as ordinary code
/// on another thread (OpenBLAS's and FFmpeg's threads already run: a handler could not safely do anything), and the
/// loop ends on its own terms, writing what it has. Cancel (or let go) when the loop is over.
public final class StopOnSignals {
    private let sources: [DispatchSourceSignal]

    /// `requestStop` gets the signal's number; it may run more than once (one call per signal).
    public init(_ requestStop: @escaping (_ signal: Int32) -> Void) {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        sources = [SIGINT, SIGTERM].map { sig in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { requestStop(sig) }
            s.resume()
            return s
        }
    }

    public func cancel() { sources.forEach { $0.cancel() } }

    deinit { cancel() }
}
