import Foundation
import QuarryCore
import QuarryShards

/// Token windows for training: the shards of a split, memory-mapped, sampled at random offsets
/// (training) or in a fixed sequence (validation). Reads Megatron `.bin`, llm.c shards (after
/// their 1 KiB header) and nanoGPT `.bin`, uint16 or 32-bit tokens.
public final class TokenWindows {
    struct Mapped {
        let base: UnsafeRawPointer
        let length: Int
        let headerBytes: Int
        let tokens: Int
    }

    private var shards: [Mapped] = []
    private let width: Int
    public let totalTokens: Int

    /// `files`: (path, header bytes) of each shard of the split.
    public init(files: [(path: String, headerBytes: Int)], tokenBytes: Int) throws {
        width = tokenBytes
        var total = 0
        for (path, header) in files {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw QuarryError("cannot read shard \(path): \(describeErrno(errno))") }
            defer { close(fd) }
            var info = stat()
            fstat(fd, &info)
            let length = Int(info.st_size)
            guard length > header else { continue }
            guard let map = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
                throw QuarryError("cannot map shard \(path): \(describeErrno(errno))")
            }
            let tokens = (length - header) / tokenBytes
            shards.append(Mapped(base: UnsafeRawPointer(map), length: length, headerBytes: header, tokens: tokens))
            total += tokens
        }
        totalTokens = total
    }

    deinit { for s in shards { munmap(UnsafeMutableRawPointer(mutating: s.base), s.length) } }

    @inline(__always) func token(_ shard: Mapped, _ i: Int) -> Int32 {
        let offset = shard.headerBytes + i * width
        return width == 2 ? Int32(UInt16(littleEndian: shard.base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                          : Int32(littleEndian: shard.base.loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }

    /// Fills `inputs` and `targets` (B×T each) with B windows of T+1 tokens chosen by `rng`.
    func sample(B: Int, T n: Int, rng: inout SplitMix64, inputs: inout [Int32], targets: inout [Int32]) throws {
        let eligible = shards.filter { $0.tokens > n }
        let total = eligible.reduce(0) { $0 + $1.tokens - n }
        guard total > 0 else { throw QuarryError("the shards hold no window of \(n + 1) tokens: lower --context or ingest more text") }
        for b in 0..<B {
            var pick = Int(rng.next() % UInt64(total))
            var chosen = eligible[0]
            for s in eligible {
                if pick < s.tokens - n { chosen = s; break }
                pick -= s.tokens - n
            }
            for t in 0..<n {
                inputs[b * n + t] = token(chosen, pick + t)
                targets[b * n + t] = token(chosen, pick + t + 1)
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
        let header = manifest.settings.format == .llmc ? 1024 : 0
        let files = manifest.shards.filter { $0.split == split.rawValue }.map { (directory + "/" + $0.path, header) }
        if files.isEmpty { return nil }
        return (try TokenWindows(files: files, tokenBytes: manifest.settings.tokenWidth.bytes), manifest)
    }
}
