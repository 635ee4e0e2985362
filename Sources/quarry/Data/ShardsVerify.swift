import ArgumentParser
import QuarryShards

struct ShardsVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every shard against the manifest: headers, token counts, sizes and SHA-256.",
        discussion: "Exits non-zero and lists the problems when anything is wrong.\n\nExample:\n  quarry shards verify shards/")
    @Argument(help: "A shard directory.") var directory: String

    func run() throws {
        let problems = try runReporting { try ShardTools.verify(directory: directory) }
        guard problems.isEmpty else {
            for p in problems { printError("error: \(p)") }
            throw ExitCode(1)
        }
        let m = try runReporting { try Manifest.load(directory: directory) }
        print("ok: \(m?.shards.count ?? 0) shard(s) verified")
    }
}
