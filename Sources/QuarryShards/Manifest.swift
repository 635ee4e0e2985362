import Foundation
import QuarryCore

/// `DIR/manifest.json`: what a shard directory holds and how it was made
/// (`schemas/manifest.schema.json`). Rewritten atomically after every finished shard, so a
/// killed run can resume from it; `complete` is true only after the last shard.
public struct Manifest: Codable, Sendable, Equatable {
    public struct Tokenizer: Codable, Sendable, Equatable {
        public var path: String
        public var sha256: String
        public var vocabSize: Int
        public var endOfTextID: Int32
        enum CodingKeys: String, CodingKey { case path, sha256, vocabSize = "vocab_size", endOfTextID = "end_of_text_id" }

        public init(path: String, sha256: String, vocabSize: Int, endOfTextID: Int32) {
            self.path = path
            self.sha256 = sha256
            self.vocabSize = vocabSize
            self.endOfTextID = endOfTextID
        }
    }

    /// Everything that decides the output: a rerun resumes only when these match.
    public struct Settings: Codable, Sendable, Equatable {
        public var format: ShardFormat
        public var tokenWidth: TokenWidth
        public var shardTokens: Int
        public var valFraction: Double
        public var minWords: Int
        public var quality: Bool
        public var dedup: String
        public var part: String
        /// How plain-text inputs were cut into documents; absent means whole files.
        public var sampleBy: String? = nil
        enum CodingKeys: String, CodingKey {
            case format, tokenWidth = "token_dtype", shardTokens = "shard_tokens", valFraction = "val_fraction"
            case minWords = "min_words", quality = "quality_filter", dedup, part, sampleBy = "sample_by"
        }
    }

    public struct SplitTotals: Codable, Sendable, Equatable {
        public var shards = 0
        public var documents = 0
        public var tokens = 0
    }

    public var version = 1
    public var complete: Bool
    public var tokenizer: Tokenizer
    public var settings: Settings
    public var sources: [String]
    public var shards: [ShardFile]
    public var totals: [String: SplitTotals]
    public var documentsRead: Int
    public var documentsKept: Int
    public var dropped: [String: Int]
    public var resume: [String: ResumePoint]

    enum CodingKeys: String, CodingKey {
        case version, complete, tokenizer, settings, sources, shards, totals, dropped, resume
        case documentsRead = "documents_read", documentsKept = "documents_kept"
    }

    public static let fileName = "manifest.json"

    /// Per-split shard, document and token counts, from the shard list.
    public static func totals(of shards: [ShardFile]) -> [String: SplitTotals] {
        var totals: [String: SplitTotals] = [:]
        for shard in shards {
            totals[shard.split, default: .init()].shards += 1
            totals[shard.split, default: .init()].documents += shard.documents
            totals[shard.split, default: .init()].tokens += shard.tokens
        }
        return totals
    }

    public static func load(directory: String) throws -> Manifest? {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw QuarryError("\(path) is not a quarry manifest (\(error.localizedDescription))")
        }
    }

    public func save(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        let file = try OutputFile(path: directory + "/" + Self.fileName)
        do {
            try file.write(Array(data) + [0x0A])
            try file.commit()
        } catch {
            file.abandon()
            throw error
        }
    }
}
