import Foundation
import QuarryCore

/// Encodes batches of documents on several threads, each with its own encoder (and cache),
/// and returns the ids in input order.
public final class ParallelEncoder: @unchecked Sendable {
    private let encoders: [BPEEncoder]

    public init(model: BPEModel, jobs: Int) {
        // Each encoder gets its own copy of the model's tables: no buffer shared across threads.
        encoders = (0..<max(1, jobs)).map { i in BPEEncoder(model: i == 0 ? model : model.unshared()) }
    }

    public var jobs: Int { encoders.count }

    /// Encodes every line of `paths` (standard input for none) to `output`, one id line per
    /// document. This thread reads, cuts the input into chunks of whole lines and writes the
    /// finished chunks in input order; `jobs` worker threads, each with its own encoder (whose
    /// cache stays warm), take chunks from one queue as they free up. The queue runs across
    /// block and file boundaries, so no core waits for another to finish a block. Returns the
    /// JSONL lines skipped.
    public func encodeFiles(_ paths: [String], to output: OutputFile, blockSize: Int = 4 << 20, chunkSize: Int = 64 << 10) throws -> Int {
        let queue = ChunkQueue(limit: max(4, 2 * blockSize / max(1, chunkSize)))
        for encoder in encoders {
            let worker = UncheckedSendable(encoder)
            Thread.detachNewThread { [self] in
                while let chunk = queue.take() {
                    queue.finish(chunk.index, encodeChunk(chunk.bytes, kind: chunk.kind, encoder: worker.value))
                }
            }
        }
        defer {
            queue.close()
            queue.waitForWorkers(count: encoders.count)
        }
        var skipped = 0
        var chunks = 0
        func writeFinished(waitingFor target: Int) throws {
            for (bytes, skips) in queue.finishedInOrder(waitingUntilAtLeast: target) {
                try output.write(bytes)
                skipped += skips
            }
        }
        for path in paths.isEmpty ? ["-"] : paths {
            let reader = try LineReader(path: path)
            var kind: JSONLines.Kind?
            while true {
                let block = try reader.nextBlock(size: blockSize)
                if block.isEmpty { break }
                if kind == nil, block.contains(where: { !isSpaceByte($0) }) { kind = JSONLines.kind(ofHead: block) }
                var start = 0
                while start < block.count {
                    var end = min(block.count, start + chunkSize)
                    while end < block.count && block[end - 1] != 0x0A { end += 1 }
                    // A full queue: write what is done (waiting for one) before adding more.
                    while !queue.add(Chunk(index: chunks, bytes: block[start..<end], kind: kind ?? .plain)) {
                        try writeFinished(waitingFor: 1)
                    }
                    chunks += 1
                    start = end
                }
                try writeFinished(waitingFor: 0)
            }
        }
        try writeFinished(waitingFor: .max)
        return skipped
    }

    struct Chunk: Sendable {
        var index: Int
        var bytes: ArraySlice<UInt8>
        var kind: JSONLines.Kind
    }

    /// The chunks waiting for a worker and the encoded ones waiting to be written in order;
    /// `limit` bounds both together, so memory stays flat however fast the input comes.
    final class ChunkQueue: @unchecked Sendable {
        private let condition = NSCondition()
        private var waiting: [Chunk] = []
        private var next = 0
        private var finished: [Int: ([UInt8], Int)] = [:]
        private var added = 0
        private var written = 0
        private var closed = false
        private var exited = 0
        private let limit: Int

        init(limit: Int) { self.limit = limit }

        /// False when `limit` chunks are already in flight.
        func add(_ chunk: Chunk) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            guard added - written < limit else { return false }
            waiting.append(chunk)
            added += 1
            condition.broadcast()
            return true
        }

        /// The next chunk for a worker; nil once the queue is closed and empty.
        func take() -> Chunk? {
            condition.lock()
            defer { condition.unlock() }
            while next == waiting.count && !closed { condition.wait() }
            guard next < waiting.count else {
                exited += 1
                condition.broadcast()
                return nil
            }
            let chunk = waiting[next]
            next += 1
            if next > 1024 {
                waiting.removeFirst(next)
                next = 0
            }
            return chunk
        }

        func finish(_ index: Int, _ result: ([UInt8], Int)) {
            condition.lock()
            finished[index] = result
            condition.broadcast()
            condition.unlock()
        }

        /// The encoded chunks that come next in input order, after waiting until at least
        /// `target` of them (or all that were added) are ready.
        func finishedInOrder(waitingUntilAtLeast target: Int) -> [([UInt8], Int)] {
            condition.lock()
            defer { condition.unlock() }
            func ready() -> Int {
                var n = 0
                while finished[written + n] != nil { n += 1 }
                return n
            }
            while ready() < min(target, added - written) { condition.wait() }
            var out: [([UInt8], Int)] = []
            while let result = finished.removeValue(forKey: written) {
                out.append(result)
                written += 1
            }
            condition.broadcast()
            return out
        }

        /// No more chunks: workers finish what is queued (or, after an error, drop it) and exit.
        func close() {
            condition.lock()
            closed = true
            waiting.removeSubrange(next...)
            condition.broadcast()
            condition.unlock()
        }

        func waitForWorkers(count: Int) {
            condition.lock()
            while exited < count { condition.wait() }
            condition.unlock()
        }
    }

    /// A chunk of whole lines → its id lines and the JSONL lines skipped.
    func encodeChunk(_ chunk: ArraySlice<UInt8>, kind: JSONLines.Kind, encoder: BPEEncoder) -> ([UInt8], Int) {
        var lines: [String] = []
        chunk.withUnsafeBufferPointer { b in
            var lineStart = 0
            for i in 0..<b.count where b[i] == 0x0A {
                lines.append(String(decoding: UnsafeBufferPointer(rebasing: b[lineStart..<i]), as: UTF8.self))
                lineStart = i + 1
            }
            if lineStart < b.count { lines.append(String(decoding: UnsafeBufferPointer(rebasing: b[lineStart...]), as: UTF8.self)) }
        }
        return encodeLinesSerially(lines, kind: kind, encoder: encoder)
    }

    /// One thread's share: documents → id lines.
    func encodeLinesSerially(_ lines: [String], kind: JSONLines.Kind, encoder: BPEEncoder) -> ([UInt8], Int) {
        var out: [UInt8] = []
        var ids: [Int32] = []
        var skips = 0
        encoder.session { session in
            for var line in lines {
                if line.hasSuffix("\r") { line.removeLast() }
                let text: String
                if kind == .jsonl {
                    if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
                    guard let t = JSONLines.text(ofLine: line) else { skips += 1; continue }
                    text = t
                } else {
                    text = line
                }
                ids.removeAll(keepingCapacity: true)
                session.encode(text, into: &ids)
                for (k, id) in ids.enumerated() {
                    if k > 0 { out.append(0x20) }
                    appendDecimal(id, to: &out)
                }
                out.append(0x0A)
            }
        }
        return (out, skips)
    }

    public func encode(_ texts: [String]) -> [[Int32]] {
        if encoders.count == 1 || texts.count < 2 { return texts.map { encoders[0].encode($0) } }
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: texts.count)
        results.initialize(repeating: [])
        defer { results.deinitialize(); results.deallocate() }
        let box = UncheckedSendable(results)
        let width = min(encoders.count, texts.count)
        // Contiguous ranges keep each thread's cache warm on related text.
        DispatchQueue.concurrentPerform(iterations: width) { worker in
            let lower = texts.count * worker / width, upper = texts.count * (worker + 1) / width
            for i in lower..<upper { box.value[i] = encoders[worker].encode(texts[i]) }
        }
        return Array(results)
    }
}

@inline(__always) func isSpaceByte(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
