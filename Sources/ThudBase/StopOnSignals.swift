import Dispatch
import Foundation

/// Ctrl-C and SIGTERM as a request to stop, for every loop that runs until told (live, a network stream, watch,
/// record, thud-capture-check, and render, which also takes SIGHUP: a closed terminal must not leave its temporary
/// files): the signals are ignored as signals and taken on a dispatch source, so the request runs as ordinary code
/// on another thread (OpenBLAS's and FFmpeg's threads already run: a handler could not safely do anything), and the
/// loop ends on its own terms, writing what it has. Cancel (or let go) when the loop is over.
public final class StopOnSignals {
    private let sources: [DispatchSourceSignal]

    /// `requestStop` gets the signal's number; it may run more than once (one call per signal).
    public init(_ signals: [Int32] = [SIGINT, SIGTERM], _ requestStop: @escaping (_ signal: Int32) -> Void) {
        for sig in signals { signal(sig, SIG_IGN) }
        sources = signals.map { sig in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { requestStop(sig) }
            s.resume()
            return s
        }
    }

    public func cancel() { sources.forEach { $0.cancel() } }

    deinit { cancel() }
}

/// A stop request that a loop polls between steps: set from StopOnSignals' handler, read on the loop's thread.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var signalNumber: Int32?
    public init() {}
    /// The first signal wins; later ones change nothing.
    public func request(_ signal: Int32) { lock.lock(); if signalNumber == nil { signalNumber = signal }; lock.unlock() }
    /// The signal that asked to stop, nil while none has.
    public var signal: Int32? { lock.lock(); defer { lock.unlock() }; return signalNumber }
}
