// `--reload`: a model file that changes while a feed runs (a learner writing it: `thud-train adapt --out M`) swaps in
// between two steps. One ModelWatch per file, shared by every feed of a run (the file is read and checked once, the
// weights shared); one ModelReloader per feed, which makes that feed's own EnvelopeStream over them.
import Foundation
import ThudBase
import ThudMedia
import ThudModel

/// Watches one model file: looks at it at most once a second (a stat: its inode, size and modification time), and
/// loads it when it changed. A file written in place and caught half-way fails its checksum and is refused (one line
/// through `warn`) until it changes again; a writer that renames a whole file into place (AtomicFile, thud-train) is
/// never seen half-way. Thread-safe: every feed of `thud watch` asks it from its own thread.
public final class ModelWatch: @unchecked Sendable {
    public let path: String
    private let warn: (String) -> Void
    private let lock = NSLock()
    private var signature: [Int64]
    private var lastLook = MonotonicClock.seconds()
    /// The latest model that loaded, and how many times one has (feeds compare it with the one they run).
    private(set) var current: StreamingModel
    private(set) var generation = 0
    /// A changed file is being loaded (on its own thread).
    private var loading = false
    public static let lookInterval = 1.0

    /// `model` is the one loaded from `path` at the start.
    public init(path: String, model: StreamingModel, warn: @escaping (String) -> Void) {
        self.path = path; self.warn = warn
        current = model
        signature = Self.signature(path)
    }

    static func signature(_ path: String) -> [Int64] {
        var st = stat()
        guard stat(path, &st) == 0 else { return [] }
        return [Int64(st.st_ino), Int64(st.st_size), Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)]
    }

    /// The model feeds should run now and its generation. A changed file is loaded on a thread of its own, never on
    /// the asking feed's (reading, checking and probing a model takes milliseconds here and far longer on a slow
    /// machine: a feed that waited for it would skip steps); the feeds take it at a later step, once it is loaded.
    func latest() -> (model: StreamingModel, generation: Int) {
        lock.lock(); defer { lock.unlock() }
        let now = MonotonicClock.seconds()
        guard !loading, now - lastLook >= Self.lookInterval else { return (current, generation) }
        lastLook = now
        let seen = Self.signature(path)
        guard !seen.isEmpty, seen != signature else { return (current, generation) }
        signature = seen
        loading = true
        let width = current.inputWidth, height = current.inputHeight
        Thread.detachNewThread { [self] in
            let fresh = load(expectingWidth: width, height: height)
            lock.lock()
            if let fresh {
                current = fresh
                generation += 1
            }
            loading = false
            lock.unlock()
        }
        return (current, generation)
    }

    /// Loads the file, or says in one line why it is refused (the running model stays).
    private func load(expectingWidth width: Int, height: Int) -> StreamingModel? {
        do {
            let fresh = try StreamingModel(path: path)
            guard fresh.inputWidth == width, fresh.inputHeight == height else {
                warn("model file \(path): changed to input \(fresh.inputWidth)x\(fresh.inputHeight), not the running \(width)x\(height); keeping the running model")
                return nil
            }
            return fresh
        } catch let error as OneLineError {
            warn("\(error.message); keeping the running model")
        } catch {
            warn("model file \(path): \(error); keeping the running model")
        }
        return nil
    }
}

/// One feed's side of `--reload`: between two steps, a newer model from the watch becomes this feed's stream.
public final class ModelReloader {
    public let watch: ModelWatch
    private var generation = 0
    private let picker: (StreamingModel) throws -> PeakPicker.Configuration
    private let note: (String) -> Void

    /// `picker`: the peak picker for a model (its recorded one with the command line's overrides); `note` gets the
    /// one line a swap prints on stderr.
    public init(watch: ModelWatch, picker: @escaping (StreamingModel) throws -> PeakPicker.Configuration, note: @escaping (String) -> Void) {
        self.watch = watch; self.picker = picker; self.note = note
    }

    /// A stream over the newer model if one loaded since this feed last asked, else nil. The new stream starts from a
    /// zero LSTM state, as every training window did: the old state is a function of the old weights, which the
    /// new ones would read as noise, and a zero state settles within the model's first second of frames.
    func newStream(name: String) -> (stream: EnvelopeStream, learnedSeconds: Double?)? {
        let (model, seen) = watch.latest()
        guard seen != generation else { return nil }
        generation = seen
        let replica = StreamingModel(sharingWeightsOf: model)
        let configuration: PeakPicker.Configuration
        do { configuration = try picker(replica) } catch {
            note("\(name): \((error as? OneLineError)?.message ?? "\(error)"); keeping the running model")
            return nil
        }
        let learned = model.header.provenance["learned_seconds"].flatMap(Double.init)
        note("\(name): model \(watch.path) loaded (\(learned.map { Format.fixed($0, 0) + " s of this feed learned" } ?? "changed on disk")); the LSTM starts from a zero state")
        return (EnvelopeStream(model: replica, picker: configuration), learned)
    }
}
