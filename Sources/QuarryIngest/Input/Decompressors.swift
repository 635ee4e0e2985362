import CCompression
import Foundation

/// Compressed input chunks are read this large: big enough that the per-call overhead of the
/// decompressors vanishes, small enough to stay in L2.
let compressedChunkSize = 1 << 18

/// gzip (and zlib) decompression with zlib's inflate. Concatenated gzip members are read as one
/// stream, as `zcat` does: WARC files are one gzip member per record.
public final class GzipSource: ByteSource {
    private let upstream: ByteSource
    private var stream = z_stream()
    private var input: UnsafeMutableRawPointer
    private var upstreamEnded = false
    private var finishedMember = false
    public var bytesConsumed: Int { upstream.bytesConsumed }
    public private(set) var recoveredDamage: [String] = []
    /// While skipping damage: the first error, thrown if no later member is found.
    private var damage: String?

    public init(_ upstream: ByteSource) throws {
        self.upstream = upstream
        input = UnsafeMutableRawPointer.allocate(byteCount: compressedChunkSize, alignment: 16)
        // 15 + 32: any window size, gzip or zlib header detected automatically.
        let status = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            input.deallocate()
            throw InputError("cannot start gzip decompression (zlib status \(status))")
        }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        guard count > 0 else { return 0 }
        let capacity = uInt(min(count, Int(UInt32.max)))
        stream.next_out = buffer.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = capacity
        while stream.avail_out == capacity {
            if stream.avail_in == 0 && !upstreamEnded {
                let n = try upstream.read(into: input, count: compressedChunkSize)
                if n == 0 { upstreamEnded = true } else {
                    stream.next_in = input.assumingMemoryBound(to: Bytef.self)
                    stream.avail_in = uInt(n)
                }
            }
            if finishedMember {
                if stream.avail_in == 0 && upstreamEnded { return 0 }
                // Another gzip member follows the one that ended.
                inflateReset(&stream)
                finishedMember = false
                continue
            }
            if damage != nil {
                // Skipping a corrupt member: look for the next member's header (1f 8b 08).
                if try skipToNextMember() { continue }
                if let damage { throw InputError(damage) }
            }
            if stream.avail_in == 0 && upstreamEnded {
                throw InputError("truncated gzip data at byte \(upstream.bytesConsumed) (the file ends inside a compressed stream)")
            }
            let status = inflate(&stream, Z_NO_FLUSH)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                finishedMember = true
            default:
                // One damaged member of many (a WARC compresses each record alone) must not cost
                // the records after it: read on from the next member, and say what was skipped.
                let reason = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                damage = "corrupt gzip data near byte \(upstream.bytesConsumed - Int(stream.avail_in)): \(reason)"
                if Int(capacity - stream.avail_out) > 0 { return Int(capacity - stream.avail_out) }
            }
        }
        return Int(capacity - stream.avail_out)
    }

    /// Moves the input to the next gzip member header after damage; false at the end of the
    /// input without one (the damage is then an error of the file).
    private func skipToNextMember() throws -> Bool {
        while true {
            if stream.avail_in >= 3, let start = stream.next_in {
                let bytes = UnsafeBufferPointer(start: start, count: Int(stream.avail_in))
                // Skip at least one byte: the member that failed may begin here.
                var i = 1
                while i + 2 < bytes.count && !(bytes[i] == 0x1F && bytes[i + 1] == 0x8B && bytes[i + 2] == 0x08) { i += 1 }
                if i + 2 < bytes.count {
                    stream.next_in = start + i
                    stream.avail_in -= uInt(i)
                    inflateReset(&stream)
                    if let damage { recoveredDamage.append(damage + "; read on from the next gzip member") }
                    damage = nil
                    return true
                }
                // Keep the last two bytes: a header may straddle the chunk boundary.
                let keep = min(2, bytes.count)
                input.copyMemory(from: UnsafeRawPointer(start + bytes.count - keep), byteCount: keep)
                stream.next_in = input.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(keep)
            }
            guard !upstreamEnded else { return false }
            let have = Int(stream.avail_in)
            if have > 0 && stream.next_in != input.assumingMemoryBound(to: Bytef.self) {
                input.copyMemory(from: UnsafeRawPointer(stream.next_in!), byteCount: have)
            }
            let n = try upstream.read(into: input + have, count: compressedChunkSize - have)
            if n == 0 { upstreamEnded = true; return false }
            stream.next_in = input.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(have + n)
        }
    }
}

/// bzip2 decompression with libbz2. Concatenated streams (pbzip2, multistream dumps) are read
/// as one, as `bzcat` does.
public final class Bzip2Source: ByteSource {
    private let upstream: ByteSource
    private var stream = bz_stream()
    private var input: UnsafeMutableRawPointer
    private var upstreamEnded = false
    private var streamEnded = false
    public var bytesConsumed: Int { upstream.bytesConsumed }

    public init(_ upstream: ByteSource) throws {
        self.upstream = upstream
        input = UnsafeMutableRawPointer.allocate(byteCount: compressedChunkSize, alignment: 16)
        let status = BZ2_bzDecompressInit(&stream, 0, 0)
        guard status == BZ_OK else {
            input.deallocate()
            throw InputError("cannot start bzip2 decompression (status \(status))")
        }
    }

    deinit {
        BZ2_bzDecompressEnd(&stream)
        input.deallocate()
    }

    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        guard count > 0 else { return 0 }
        let capacity = UInt32(min(count, Int(UInt32.max)))
        stream.next_out = buffer.assumingMemoryBound(to: CChar.self)
        stream.avail_out = capacity
        while stream.avail_out == capacity {
            if stream.avail_in == 0 && !upstreamEnded {
                let n = try upstream.read(into: input, count: compressedChunkSize)
                if n == 0 { upstreamEnded = true } else {
                    stream.next_in = input.assumingMemoryBound(to: CChar.self)
                    stream.avail_in = UInt32(n)
                }
            }
            if streamEnded {
                if stream.avail_in == 0 && upstreamEnded { return 0 }
                // A further bzip2 stream follows.
                BZ2_bzDecompressEnd(&stream)
                let pendingIn = stream.next_in, pendingCount = stream.avail_in
                stream = bz_stream()
                guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else {
                    throw InputError("cannot restart bzip2 decompression")
                }
                stream.next_in = pendingIn
                stream.avail_in = pendingCount
                stream.next_out = buffer.assumingMemoryBound(to: CChar.self)
                stream.avail_out = capacity
                streamEnded = false
                continue
            }
            if stream.avail_in == 0 && upstreamEnded {
                throw InputError("truncated bzip2 data at byte \(upstream.bytesConsumed) (the file ends inside a compressed stream)")
            }
            let status = BZ2_bzDecompress(&stream)
            switch status {
            case BZ_OK:
                continue
            case BZ_STREAM_END:
                streamEnded = true
                if stream.avail_out != capacity { break }
            default:
                throw InputError("corrupt bzip2 data near byte \(upstream.bytesConsumed - Int(stream.avail_in)) (status \(status))")
            }
        }
        return Int(capacity - stream.avail_out)
    }
}
