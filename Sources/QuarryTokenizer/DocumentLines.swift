import Foundation

/// The documents `tokenizer encode` and `train` read: JSON Lines (each line's `text` field) or
/// plain text (each line a document). Which one is decided by the first non-blank byte.
public struct DocumentLines {
    public enum Kind { case jsonl, plain }

    /// Extracts the text of one line; nil when a JSONL line has no string `text` (counted by the caller).
    public static func text(ofLine line: Substring, kind: Kind) -> String? {
        switch kind {
        case .plain:
            return String(line)
        case .jsonl:
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return object["text"] as? String
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
    }

    public var jobs: Int { encoders.count }

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
