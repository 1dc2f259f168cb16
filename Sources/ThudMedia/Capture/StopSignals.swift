import Glibc

/// Ctrl-C / SIGTERM for a live loop: blocks SIGINT and SIGTERM in the calling thread (call it
/// before any other thread starts, so they inherit the mask) and takes them on one thread with
/// sigwait, which may then run ordinary code such as `CaptureSession.requestStop()`; a signal
/// handler could not safely take the session's locks. The action runs once, for the first signal.
public enum StopSignals {
    private final class Waiter {
        let action: (Int32) -> Void
        var set: sigset_t
        init(action: @escaping (Int32) -> Void, set: sigset_t) { self.action = action; self.set = set }
    }

    public static func install(_ action: @escaping (_ signal: Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        var tid = pthread_t()
        pthread_create(&tid, nil, { raw in
            let w = Unmanaged<Waiter>.fromOpaque(raw!).takeRetainedValue()
            var sig: Int32 = 0
            sigwait(&w.set, &sig)
            w.action(sig)
            return nil
        }, Unmanaged.passRetained(Waiter(action: action, set: set)).toOpaque())
        pthread_detach(tid)
    }
}
