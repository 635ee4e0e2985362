import ArgumentParser
import Foundation
import QuarryLabels
import QuarryPipeline
import QuarryShards

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export labelled examples as fine-tuning sets (jsonl, chat, or token shards).",
        discussion: """
        Answers: --annotator WHO's, or --adjudicated only; by default the adjudicated answer, \
        else the annotators' answer when they all agree. Splits are chosen by hash, near-duplicate \
        texts kept together (the same on every export); with more than one split, --out is a \
        directory holding one file per split. --format shards writes token shards and a manifest \
        (as `quarry ingest` does), and beside each split's shards its records (SPLIT.jsonl, as \
        --format jsonl writes them), which `quarry finetune --train DIR` reads.

        Examples:
          quarry export sections --format jsonl --out sections.jsonl
          quarry export sections --format chat --split train=0.8,dev=0.1,test=0.1 --out sft/
          quarry export sections --format shards --tokenizer tokenizer.json --out shards/
        """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Option(help: "jsonl, chat or shards.") var format: Exporter.Format = .jsonl
    @Option(name: [.short, .long], help: "Output file, or directory (splits, shards).") var out: String
    @Option(help: "Splits, e.g. train=0.8,dev=0.1,test=0.1.") var split: String?
    @Option(help: "Export this annotator's answers.") var annotator: String?
    @Flag(help: "Export adjudicated answers only.") var adjudicated = false
    @Option(help: "Tokenizer for --format shards.") var tokenizer: String?
    @Option(help: "Shard format for --format shards: megatron, llmc or nanogpt.") var shardFormat: ShardFormat = .megatron

    func validate() throws {
        if annotator != nil && adjudicated { throw ValidationError("give --annotator or --adjudicated, not both") }
        if format == .shards && tokenizer == nil { throw ValidationError("--format shards needs --tokenizer FILE") }
    }

    func run() throws {
        let (store, stored) = try database.open(task: task, access: .readOnly)
        var exporter = Exporter(store: store, task: stored)
        exporter.format = format
        if let annotator { exporter.source = .annotator(annotator) } else if adjudicated { exporter.source = .adjudicated }
        if let split { exporter.splits = try runReporting { try Exporter.parseSplits(split) } }
        let started = Date()
        let report = try runReporting { () -> Exporter.Report in
            guard format == .shards, let tokenizer else { return try exporter.export(to: out) }
            var shards = LabelledShardsExport(exporter: exporter, tokenizer: try ShardTokenizer(path: tokenizer))
            shards.format = shardFormat
            return try shards.export(to: out)
        }
        let counts = report.written.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        printError(String(format: "exported %@ to %@ (%d unlabelled, %d disagreements left out) in %.1fs",
                          counts.isEmpty ? "nothing" : counts, out, report.unlabelled, report.disagreements, Date().timeIntervalSince(started)))
    }
}
