import Foundation
import QuarryCore
import QuarryTokenizer

/// Shard writing for other stages (labelled exports): one split, rolling shards, the same
/// formats and file layout as `quarry ingest`.
public final class SplitWriterHandle {
    private let writer: SplitWriter

    public init(split: String, format: ShardFormat, directory: String, model: BPEModel, endOfText: Int32,
                shardTokens: Int = 100_000_000) throws {
        let width = try TokenWidth.forFormat(format, vocabularySize: model.vocabularySize)
        writer = SplitWriter(split: split, format: format, width: width, directory: directory, namePrefix: "",
                             shardTokens: shardTokens, endOfText: endOfText, resumingAfter: [],
                             resume: ResumePoint(documents: 0, skipTokens: 0))
    }

    public func add(_ tokens: [Int32]) throws { try writer.add(tokens) }

    public func finish() throws -> [ShardFile] {
        try writer.finish()
        return writer.finished
    }
}

/// The manifest of an exported labelled set (the same schema as ingest's).
public enum ExportManifest {
    public static func write(directory: String, shards: [ShardFile], tokenizer: Manifest.Tokenizer, format: ShardFormat,
                             vocabularySize: Int, task: String, count: Int) throws {
        let width = try TokenWidth.forFormat(format, vocabularySize: vocabularySize)
        let totals = Manifest.totals(of: shards)
        let settings = Manifest.Settings(format: format, tokenWidth: width, shardTokens: 100_000_000, valFraction: 0,
                                         minWords: 0, quality: false, dedup: "off", part: "1/1")
        let manifest = Manifest(complete: true, tokenizer: tokenizer, settings: settings, sources: ["quarry export: task \(task)"],
                                shards: shards.sorted { $0.path < $1.path }, totals: totals, documentsRead: count, documentsKept: count,
                                dropped: [:], resume: [:])
        try manifest.save(directory: directory)
    }
}
