import Foundation
import QuarryCore

/// llm.c's shard header (`data_common.write_datafile`): 256 little-endian int32s — magic,
/// version, token count, then zeros. GPT-2 (uint16) shards carry magic 20240520 and version 1,
/// Llama-3 (uint32) shards 20240801 and version 7.
public enum LLMCHeader {
    public static let size = 256 * 4

    static func magic(_ width: TokenWidth) -> Int32 { width == .uint16 ? 20240520 : 20240801 }
    static func version(_ width: TokenWidth) -> Int32 { width == .uint16 ? 1 : 7 }

    /// The header of a shard of `tokens` tokens.
    static func encoded(tokens: Int, width: TokenWidth) -> [UInt8] {
        var header: [UInt8] = []
        header.appendLittleEndian(magic(width))
        header.appendLittleEndian(version(width))
        header.appendLittleEndian(Int32(tokens))
        return header + [UInt8](repeating: 0, count: size - header.count)
    }
}

/// A shard file's tokens, memory-mapped read-only: the one reader of shard bytes (training
/// windows, `shards stats`, `shards verify`). Megatron `.bin` and nanoGPT files are tokens from
/// the first byte; llm.c shards after their header.
public final class ShardReader: @unchecked Sendable {   // read-only after init
    public let path: String
    public let width: TokenWidth
    /// Bytes before the first token.
    public let headerBytes: Int
    /// The file's size in bytes.
    public let byteCount: Int
    /// Whole tokens after the header.
    public let tokenCount: Int
    @usableFromInline let base: UnsafeRawPointer?
    @usableFromInline let tokenBytes: Int

    public init(path: String, format: ShardFormat, width: TokenWidth) throws {
        self.path = path
        self.width = width
        tokenBytes = width.bytes
        headerBytes = format == .llmc ? LLMCHeader.size : 0
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw QuarryError("cannot read shard \(path): \(describeErrno(errno))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw QuarryError("cannot read shard \(path): \(describeErrno(errno))") }
        byteCount = Int(info.st_size)
        tokenCount = max(0, byteCount - headerBytes) / tokenBytes
        if byteCount == 0 {
            base = nil      // mmap refuses an empty file; there is nothing to read
        } else {
            guard let map = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
                throw QuarryError("cannot map shard \(path): \(describeErrno(errno))")
            }
            base = UnsafeRawPointer(map)
            Interruption.reportBusErrorsAsTruncatedFiles()
        }
    }

    deinit { if let base { munmap(UnsafeMutableRawPointer(mutating: base), byteCount) } }

    /// The `i`-th token (0 ≤ i < tokenCount).
    @inlinable @inline(__always)
    public func token(_ i: Int) -> Int32 {
        guard let base else { return 0 }
        let offset = headerBytes + i * tokenBytes
        return tokenBytes == 2 ? Int32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                               : Int32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }

    /// What is wrong with an llm.c shard's header and size, for a shard of `expectedTokens`; nil when nothing.
    public func llmcHeaderProblem(expectedTokens: Int) -> String? {
        guard let base, byteCount >= LLMCHeader.size else { return "shorter than the 1 KiB llm.c header" }
        let ints = (0..<3).map { Int32(littleEndian: base.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        if ints[0] != LLMCHeader.magic(width) { return "bad llm.c magic \(ints[0])" }
        if ints[1] != LLMCHeader.version(width) { return "llm.c version \(ints[1]) does not match \(width.rawValue) tokens" }
        if Int(ints[2]) != expectedTokens { return "header says \(ints[2]) tokens, the manifest \(expectedTokens)" }
        if byteCount != LLMCHeader.size + expectedTokens * width.bytes { return "size does not match the header's token count" }
        return nil
    }
}

extension Manifest {
    /// Readers of the shards of one split, in the manifest's order.
    public func readers(split: String, in directory: String) throws -> [ShardReader] {
        try shards.filter { $0.split == split }.map {
            try ShardReader(path: directory + "/" + $0.path, format: settings.format, width: settings.tokenWidth)
        }
    }
}
