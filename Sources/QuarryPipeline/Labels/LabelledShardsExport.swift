import Foundation
import QuarryCore
import QuarryLabels
import QuarryShards
import QuarryTokenizer

/// `quarry export --format shards`: each example rendered as `TEXT\n\nlabel: A, B` (or
/// `TEXT\n\nresponse: …`, `Exporter.rendered`) and tokenized into the shard formats `quarry
/// ingest` writes, one set per split, with a manifest; beside each split's shards, SPLIT.jsonl
/// holds its records as `--format jsonl` writes them, so `finetune --train DIR` reads the
/// labels exactly (a rendered "a, b" cannot tell two labels from one label with a comma).
public struct LabelledShardsExport {
    public var exporter: Exporter
    public var tokenizer: ShardTokenizer
    public var format: ShardFormat = .megatron

    public init(exporter: Exporter, tokenizer: ShardTokenizer) {
        self.exporter = exporter
        self.tokenizer = tokenizer
    }

    public func export(to directory: String) throws -> Exporter.Report {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var records = exporter
        records.format = .jsonl
        let encoder = BPEEncoder(model: tokenizer.model)
        let width = try TokenWidth.forFormat(format, vocabularySize: tokenizer.model.vocabularySize)
        var writers: [String: SplitWriter] = [:]
        var files: [String: OutputFile] = [:]
        do {
            var line: [UInt8] = []
            let report = try exporter.forEachRecord { record in
                if writers[record.split] == nil {
                    writers[record.split] = SplitWriter(split: record.split, format: format, width: width, directory: directory,
                                                        shardTokens: 100_000_000, endOfText: tokenizer.manifestEntry.endOfTextID)
                    files[record.split] = try OutputFile(path: directory + "/" + record.split + ".jsonl")
                }
                try writers[record.split]?.add(encoder.encode(Exporter.rendered(text: record.text, answer: record.answer)))
                line.removeAll(keepingCapacity: true)
                records.appendLine(record, to: &line)
                try files[record.split]?.write(line)
            }
            var shards: [ShardFile] = []
            for writer in writers.values {
                try writer.finish()
                shards += writer.finished
            }
            for file in files.values { try file.commit() }
            try Manifest.finished(shards: shards, tokenizer: tokenizer.manifestEntry, format: format,
                                  source: "quarry export: task \(exporter.task.task.name)",
                                  documents: report.written.values.reduce(0, +)).save(directory: directory)
            return report
        } catch {
            for file in files.values { file.abandon() }
            throw error
        }
    }

    /// The records file of one split of an export directory (`finetune --train DIR`): DIR/SPLIT.jsonl.
    public static func records(of directory: String, split: String) throws -> String {
        guard let manifest = try Manifest.load(directory: directory), manifest.sources.contains(where: { $0.hasPrefix("quarry export: ") }) else {
            throw QuarryError("\(directory) is not a `quarry export --format shards` directory: give a JSONL file or such a directory")
        }
        let path = directory + "/" + split + ".jsonl"
        guard FileManager.default.fileExists(atPath: path) else {
            if !manifest.shards.contains(where: { $0.split == split }) { throw QuarryError("\(directory) has no \(split) split") }
            throw QuarryError("\(directory) has no \(split).jsonl beside its shards (an export older than the records file): export the task again")
        }
        return path
    }
}
