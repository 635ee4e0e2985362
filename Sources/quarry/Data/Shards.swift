import ArgumentParser

struct Shards: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check, summarise and merge shard directories written by `quarry ingest`.",
        discussion: """
        Examples:
          quarry shards verify shards/
          quarry shards stats shards/
          quarry shards merge part-1 part-2 --out shards/
        """,
        subcommands: [ShardsVerify.self, ShardsStats.self, ShardsMerge.self]
    )
}
