import Dispatch

/// Maps on `jobs` threads (contiguous slices, at least 8 items each), results in input order.
/// Inlinable, so callers in other modules get it specialised for their types (unspecialised, its
/// boxed results cost ingest 3%).
@inlinable
public func parallelMap<T: Sendable, R: Sendable>(_ items: [T], jobs: Int, _ transform: @Sendable @escaping (T) -> R) -> [R] {
    let width = max(1, min(jobs, items.count / 8 + 1))
    if width == 1 { return items.map(transform) }
    let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: items.count)
    results.initialize(repeating: nil)
    defer { results.deinitialize(); results.deallocate() }
    let slots = UncheckedSendable(results)
    DispatchQueue.concurrentPerform(iterations: width) { worker in
        let lower = items.count * worker / width, upper = items.count * (worker + 1) / width
        for i in lower..<upper { slots.value[i] = transform(items[i]) }
    }
    return results.map { $0! }
}

/// A value handed to worker threads that the compiler cannot prove safe to share: each use says
/// why it is (disjoint slots, a single writer, a join before the next read).
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
