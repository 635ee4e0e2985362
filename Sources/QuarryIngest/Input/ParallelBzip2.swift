import CCompression
import Foundation

// bzip2 is the slowest stage of reading a Wikipedia dump (bzcat runs at ~30 MB/s of XML here),
// and one core decompressing while the others wait caps the whole pipeline. Its blocks are
// independent (own Huffman tables, own CRC) but start at arbitrary bit offsets, so, as lbzip2
// does, a scanner finds each block by its 48-bit magic number, re-aligns it into a one-block
// stream of its own, and worker threads decompress blocks with libbz2 while the output is
// delivered in order.

/// A stretch of a bzip2 file between two markers, with its compressed bytes.
struct Bzip2Span {
    enum Kind: Equatable {
        /// A block (from its magic to the next marker), in a stream of this block-size digit.
        case block(level: UInt8)
        /// An end-of-stream marker, its CRC, padding and any next stream's header: no data.
        case trailer
        /// Bits between a stream header and the first marker after it, where a block marker
        /// should have been (a damaged marker): an error where it falls, as `Bzip2Source` stops.
        case damaged
    }

    let kind: Kind
    /// File offset of `bytes[0]`.
    let firstByte: Int
    let bytes: [UInt8]
    /// Where the marker starts in `bytes[0]` (0 = most significant bit).
    let startBit: Int
    let bitCount: Int
    /// The file ended inside this span (no marker after it).
    let truncated: Bool

    var endByte: Int { firstByte + bytes.count }

    /// This span and the one following it as one (a marker-like bit pattern inside compressed
    /// data splits a block in two; joined, it decodes).
    func joined(with next: Bzip2Span) -> Bzip2Span {
        let overlap = endByte - next.firstByte  // the byte where one ends and the other starts
        let bytes = Array(bytes.prefix(bytes.count - max(0, overlap))) + next.bytes
        return Bzip2Span(kind: kind, firstByte: firstByte, bytes: bytes, startBit: startBit,
                         bitCount: bitCount + next.bitCount, truncated: next.truncated)
    }
}

/// Cuts a bzip2 file into spans at block and end-of-stream markers, fed chunk by chunk.
struct Bzip2BlockScanner {
    static let blockMagic: UInt64 = 0x3141_5926_5359
    static let endOfStreamMagic: UInt64 = 0x1772_4538_5090

    /// Bit k set: a marker shifted k bits from byte alignment has this value in its
    /// second-to-last byte.
    static let shiftsByPreviousByte: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for magic in [blockMagic, endOfStreamMagic] {
            for shift in 0..<8 { table[Int((magic >> UInt64(8 - shift)) & 0xFF)] |= 1 << UInt8(shift) }
        }
        return table
    }()

    private var window: [UInt8] = []
    private var windowStart = 0          // file offset of window[0]
    private var scanned = 0              // bytes looked at so far
    private var recent: UInt64 = 0       // the last 64 bits scanned
    private var open: (bit: Int, kind: Bzip2Span.Kind)?
    private var level: UInt8 = 9
    private var headerAt: Int? = 0       // file offset where a stream header is expected
    private var firstMarkerBit: Int?     // where the marker after a stream header must begin
    private(set) var streamsStarted = 0

    /// Spans completed by `chunk`.
    mutating func feed(_ chunk: [UInt8]) -> [Bzip2Span] {
        window += chunk
        var spans: [Bzip2Span] = []
        for byte in chunk {
            recent = recent << 8 | UInt64(byte)
            let offset = scanned
            scanned += 1
            if let at = headerAt, offset == at + 3 {
                readStreamHeader(at: at)
            }
            guard scanned >= 7 else { continue }
            // A 48-bit marker ending in this byte, at any of its eight bit positions. The byte
            // before this one is then a known value for each position: most bytes rule all out.
            var shifts = Self.shiftsByPreviousByte[Int((recent >> 8) & 0xFF)]
            while shifts != 0 {
                let shift = UInt64(shifts.trailingZeroBitCount)
                shifts &= shifts - 1
                let candidate = (recent >> shift) & 0xFFFF_FFFF_FFFF
                if candidate == Self.blockMagic || candidate == Self.endOfStreamMagic {
                    let bit = offset * 8 + 7 - Int(shift) - 47
                    mark(bit, isBlock: candidate == Self.blockMagic, into: &spans)
                }
            }
        }
        trimWindow()
        return spans
    }

    /// The last span, once the input has ended, and whether the file ended cleanly.
    mutating func finish() -> (last: Bzip2Span?, complete: Bool, trailingBytes: Int) {
        let totalBits = scanned * 8
        guard let open else { return (nil, scanned == 0, 0) }
        switch open.kind {
        case .block:
            return (span(from: open.bit, to: totalBits, kind: open.kind, truncated: true), false, 0)
        case .damaged:
            return (nil, false, 0)   // never open: a damaged span is closed where it is found
        case .trailer:
            let streamEnd = (open.bit + 80 + 7) / 8
            if totalBits < open.bit + 80 {
                return (span(from: open.bit, to: totalBits, kind: .trailer, truncated: true), false, 0)
            }
            // Bytes after the last end-of-stream marker that began no stream.
            return (nil, true, scanned - streamEnd)
        }
    }

    private mutating func readStreamHeader(at offset: Int) {
        let i = offset - windowStart
        guard i >= 0, i + 3 < window.count else { return }
        if window[i] == 0x42, window[i + 1] == 0x5A, window[i + 2] == 0x68, (0x31...0x39).contains(window[i + 3]) {
            level = window[i + 3] - 0x30
            streamsStarted += 1
            firstMarkerBit = (offset + 4) * 8
        }
        headerAt = nil
    }

    private mutating func mark(_ bit: Int, isBlock: Bool, into spans: inout [Bzip2Span]) {
        if let expected = firstMarkerBit {
            firstMarkerBit = nil
            // The first block of a stream starts right after its header: bits before the first
            // marker found mean that block's own marker is damaged.
            if bit > expected, open == nil || open?.kind == .trailer {
                // The trailer ends where this stream's header begins (32 bits before `expected`).
                if let open, open.bit < expected - 32 { spans.append(span(from: open.bit, to: expected - 32, kind: open.kind, truncated: false)) }
                spans.append(span(from: expected, to: bit, kind: .damaged, truncated: false))
                open = nil
            }
        }
        if let open {
            spans.append(span(from: open.bit, to: bit, kind: open.kind, truncated: false))
        }
        open = (bit, isBlock ? .block(level: level) : .trailer)
        if !isBlock { headerAt = (bit + 80 + 7) / 8 }
    }

    private func span(from start: Int, to end: Int, kind: Bzip2Span.Kind, truncated: Bool) -> Bzip2Span {
        let first = start / 8, last = (end + 7) / 8
        return Bzip2Span(kind: kind, firstByte: first, bytes: Array(window[(first - windowStart)..<(last - windowStart)]),
                         startBit: start % 8, bitCount: end - start, truncated: truncated)
    }

    /// Keeps only the bytes an open span or a pending header still needs.
    private mutating func trimWindow() {
        var keepFrom = max(0, scanned - 8)
        if let open { keepFrom = min(keepFrom, open.bit / 8) }
        if let headerAt { keepFrom = min(keepFrom, headerAt) }
        // A damaged first block would be cut from where its marker should have been.
        if let firstMarkerBit { keepFrom = min(keepFrom, firstMarkerBit / 8) }
        let drop = keepFrom - windowStart
        if drop > 0 && drop >= window.count / 2 {
            window.removeFirst(drop)
            windowStart = keepFrom
        }
    }
}

/// Decompresses one block span with libbz2, as a stream of its own.
enum Bzip2BlockDecoder {
    static func decode(_ span: Bzip2Span) throws -> [UInt8] {
        if span.kind == .damaged { throw InputError("corrupt bzip2 data near byte \(span.firstByte) (a damaged block marker)") }
        guard case .block(let level) = span.kind else { return [] }
        guard span.bitCount >= 80 else { throw InputError("corrupt bzip2 data near byte \(span.firstByte) (a block too short)") }
        var writer = BitWriter(capacity: span.bytes.count + 16)
        writer.append(0x425A_6800 | UInt64(0x30 + level), bits: 32)  // "BZh" + level
        writer.append(span, bits: span.bitCount)
        writer.append(Bzip2BlockScanner.endOfStreamMagic, bits: 48)
        // The stream's CRC combines its blocks' CRCs; for one block it is that block's CRC.
        writer.append(UInt64(bits(of: span, from: 48, count: 32)), bits: 32)
        let stream = writer.finish()

        var bz = bz_stream()
        guard BZ2_bzDecompressInit(&bz, 0, 0) == BZ_OK else { throw InputError("cannot start bzip2 decompression") }
        defer { BZ2_bzDecompressEnd(&bz) }
        var output = [UInt8](repeating: 0, count: Int(level) * 100_000 + 4096)
        var produced = 0
        return try stream.withUnsafeBufferPointer { input in
            bz.next_in = UnsafeMutablePointer(mutating: UnsafeRawPointer(input.baseAddress)?.assumingMemoryBound(to: CChar.self))
            bz.avail_in = UInt32(input.count)
            while true {
                if produced == output.count { output += [UInt8](repeating: 0, count: output.count) }
                let status = output.withUnsafeMutableBufferPointer { out -> Int32 in
                    bz.next_out = UnsafeMutableRawPointer(out.baseAddress! + produced).assumingMemoryBound(to: CChar.self)
                    bz.avail_out = UInt32(out.count - produced)
                    let before = bz.avail_out
                    let status = BZ2_bzDecompress(&bz)
                    produced += Int(before - bz.avail_out)
                    return status
                }
                switch status {
                case BZ_STREAM_END:
                    output.removeSubrange(produced...)
                    return output
                case BZ_OK where bz.avail_in > 0 || produced == output.count:
                    continue
                default:
                    throw InputError("corrupt bzip2 data near byte \(span.firstByte) (status \(status))")
                }
            }
        }
    }

    /// `count` (≤ 32) bits of the span starting `offset` bits after its marker.
    static func bits(of span: Bzip2Span, from offset: Int, count: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<count {
            let bit = span.startBit + offset + i
            value = value << 1 | UInt32((span.bytes[bit / 8] >> (7 - UInt8(bit % 8))) & 1)
        }
        return value
    }
}

/// Appends bit strings most significant bit first, as bzip2 lays them out.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    private var pending: UInt64 = 0
    private var pendingBits = 0

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func append(_ value: UInt64, bits: Int) {
        for i in stride(from: bits - 1, through: 0, by: -1) {
            pending = pending << 1 | ((value >> UInt64(i)) & 1)
            pendingBits += 1
            if pendingBits == 8 {
                bytes.append(UInt8(pending))
                pending = 0
                pendingBits = 0
            }
        }
    }

    /// The first `bits` bits of a span, re-aligned: whole bytes shifted eight at a time.
    mutating func append(_ span: Bzip2Span, bits: Int) {
        precondition(pendingBits == 0, "a span is appended at a byte boundary")
        let shift = span.startBit
        let wholeBytes = bits / 8
        span.bytes.withUnsafeBufferPointer { source in
            if shift == 0 {
                bytes.append(contentsOf: source[0..<wholeBytes])
            } else {
                for i in 0..<wholeBytes {
                    bytes.append(source[i] << UInt8(shift) | source[i + 1] >> UInt8(8 - shift))
                }
            }
        }
        let rest = bits % 8
        if rest > 0 {
            append(UInt64(Bzip2BlockDecoder.bits(of: span, from: wholeBytes * 8, count: rest)), bits: rest)
        }
    }

    /// The bytes, the last one padded with zero bits.
    mutating func finish() -> [UInt8] {
        if pendingBits > 0 { append(0, bits: 8 - pendingBits) }
        return bytes
    }
}

/// bzip2 decompression on `threads` worker threads (see the top of this file), one more thread
/// reading and scanning ahead. Output, errors and their byte offsets are the same for every
/// thread count: everything before a truncation or a corrupt block is delivered first, nothing
/// of a corrupt block, which is reported at its first byte. (`Bzip2Source`, libbz2's streaming
/// decoder, gives the same bytes for an intact file; on a damaged one it delivers the damaged
/// block's bytes before their CRC fails.)
public final class ParallelBzip2Source: ByteSource, @unchecked Sendable {
    private let engine: ParallelBzip2Engine

    public init(_ upstream: ByteSource, threads: Int) {
        engine = ParallelBzip2Engine(upstream, threads: threads)
    }

    /// The threads hold the engine, not this source: dropping the source before the end (after
    /// an error, say) stops them, instead of leaving them blocked on a reader that is gone.
    deinit { engine.cancel() }

    public var bytesConsumed: Int { engine.bytesConsumed }

    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        try engine.read(into: buffer, count: count)
    }
}

/// The state `ParallelBzip2Source`'s threads share.
final class ParallelBzip2Engine: @unchecked Sendable {
    private let upstream: ByteSource
    private let threads: Int
    private let condition = NSCondition()
    private var spans: [Int: Bzip2Span] = [:]          // produced, not yet delivered
    private var results: [Int: Result<[UInt8], Error>] = [:]
    private var queue: [Int] = []                       // spans waiting for a worker
    private var produced = 0                            // spans found so far
    private var delivered = 0                           // next span to deliver
    private var inputEnded = false
    private var endError: Error?                        // after the last span, if any
    private var cancelled = false
    private var started = false
    private var upstreamConsumed = 0
    private var cursor = ChunkCursor()

    /// Spans decompressed or waiting at once: enough to keep every worker busy.
    private var maximumInFlight: Int { 2 * threads + 2 }
    static let readSize = 1 << 18

    /// More threads than this would decompress faster than one thread parses XML (~30 MB/s of
    /// output per bzip2 thread against 100–200 MB/s for the parser) and only hold memory.
    static let maximumThreads = 8

    public init(_ upstream: ByteSource, threads: Int) {
        self.upstream = upstream
        self.threads = min(max(1, threads), Self.maximumThreads)
    }

    /// Stops the threads at their next wait; they release the engine as they exit.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    var bytesConsumed: Int {
        condition.lock()
        defer { condition.unlock() }
        return upstreamConsumed
    }

    private func startIfNeeded() {
        guard !started else { return }
        started = true
        let reader = Thread { [self] in scanAhead() }
        reader.name = "quarry.bzip2-scan"
        reader.start()
        for i in 0..<threads {
            let worker = Thread { [self] in decompressBlocks() }
            worker.name = "quarry.bzip2-\(i)"
            worker.start()
        }
    }

    private func scanAhead() {
        var scanner = Bzip2BlockScanner()
        var chunk = [UInt8](repeating: 0, count: Self.readSize)
        while true {
            var count = 0
            var readError: Error?
            do {
                count = try chunk.withUnsafeMutableBytes { try upstream.read(into: $0.baseAddress!, count: $0.count) }
            } catch {
                readError = error
            }
            let found = count > 0 ? scanner.feed(Array(chunk.prefix(count))) : []
            var ending: (span: Bzip2Span?, error: Error?)?
            if let readError {
                ending = (nil, readError)
            } else if count == 0 {
                let (last, complete, trailing) = scanner.finish()
                let end = upstream.bytesConsumed
                var error: Error?
                if !complete || scanner.streamsStarted == 0 {
                    error = InputError("truncated bzip2 data at byte \(end) (the file ends inside a compressed stream)")
                } else if trailing > 0 {
                    error = InputError("corrupt bzip2 data near byte \(end - trailing) (\(trailing) bytes after the last stream)")
                }
                ending = (last, error)
            }
            condition.lock()
            upstreamConsumed = upstream.bytesConsumed
            for span in found + (ending?.span.map { [$0] } ?? []) {
                while produced - delivered >= maximumInFlight && !cancelled { condition.wait() }
                if cancelled { break }
                spans[produced] = span
                switch span.kind {
                case .block: queue.append(produced)
                case .trailer: results[produced] = .success([])
                case .damaged: results[produced] = Result { try Bzip2BlockDecoder.decode(span) }
                }
                produced += 1
                condition.broadcast()
            }
            if let ending {
                inputEnded = true
                endError = ending.error
            }
            let stop = cancelled || ending != nil
            condition.broadcast()
            condition.unlock()
            if stop { return }
        }
    }

    private func decompressBlocks() {
        while true {
            condition.lock()
            while queue.isEmpty && !cancelled && !inputEnded { condition.wait() }
            if cancelled || queue.isEmpty {
                condition.unlock()
                return
            }
            let index = queue.removeFirst()
            let span = spans[index]
            condition.unlock()
            guard let span else { continue }
            let result = Result { try Bzip2BlockDecoder.decode(span) }
            condition.lock()
            if index >= delivered { results[index] = result }  // else a joined span took it
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next span's output in order (nil at the end), joining spans when one fails to decode.
    private func nextOutput() throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while results[delivered] == nil && !(inputEnded && delivered == produced) { condition.wait() }
        guard let result = results[delivered], let span = spans[delivered] else {
            if let endError { throw endError }
            return nil
        }
        results[delivered] = nil
        spans[delivered] = nil
        delivered += 1
        condition.broadcast()
        switch result {
        case .success(let bytes):
            return bytes
        case .failure(let error):
            if span.truncated {
                throw endError ?? error
            }
            // A marker-like pattern inside a block cut it short: join it with what follows.
            var joined = span
            for _ in 0..<3 {
                while spans[delivered] == nil && !(inputEnded && delivered == produced) { condition.wait() }
                guard let next = spans[delivered] else { break }
                spans[delivered] = nil
                results[delivered] = nil
                queue.removeAll { $0 == delivered }
                delivered += 1
                condition.broadcast()
                joined = joined.joined(with: next)
                if let bytes = try? Bzip2BlockDecoder.decode(joined) { return bytes }
                if next.truncated { throw endError ?? error }
            }
            throw error
        }
    }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        startIfNeeded()
        while cursor.isExhausted {
            guard let next = try nextOutput() else { return 0 }
            cursor = ChunkCursor(next)
        }
        return cursor.copy(into: buffer, count: count)
    }
}
