import ArgumentParser
import Foundation
import QuarryIngest
import QuarryShards

struct ShardsStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Totals and a histogram of document lengths in tokens.",
        discussion: "Example:\n  quarry shards stats shards/")
    @Argument(help: "A shard directory.") var directory: String

    func run() throws {
        let stats = try runReporting { try ShardTools.stats(directory: directory) }
        let m = stats.manifest
        print("format \(m.settings.format.rawValue) (\(m.settings.tokenWidth.rawValue)), tokenizer \(m.tokenizer.path) (vocab \(m.tokenizer.vocabSize))")
        print("documents read \(m.documentsRead), kept \(m.documentsKept)\(m.complete ? "" : " (incomplete run)")")
        for (split, t) in m.totals.sorted(by: { $0.key > $1.key }) {
            print("\(split): \(t.shards) shard(s), \(t.documents) documents, \(t.tokens) tokens")
        }
        // The drop table: by step (ingest --rejected DIR/<step>/ holds the documents), then reason.
        let steps = m.dropped.map { (step: DropReason(rawValue: $0.key)?.filter ?? "other", reason: $0.key, count: $0.value) }
        for drop in steps.sorted(by: { ($0.step, $0.reason) < ($1.step, $1.reason) }) {
            print("dropped \(drop.reason): \(drop.count)  (\(drop.step))")
        }
        if let languages = m.languages {
            if let kept = m.settings.languages { print("languages kept: \(kept.joined(separator: ",")) (score at least \(m.settings.languageThreshold ?? 0))") }
            for (language, count) in languages.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) { print("language \(language): \(count) documents") }
        }
        print("document length (tokens):")
        let maxCount = stats.histogram.values.max() ?? 1
        for bucket in stats.histogram.keys.sorted() {
            let count = stats.histogram[bucket] ?? 0
            let label = String(format: "%8d – %-8d", 1 << bucket, (1 << (bucket + 1)) - 1)
            print("  \(label) \(String(repeating: "█", count: max(1, count * 40 / maxCount))) \(count)")
        }
    }
}
