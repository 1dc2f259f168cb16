import Synchronization

/// Bounded lock-free single-producer single-consumer ring (Lamport queue).
///
/// Why: the inference loop must never wait on audio and the audio thread must never wait on
/// the model, so neither side takes a lock. Exactly one thread may call `push` and exactly one
/// (other) thread may call `pop`. Indices grow without wrapping (Int is 64-bit); the slot is
/// `index & mask`. The producer publishes a slot with a release store of `tail`; the consumer
/// frees it with a release store of `head`. Full queue: `push` returns false and the caller
/// drops the event (explicit drop policy; the sink counts drops) instead of blocking.
/// `Element` should be a trivial value type so that pushing and popping never allocate.
public final class SPSCQueue<Element> {
    public let capacity: Int
    private let mask: Int
    private let slots: UnsafeMutablePointer<Element>
    private let head = Atomic<Int>(0)  // next index to read; written by the consumer only
    private let tail = Atomic<Int>(0)  // next index to write; written by the producer only

    /// `capacity` is rounded up to a power of two so the slot index is a mask, not a division.
    public init(capacity: Int) {
        precondition(capacity > 0, "SPSCQueue capacity must be positive")
        var c = 1
        while c < capacity { c <<= 1 }
        self.capacity = c
        self.mask = c - 1
        self.slots = UnsafeMutablePointer<Element>.allocate(capacity: c)
    }

    deinit {
        let h = head.load(ordering: .relaxed), t = tail.load(ordering: .relaxed)
        for i in h..<t { (slots + (i & mask)).deinitialize(count: 1) }
        slots.deallocate()
    }

    /// Producer side. Returns false (and leaves the queue unchanged) when full.
    @inline(__always)
    public func push(_ element: Element) -> Bool {
        let t = tail.load(ordering: .relaxed)
        let h = head.load(ordering: .acquiring)
        if t &- h >= capacity { return false }
        (slots + (t & mask)).initialize(to: element)
        tail.store(t &+ 1, ordering: .releasing)
        return true
    }

    /// Consumer side. Returns nil when empty.
    @inline(__always)
    public func pop() -> Element? {
        let h = head.load(ordering: .relaxed)
        let t = tail.load(ordering: .acquiring)
        if h == t { return nil }
        let element = (slots + (h & mask)).move()
        head.store(h &+ 1, ordering: .releasing)
        return element
    }

    /// Approximate number of queued elements (exact when called from either owner thread
    /// while the other is idle).
    public var count: Int { tail.load(ordering: .acquiring) &- head.load(ordering: .acquiring) }
}
