import Foundation
import QuarryCore

/// The binary layouts trainers read.
public enum ShardFormat: String, Sendable, CaseIterable, Codable {
    /// Megatron-LM's indexed dataset (`.bin` + `.idx`), as `megatron/core/datasets/indexed_dataset.py`
    /// writes it; each document one sequence, `<|endoftext|>` appended (preprocess_data --append-eod).
    case megatron
    /// llm.c: a 256 × int32 header (magic 20240520 and version 1 for uint16 tokens, 20240801 and
    /// version 7 for uint32, as data_common.write_datafile writes them; token count) then the tokens;
    /// `<|endoftext|>` before each document; every shard but the last exactly `--shard-tokens` long.
    case llmc
    /// nanoGPT: `train.bin` / `val.bin`, raw uint16, `<|endoftext|>` after each document.
    case nanogpt
}

/// Token width on disk, from the vocabulary size.
public enum TokenWidth: String, Sendable, Codable {
    case uint16, int32, uint32

    public var bytes: Int { self == .uint16 ? 2 : 4 }

    /// Megatron's `DType.optimal_dtype`: uint16 below 65,500 tokens, else int32 (code 8 / 4).
    /// llm.c: uint16 (version 1) up to 65,536, else uint32 (version 7). nanoGPT: uint16 only.
    public static func forFormat(_ format: ShardFormat, vocabularySize: Int) throws -> TokenWidth {
        switch format {
        case .megatron: return vocabularySize < 65_500 ? .uint16 : .int32
        case .llmc: return vocabularySize <= 65_536 ? .uint16 : .uint32
        case .nanogpt:
            guard vocabularySize <= 65_536 else {
                throw QuarryError("the nanoGPT format stores uint16 tokens, but the vocabulary has \(vocabularySize): use --format megatron or llmc")
            }
            return .uint16
        }
    }
}

/// One finished file, as the manifest lists it.
public struct ShardFile: Codable, Sendable, Equatable {
    public var path: String
    public var split: String
    public var tokens: Int
    public var documents: Int
    public var bytes: Int
    public var sha256: String
    /// Megatron's `.idx` companion.
    public var indexPath: String?
    public var indexBytes: Int?
    public var indexSHA256: String?

    enum CodingKeys: String, CodingKey {
        case path, split, tokens, documents, bytes, sha256
        case indexPath = "index_path", indexBytes = "index_bytes", indexSHA256 = "index_sha256"
    }
}

/// A file written through a temporary name, hashed as it is written, renamed when complete.
final class HashedFile {
    let finalPath: String
    private let output: OutputFile
    private var hasher = SHA256()
    private(set) var bytes = 0

    init(path: String) throws {
        finalPath = path
        output = try OutputFile(path: path)
    }

    func write(_ data: [UInt8]) throws {
        hasher.update(data)
        bytes += data.count
        try output.write(data)
    }

    func write(raw: UnsafeRawBufferPointer) throws {
        hasher.update(raw)
        bytes += raw.count
        try output.write(Array(raw))
    }

    /// Renames into place; returns (bytes, sha256).
    func commit() throws -> (Int, String) {
        try output.commit()
        return (bytes, hasher.hexDigest())
    }

    func abandon() { output.abandon() }
}

/// Little-endian byte packing.
extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }
}

extension TokenWidth {
    /// Tokens as little-endian integers of this width, appended to `out` in one pass.
    func pack(_ tokens: ArraySlice<Int32>, into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: tokens.count * bytes))
        out.withUnsafeMutableBytes { raw in
            var offset = start
            switch self {
            case .uint16:
                for t in tokens { raw.storeBytes(of: UInt16(truncatingIfNeeded: t).littleEndian, toByteOffset: offset, as: UInt16.self); offset += 2 }
            case .int32:
                for t in tokens { raw.storeBytes(of: t.littleEndian, toByteOffset: offset, as: Int32.self); offset += 4 }
            case .uint32:
                for t in tokens { raw.storeBytes(of: UInt32(bitPattern: t).littleEndian, toByteOffset: offset, as: UInt32.self); offset += 4 }
            }
        }
    }
}
