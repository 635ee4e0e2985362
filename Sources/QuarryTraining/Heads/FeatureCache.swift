import Foundation
import QuarryCore

/// Pooled features of texts under a frozen model (`finetune --freeze-base`), computed once: the
/// epochs of a frozen-base classifier then cost one forward pass of the data, and so do reruns,
/// from a file keyed by the model (a SHA-256 of its weights), the layer, the pooling and the width. Each
/// record is a text's SHA-256 (of its token ids) and its features; new texts are appended.
public struct FeatureCache {
    public let path: String
    let width: Int
    private var entries: [[UInt8]: [Float]] = [:]
    /// Texts whose features were computed now, and read from the file.
    public private(set) var computed = 0, reused = 0

    /// The cache for `classifier`'s model and pooling in `directory` (made if missing).
    public init(directory: String, classifier: Classifier) throws {
        var hasher = SHA256()
        classifier.model.parameters.withUnsafeBytes { hasher.update($0) }
        hasher.update(Array("\(classifier.pooling.rawValue) \(classifier.featureWidth) layer \(classifier.layer.map(String.init) ?? "final")".utf8))
        width = classifier.featureWidth
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/" + String(hasher.hexDigest().prefix(24)) + ".features"
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let record = 32 + 4 * width
        if data.count % record != 0, let handle = FileHandle(forWritingAtPath: path) {
            // A killed run's torn last record: cut, so that new records line up after the whole ones.
            try handle.truncate(atOffset: UInt64(data.count - data.count % record))
            try handle.close()
        }
        // A torn last record (a killed run) is ignored; whole ones are kept.
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset + record <= raw.count {
                let key = Array(raw[offset..<(offset + 32)])
                var values = [Float](repeating: 0, count: width)
                values.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(offset + 32)..<(offset + record)])) }
                entries[key] = values
                offset += record
            }
        }
    }

    static func key(_ tokens: [Int32]) -> [UInt8] {
        var hasher = SHA256()
        tokens.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    /// Every example's features, computing the missing ones `batch` at a time with `compute`
    /// and appending them to the file.
    public mutating func features(of examples: [[Int32]], batch: Int, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in },
                                  compute: ([[Int32]]) throws -> [[Float]]) throws -> [[Float]] {
        let keys = examples.map(Self.key)
        // The missing texts once each, in the examples' order (the same batches every run).
        var missing: [[UInt8]] = [], firstOfKey: [[UInt8]: Int] = [:]
        for (index, key) in keys.enumerated() where entries[key] == nil && firstOfKey[key] == nil {
            firstOfKey[key] = index
            missing.append(key)
        }
        // Appended batch by batch: a run killed halfway keeps what it computed (a torn last
        // record is dropped on reading), and the next run starts from there.
        var handle: FileHandle?
        defer { try? handle?.close() }
        if !missing.isEmpty {
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            guard let opened = FileHandle(forWritingAtPath: path) else { throw QuarryError("cannot write the feature cache \(path)") }
            try opened.seekToEnd()
            handle = opened
        }
        for start in stride(from: 0, to: missing.count, by: max(1, batch)) {
            let chunk = missing[start..<min(missing.count, start + max(1, batch))]
            let vectors = try compute(chunk.compactMap { firstOfKey[$0].map { examples[$0] } })
            var appended = Data()
            for (key, vector) in zip(chunk, vectors) where vector.count == width {
                entries[key] = vector
                appended.append(contentsOf: key)
                vector.withUnsafeBytes { appended.append(contentsOf: $0) }
            }
            try handle?.write(contentsOf: appended)
            progress(min(missing.count, start + chunk.count), missing.count)
        }
        computed += missing.count
        reused += keys.count - missing.count
        return try keys.map { key in
            guard let vector = entries[key] else { throw QuarryError("the feature cache lost a text's features (\(path))") }
            return vector
        }
    }
}
