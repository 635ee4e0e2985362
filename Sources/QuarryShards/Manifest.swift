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
        /// The de-duplication mode's name (`ingest --dedup`).
        public var dedup: String
        public var part: IngestPart
        /// How plain-text inputs were cut into documents; absent means whole files.
        public var sampleBy: String? = nil
        /// `--languages` (sorted) and `--lang-threshold`: the languages kept; absent: every language.
        public var languages: [String]? = nil
        public var languageThreshold: Double? = nil
        /// `--filters` in the order they ran; absent: the Gopher quality rules alone (or none,
        /// when `quality_filter` is false), the default before the other filters existed.
        public var filters: [String]? = nil
        /// `--pii`: e-mail and public IPv4 addresses replaced; absent: not.
        public var pii: Bool? = nil
        /// `--decontaminate`: the sets' files as given; absent: none.
        public var decontaminate: [String]? = nil
        /// `--url-blocklist`: the block list's file as given; absent: none.
        public var urlBlocklist: String? = nil
        /// `--quality-model`, `--quality-label`, `--quality-threshold`; absent: none.
        public var qualityModel: QualityModelSetting? = nil
        public struct QualityModelSetting: Codable, Sendable, Equatable {
            public var model: String
            public var label: String
            public var threshold: Double
            public init(model: String, label: String, threshold: Double) {
                self.model = model
                self.label = label
                self.threshold = threshold
            }
        }
        enum CodingKeys: String, CodingKey {
            case format, tokenWidth = "token_dtype", shardTokens = "shard_tokens", valFraction = "val_fraction"
            case minWords = "min_words", quality = "quality_filter", dedup, part, sampleBy = "sample_by"
            case languages, languageThreshold = "lang_threshold", filters, pii, decontaminate, urlBlocklist = "url_blocklist", qualityModel = "quality_model"
        }

        public init(format: ShardFormat, tokenWidth: TokenWidth, shardTokens: Int, valFraction: Double, minWords: Int,
                    quality: Bool, dedup: String, part: IngestPart, sampleBy: String? = nil) {
            self.format = format
            self.tokenWidth = tokenWidth
            self.shardTokens = shardTokens
            self.valFraction = valFraction
            self.minWords = minWords
            self.quality = quality
            self.dedup = dedup
            self.part = part
            self.sampleBy = sampleBy
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
    /// Kept documents per identified language (`ingest --languages` or `--lang-model`); absent
    /// when languages were not identified.
    public var languages: [String: Int]? = nil
    public var resume: [String: ResumePoint]

    enum CodingKeys: String, CodingKey {
        case version, complete, tokenizer, settings, sources, shards, totals, dropped, languages, resume
        case documentsRead = "documents_read", documentsKept = "documents_kept"
    }

    public static let fileName = "manifest.json"

    public init(complete: Bool, tokenizer: Tokenizer, settings: Settings, sources: [String], shards: [ShardFile],
                totals: [String: SplitTotals], documentsRead: Int, documentsKept: Int, dropped: [String: Int],
                resume: [String: ResumePoint]) {
        self.complete = complete
        self.tokenizer = tokenizer
        self.settings = settings
        self.sources = sources
        self.shards = shards
        self.totals = totals
        self.documentsRead = documentsRead
        self.documentsKept = documentsKept
        self.dropped = dropped
        self.resume = resume
    }

    /// The manifest of a finished set that another stage wrote (a labelled export): the same
    /// schema as ingest's, with the settings that describe it (no filters, no de-duplication).
    public static func finished(shards: [ShardFile], tokenizer: Tokenizer, format: ShardFormat, source: String,
                                documents: Int) throws -> Manifest {
        let settings = Settings(format: format, tokenWidth: try TokenWidth.forFormat(format, vocabularySize: tokenizer.vocabSize),
                                shardTokens: 100_000_000, valFraction: 0, minWords: 0, quality: false, dedup: "off",
                                part: .slice(1, of: 1))
        return Manifest(complete: true, tokenizer: tokenizer, settings: settings, sources: [source],
                        shards: shards.sorted { $0.path < $1.path }, totals: totals(of: shards), documentsRead: documents,
                        documentsKept: documents, dropped: [:], resume: [:])
    }

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
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw QuarryError("\(path) is not a quarry manifest (\(error.localizedDescription))")
        }
        // A manifest may come from elsewhere: every file it names must be a file of its own
        // directory, never "../x" or "/etc/x" (merge links them, verify and pretrain read them).
        for name in manifest.shards.flatMap({ [$0.path, $0.indexPath].compactMap { $0 } }) where !Self.isPlainFileName(name) {
            throw QuarryError("\(path) names the shard \(SafeText.visible(name)), which is not a file of \(directory): refusing it")
        }
        return manifest
    }

    /// A name of a file directly inside the directory: no separator, not "." or "..", not hidden.
    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && !name.hasPrefix(".") && !name.contains("\0")
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

/// Which slice of the input a shard directory holds: the K-th of N (`ingest --part K/N`; 1/1 is
/// all of it), or the parts `shards merge` joined. Written as "K/N" or "merged from N part(s)".
public enum IngestPart: Codable, Sendable, Equatable, CustomStringConvertible {
    case slice(Int, of: Int)
    case merged(parts: Int)

    /// "K/N" with 1 ≤ K ≤ N; nil otherwise.
    public init?(parsing text: String) {
        let pieces = text.split(separator: "/")
        guard pieces.count == 2, let k = Int(pieces[0]), let n = Int(pieces[1]), n >= 1, k >= 1, k <= n else { return nil }
        self = .slice(k, of: n)
    }

    public var description: String {
        switch self {
        case .slice(let k, let n): return "\(k)/\(n)"
        case .merged(let parts): return "merged from \(parts) part(s)"
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if let part = IngestPart(parsing: text) {
            self = part
        } else if text.hasPrefix("merged from "), let n = Int(text.dropFirst("merged from ".count).prefix { $0.isNumber }) {
            self = .merged(parts: n)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "part \"\(text)\" is neither K/N nor \"merged from N part(s)\""))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The splits `quarry ingest` writes (an export names its own).
public enum IngestSplit: String, CaseIterable, Sendable {
    case train
    case validation = "val"
}
