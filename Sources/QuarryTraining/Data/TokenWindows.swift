import Foundation
import QuarryCore
import QuarryShards

/// Token windows for training: the shards of a split (`ShardReader`, memory-mapped), sampled
/// at random offsets (training) or in a fixed sequence (validation).
public final class TokenWindows {
    private let shards: [ShardReader]
    public let totalTokens: Int

    public init(_ shards: [ShardReader]) {
        self.shards = shards.filter { $0.tokenCount > 0 }
        totalTokens = self.shards.reduce(0) { $0 + $1.tokenCount }
    }

    /// Fills `inputs` and `targets` (B×T each) with B windows of T+1 tokens chosen by `rng`.
    func sample(B: Int, T n: Int, rng: inout SplitMix64, inputs: inout [Int32], targets: inout [Int32]) throws {
        let eligible = shards.filter { $0.tokenCount > n }
        let total = eligible.reduce(0) { $0 + $1.tokenCount - n }
        guard total > 0 else { throw QuarryError("the shards hold no window of \(n + 1) tokens: lower --context or ingest more text") }
        for b in 0..<B {
            var pick = Int(rng.next() % UInt64(total))
            var chosen = eligible[0]
            for s in eligible {
                if pick < s.tokenCount - n { chosen = s; break }
                pick -= s.tokenCount - n
            }
            for t in 0..<n {
                inputs[b * n + t] = chosen.token(pick + t)
                targets[b * n + t] = chosen.token(pick + t + 1)
            }
        }
    }
}

extension TokenWindows {
    /// The shards of one split of a `quarry ingest` directory; nil when the split has none.
    public static func split(_ split: IngestSplit, of directory: String) throws -> (windows: TokenWindows, manifest: Manifest)? {
        guard let manifest = try Manifest.load(directory: directory) else {
            throw QuarryError("\(directory)/manifest.json not found: give a directory written by `quarry ingest`")
        }
        guard manifest.complete else { throw QuarryError("\(directory) is an unfinished ingest: rerun it to complete the shards first") }
        let readers = try manifest.readers(split: split.rawValue, in: directory)
        if readers.isEmpty { return nil }
        return (TokenWindows(readers), manifest)
    }
}
