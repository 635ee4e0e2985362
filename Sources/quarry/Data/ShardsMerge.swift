import ArgumentParser
import QuarryShards

struct ShardsMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the directories of `quarry ingest --part K/N` runs into one.",
        discussion: "Shards are hard-linked (or copied) into --out and the manifests combined.\n\nExample:\n  quarry shards merge part1/ part2/ --out shards/")
    @Argument(help: "Shard directories of the parts.") var directories: [String]
    @Option(name: [.short, .long], help: "The merged directory (new).") var out: String

    func run() throws {
        let merged = try runReporting { try ShardTools.merge(directories, into: out) }
        print("merged \(directories.count) part(s): \(merged.shards.count) shard(s) in \(out)")
    }
}
