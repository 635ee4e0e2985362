import Foundation

/// Runs another source (a decompressor) on its own thread, a few chunks ahead of the reader.
/// bzip2 decompression alone is as slow as parsing and converting together, so overlapping
/// the two is what lets `extract` from `.bz2` keep pace with `bzcat`.
public final class ReadAheadSource: ByteSource, @unchecked Sendable {
    private let upstream: ByteSource
    private let condition = NSCondition()
    private var chunks: [[UInt8]] = []
    private var finished = false
    private var failure: Error?
    private var cancelled = false
    private var upstreamConsumed = 0
    private var upstreamDamage: [String] = []
    private var cursor = ChunkCursor()
    private var started = false

    static let chunkSize = 1 << 17
    static let maximumQueuedChunks = 32

    public init(_ upstream: ByteSource) {
        self.upstream = upstream
    }

    deinit {
        condition.lock()
        cancelled = true
        condition.broadcast()
        // Wait for the producer so it never touches `upstream` after we are gone.
        while started && !finished { condition.wait() }
        condition.unlock()
    }

    public var bytesConsumed: Int {
        condition.lock()
        defer { condition.unlock() }
        return upstreamConsumed
    }

    public var recoveredDamage: [String] {
        condition.lock()
        defer { condition.unlock() }
        return upstreamDamage
    }

    private func startIfNeeded() {
        guard !started else { return }
        started = true
        let thread = Thread { [self] in produce() }
        thread.name = "quarry.read-ahead"
        thread.start()
    }

    private func produce() {
        while true {
            var chunk = [UInt8](repeating: 0, count: Self.chunkSize)
            var filled = 0
            var error: Error?
            do {
                while filled < chunk.count {
                    let n = try chunk.withUnsafeMutableBytes { try upstream.read(into: $0.baseAddress! + filled, count: $0.count - filled) }
                    if n == 0 { break }
                    filled += n
                }
            } catch let e {
                error = e
            }
            chunk.removeSubrange(filled...)
            condition.lock()
            while chunks.count >= Self.maximumQueuedChunks && !cancelled { condition.wait() }
            upstreamConsumed = upstream.bytesConsumed
            upstreamDamage = upstream.recoveredDamage
            if !chunk.isEmpty { chunks.append(chunk) }
            let done = cancelled || error != nil || filled < Self.chunkSize
            if let error { failure = error }
            if done { finished = true }
            condition.broadcast()
            condition.unlock()
            if done { return }
        }
    }

    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        startIfNeeded()
        if cursor.isExhausted {
            condition.lock()
            while chunks.isEmpty && !finished { condition.wait() }
            if chunks.isEmpty {
                let error = failure
                condition.unlock()
                if let error { throw error }
                return 0
            }
            cursor = ChunkCursor(chunks.removeFirst())
            condition.broadcast()
            condition.unlock()
        }
        return cursor.copy(into: buffer, count: count)
    }
}

/// The chunk a background-thread source is handing out, and how far the reader has got in it.
struct ChunkCursor {
    private var chunk: [UInt8] = []
    private var position = 0

    init(_ chunk: [UInt8] = []) { self.chunk = chunk }

    var isExhausted: Bool { position == chunk.count }

    /// Copies up to `count` of the remaining bytes to `buffer`; returns how many.
    mutating func copy(into buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        let n = min(count, chunk.count - position)
        guard n > 0 else { return 0 }
        chunk.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { buffer.copyMemory(from: base + position, byteCount: n) }
        }
        position += n
        return n
    }
}
