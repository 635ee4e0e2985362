import Foundation
import QuarryCore

/// The documents `tokenizer encode` and `train` read: JSON Lines (each line's `text` field) or
/// plain text (each line a document). Which one is decided by the first non-blank byte.
public struct DocumentLines {
    public enum Kind: Sendable { case jsonl, plain }

    /// Extracts the text of one line; nil when a JSONL line has no string `text` (counted by the caller).
    public static func text(ofLine line: Substring, kind: Kind) -> String? {
        switch kind {
        case .plain:
            return String(line)
        case .jsonl:
            return (try? JSONValue.parse(String(line)))?["text"]?.string
        }
    }

    public static func kind(of head: Data) -> Kind {
        for b in head where !(b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09) {
            return b == UInt8(ascii: "{") ? .jsonl : .plain
        }
        return .plain
    }
}

/// Encodes batches of documents on several threads, each with its own encoder (and cache),
/// and returns the ids in input order.
public final class ParallelEncoder: @unchecked Sendable {
    private let encoders: [BPEEncoder]

    public init(model: BPEModel, jobs: Int) {
        encoders = (0..<max(1, jobs)).map { _ in BPEEncoder(model: model) }
        idle = encoders
    }

    public var jobs: Int { encoders.count }

    private let poolLock = NSLock()
    private var idle: [BPEEncoder] = []

    /// An encoder no other thread is using; a new one only if every one is busy (the thread
    /// that calls concurrentPerform works too, so up to jobs + 1 can be busy).
    private func checkOut() -> BPEEncoder {
        poolLock.lock()
        defer { poolLock.unlock() }
        return idle.popLast() ?? BPEEncoder(model: encoders[0].model)
    }

    private func checkIn(_ encoder: BPEEncoder) {
        poolLock.lock()
        idle.append(encoder)
        poolLock.unlock()
    }

    /// Encodes lines (plain text, or JSONL whose `text` is taken) and formats each document as
    /// a line of space-separated ids, all on the worker threads; returns the bytes in input
    /// order and the number of JSONL lines skipped for having no string `text`.
    public func encodeLines(_ lines: [String], kind: DocumentLines.Kind) -> (bytes: [UInt8], skipped: Int) {
        let width = max(1, min(encoders.count, lines.count / 64 + 1))
        var parts = [[UInt8]](repeating: [], count: width)
        var skipped = [Int](repeating: 0, count: width)
        parts.withUnsafeMutableBufferPointer { partsBuffer in
            skipped.withUnsafeMutableBufferPointer { skippedBuffer in
                let box = UncheckedBox((partsBuffer, skippedBuffer))
                let work: @Sendable (Int) -> Void = { worker in
                    let lower = lines.count * worker / width, upper = lines.count * (worker + 1) / width
                    let (bytes, skips) = self.encodeLinesSerially(Array(lines[lower..<upper]), kind: kind, encoder: self.encoders[worker])
                    box.value.0[worker] = bytes
                    box.value.1[worker] = skips
                }
                if width == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: width, execute: work) }
            }
        }
        return (parts.flatMap { $0 }, skipped.reduce(0, +))
    }

    /// Encodes every line of `paths` (standard input for none) to `output`, one id line per
    /// document. The reading thread only cuts the input into blocks of whole lines; splitting
    /// lines, decoding, encoding and formatting happen on the workers, and reading the next
    /// block overlaps encoding the current one. Returns the JSONL lines skipped.
    public func encodeFiles(_ paths: [String], to output: OutputFile) throws -> Int {
        var skipped = 0
        var inflight: (group: DispatchGroup, result: ResultBox)?
        func collect() throws {
            guard let job = inflight else { return }
            job.group.wait()
            skipped += job.result.skipped
            try output.write(job.result.bytes)
            inflight = nil
        }
        for path in paths.isEmpty ? ["-"] : paths {
            let reader = try LineReader(path: path)
            var kind: DocumentLines.Kind?
            while true {
                let block = try reader.nextBlock()
                if kind == nil, let first = block.firstIndex(where: { !(isSpaceByte($0)) }) {
                    kind = block[first] == UInt8(ascii: "{") ? .jsonl : .plain
                }
                try collect()
                if block.isEmpty { break }
                let group = DispatchGroup()
                let box = ResultBox()
                let batchKind = kind ?? .plain
                DispatchQueue.global().async(group: group) {
                    let (bytes, skips) = self.encodeBlock(block, kind: batchKind)
                    box.bytes = bytes
                    box.skipped = skips
                }
                inflight = (group, box)
            }
        }
        try collect()
        return skipped
    }

    /// A block of whole lines, split at line boundaries into one part per worker.
    func encodeBlock(_ block: [UInt8], kind: DocumentLines.Kind) -> (bytes: [UInt8], skipped: Int) {
        // Many chunks, handed out as threads free up: a thread that drew denser text no longer
        // holds up the block. Each chunk borrows an idle encoder (its cache stays warm).
        let threads = max(1, min(jobs, block.count / 65536 + 1))
        let width = threads == 1 ? 1 : threads * 8
        var cuts = [0]
        for w in 1..<width {
            var cut = max(cuts[w - 1], block.count * w / width)
            while cut < block.count && (cut == 0 || block[cut - 1] != 0x0A) { cut += 1 }
            cuts.append(cut)
        }
        cuts.append(block.count)
        let bounds = cuts
        var parts = [[UInt8]](repeating: [], count: width)
        var skipped = [Int](repeating: 0, count: width)
        parts.withUnsafeMutableBufferPointer { partsBuffer in
            skipped.withUnsafeMutableBufferPointer { skippedBuffer in
                let box = UncheckedBox((partsBuffer, skippedBuffer))
                let work: @Sendable (Int) -> Void = { worker in
                    var lines: [String] = []
                    var lineStart = bounds[worker]
                    let end = bounds[worker + 1]
                    block.withUnsafeBufferPointer { b in
                        var i = lineStart
                        while i < end {
                            if b[i] == 0x0A {
                                lines.append(String(decoding: UnsafeBufferPointer(rebasing: b[lineStart..<i]), as: UTF8.self))
                                lineStart = i + 1
                            }
                            i += 1
                        }
                        if lineStart < end { lines.append(String(decoding: UnsafeBufferPointer(rebasing: b[lineStart..<end]), as: UTF8.self)) }
                    }
                    let encoder = self.checkOut()
                    let (bytes, skips) = self.encodeLinesSerially(lines, kind: kind, encoder: encoder)
                    self.checkIn(encoder)
                    box.value.0[worker] = bytes
                    box.value.1[worker] = skips
                }
                if width == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: width, execute: work) }
            }
        }
        return (parts.flatMap { $0 }, skipped.reduce(0, +))
    }

    /// One thread's share: documents → id lines.
    func encodeLinesSerially(_ lines: [String], kind: DocumentLines.Kind, encoder: BPEEncoder) -> ([UInt8], Int) {
        var out: [UInt8] = []
        var ids: [Int32] = []
        var skips = 0
        for var line in lines {
            if line.hasSuffix("\r") { line.removeLast() }
            let text: String
            if kind == .jsonl {
                if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
                guard let t = DocumentLines.text(ofLine: Substring(line), kind: .jsonl) else { skips += 1; continue }
                text = t
            } else {
                text = line
            }
            ids.removeAll(keepingCapacity: true)
            encoder.encode(text, into: &ids)
            for (k, id) in ids.enumerated() {
                if k > 0 { out.append(0x20) }
                appendDecimal(id, to: &out)
            }
            out.append(0x0A)
        }
        return (out, skips)
    }

    final class ResultBox: @unchecked Sendable {
        var bytes: [UInt8] = []
        var skipped = 0
    }

    public func encode(_ texts: [String]) -> [[Int32]] {
        if encoders.count == 1 || texts.count < 2 { return texts.map { encoders[0].encode($0) } }
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: texts.count)
        results.initialize(repeating: [])
        defer { results.deinitialize(); results.deallocate() }
        let box = UncheckedBox(results)
        let width = min(encoders.count, texts.count)
        // Contiguous ranges keep each thread's cache warm on related text.
        DispatchQueue.concurrentPerform(iterations: width) { worker in
            let lower = texts.count * worker / width, upper = texts.count * (worker + 1) / width
            for i in lower..<upper { box.value[i] = encoders[worker].encode(texts[i]) }
        }
        return Array(results)
    }
}

struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

@inline(__always) func isSpaceByte(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
