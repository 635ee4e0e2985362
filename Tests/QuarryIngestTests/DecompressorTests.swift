import Foundation
import Testing
import QuarryTestSupport
@testable import QuarryIngest

@Suite struct DecompressorTests {
    let text = Array(String(repeating: "quarry stone granite slate marble\n", count: 5000).utf8)

    @Test func gzipRoundTripAndSniffing() throws {
        let gz = try compress(text, with: "gzip")
        #expect(FormatSniffer.compression(of: gz) == .gzip)
        #expect(try GzipSource(MemorySource(gz)).readAll() == text)
    }

    @Test func concatenatedGzipMembersReadAsOneStream() throws {
        let a = try compress(Array("first member\n".utf8), with: "gzip")
        let b = try compress(Array("second member\n".utf8), with: "gzip")
        #expect(try GzipSource(MemorySource(a + b)).readAll() == Array("first member\nsecond member\n".utf8))
    }

    /// Issue 22, R12-d: one damaged member of many (a WARC's records) costs that member only.
    @Test func aDamagedGzipMemberIsSkippedAndTheRestRead() throws {
        let members = try ["first member\n", "second member, long enough to hold a damaged middle\n", "third member\n"]
            .map { try compress(Array($0.utf8), with: "gzip") }
        var damaged = members[1]
        for i in 20..<(damaged.count - 10) { damaged[i] ^= 0x5A }     // the deflate data, past the header and file name
        let source = try GzipSource(MemorySource(members[0] + damaged + members[2]))
        let text = String(decoding: try source.readAll(), as: UTF8.self)
        #expect(text.hasPrefix("first member\n") && text.hasSuffix("third member\n"), "\(text)")
        #expect(source.recoveredDamage.count == 1 && source.recoveredDamage[0].contains("read on from the next gzip member"))
        // A single damaged member has nothing after it: the file's error, as before.
        #expect(throws: InputError.self) { try GzipSource(MemorySource(damaged)).readAll() }
    }

    /// Issue 22, R12-b: a damaged first block marker is an error with two threads as with one,
    /// never the raw bytes of the blocks after it passed on as text.
    @Test func aDamagedFirstBlockMarkerIsAnErrorOnEveryThreadCount() throws {
        var bz = try compress(text + text, with: "bzip2")
        bz[4] ^= 0x55
        #expect(throws: InputError.self) { try Bzip2Source(MemorySource(bz)).readAll() }
        #expect(performing: { try ParallelBzip2Source(MemorySource(bz), threads: 2).readAll() },
                throws: { "\($0)".contains("damaged block marker") })
    }

    /// Found by `scripts/fuzz decompress`: a damaged first block longer than the scanner's window
    /// was cut from the window before its span was taken (an index out of range). The span starts
    /// right after the stream header however many chunks it arrived in.
    @Test func aLongDamagedFirstBlockSurvivesTheScannersWindow() throws {
        let marker: [UInt8] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]   // a block marker, byte-aligned
        let file = Array("BZh9".utf8) + [UInt8](repeating: 0, count: 5_000) + marker + [UInt8](repeating: 0, count: 100)
        var scanner = Bzip2BlockScanner()
        var spans: [Bzip2Span] = []
        for start in stride(from: 0, to: file.count, by: 64) { spans += scanner.feed(Array(file[start..<min(file.count, start + 64)])) }
        let damaged = try #require(spans.first)
        #expect(damaged.kind == .damaged && damaged.firstByte == 4 && damaged.bitCount == 5_000 * 8)
        #expect(throws: InputError.self) { try ParallelBzip2Source(MemorySource(file), threads: 2).readAll() }
    }

    /// Found by `scripts/fuzz decompress` (memory growing run after run): a source dropped before
    /// its end, as after an error, left its threads blocked and holding it and its input forever.
    @Test func aParallelBzip2SourceDroppedEarlyStopsItsThreads() throws {
        let bz = try compress(Self.manyBlocks + Self.manyBlocks + Self.manyBlocks, with: "bzip2 -1")
        weak var upstream: MemorySource?
        do {
            let input = MemorySource(bz)
            upstream = input
            let source = ParallelBzip2Source(input, threads: 1)
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            _ = try chunk.withUnsafeMutableBytes { try source.read(into: $0.baseAddress!, count: $0.count) }
        }
        for _ in 0..<200 where upstream != nil { Thread.sleep(forTimeInterval: 0.01) }
        #expect(upstream == nil, "the scanning and decompressing threads still hold the input")
    }

    @Test func bzip2RoundTripAndMultiStream() throws {
        let bz = try compress(text, with: "bzip2")
        #expect(FormatSniffer.compression(of: bz) == .bzip2)
        #expect(try Bzip2Source(MemorySource(bz + bz)).readAll() == text + text)
    }

    @Test func truncatedArchivesThrowClearErrors() throws {
        let gz = try compress(text, with: "gzip")
        let bz = try compress(text, with: "bzip2")
        #expect { try GzipSource(MemorySource(Array(gz.prefix(gz.count / 2)))).readAll() } throws: {
            "\($0)".contains("truncated gzip")
        }
        #expect { try Bzip2Source(MemorySource(Array(bz.prefix(bz.count / 2)))).readAll() } throws: {
            "\($0)".contains("truncated bzip2")
        }
    }

    @Test func corruptDataIsReported() throws {
        var bz = try compress(text, with: "bzip2")
        for i in 20..<60 { bz[i] ^= 0x5A }
        #expect(throws: InputError.self) { try Bzip2Source(MemorySource(bz)).readAll() }
    }

    // MARK: bzip2 block by block on several threads

    /// Text that bzip2 -1 cuts into several 100 kB blocks (varied, so blocks differ).
    static let manyBlocks: [UInt8] = {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let words = ["quarry", "stone", "granite", "slate", "marble", "chisel", "lorry", "valley", "basalt", "cut"]
        var out: [UInt8] = []
        while out.count < 450_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            out += Array(words[Int(state >> 60) % words.count].utf8)
            out.append((state >> 40) % 11 == 0 ? 0x0A : 0x20)
        }
        return out
    }()

    @Test func parallelBzip2MatchesTheSequentialDecoder() throws {
        let small = try compress(Self.manyBlocks, with: "bzip2 -1")
        let large = try compress(Array(Self.manyBlocks.reversed()), with: "bzip2 -9")
        let empty = try compress([], with: "bzip2")
        let file = small + empty + large + small
        let expected = try Bzip2Source(MemorySource(file)).readAll()
        #expect(expected == Self.manyBlocks + Self.manyBlocks.reversed() + Self.manyBlocks)
        for threads in [2, 3] {
            #expect(try ParallelBzip2Source(MemorySource(file), threads: threads).readAll() == expected)
        }
    }

    /// Issue 22, R21: a damaged .bz2 gives the same bytes and the same error with one thread as
    /// with two, the damaged block's bytes never among them (they would reach the XML parser).
    @Test(arguments: [0.3, 0.6, 0.95]) func aDamagedBlockReadsTheSameOnEveryThreadCount(at fraction: Double) throws {
        let scratch = ScratchDirectory()
        var bz = try compress(Self.manyBlocks, with: "bzip2 -1")
        bz[Int(Double(bz.count) * fraction)] ^= 0x55
        let path = scratch.write("damaged.txt.bz2", bz)
        func read(threads: Int) -> (bytes: [UInt8], error: String) {
            var bytes: [UInt8] = []
            do {
                let source = try FormatSniffer.open(path: path, threads: threads).source
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0.baseAddress!, count: $0.count) }
                    if n == 0 { return (bytes, "") }
                    bytes += buffer[0..<n]
                }
            } catch { return (bytes, "\(error)") }
        }
        let one = read(threads: 1), two = read(threads: 2)
        #expect(one.error.contains("corrupt bzip2 data near byte") && one.error == two.error, "\(one.error) | \(two.error)")
        #expect(one.bytes == two.bytes)
        #expect(Self.manyBlocks.starts(with: one.bytes), "only intact blocks' bytes, in order")
    }

    @Test func scannerFindsEveryBlockAndStreamEnd() throws {
        let bz = try compress(Self.manyBlocks, with: "bzip2 -1")
        var scanner = Bzip2BlockScanner()
        var spans: [Bzip2Span] = []
        for start in stride(from: 0, to: bz.count, by: 1000) { spans += scanner.feed(Array(bz[start..<min(bz.count, start + 1000)])) }
        let end = scanner.finish()
        #expect(end.complete && end.trailingBytes == 0 && end.last == nil)
        let blocks = spans.filter { $0.kind == .block(level: 1) }
        // 450 kB in blocks of at most 100 kB; the first starts right after the 4-byte header.
        #expect(blocks.count >= 5 && spans.count == blocks.count)  // the end-of-stream trailer stays open
        #expect(blocks.first?.firstByte == 4 && blocks.first?.startBit == 0)
        #expect(try blocks.map(Bzip2BlockDecoder.decode).reduce([], +) == Self.manyBlocks)
    }

    /// A bit pattern that looks like a block marker inside compressed data cuts a block in two:
    /// neither half decodes, the two joined again do.
    @Test func aFalseMarkerIsUndoneByJoiningSpans() throws {
        let bz = try compress(Self.manyBlocks, with: "bzip2 -1")
        var scanner = Bzip2BlockScanner()
        let block = try #require(scanner.feed(bz).first)
        let cut = 5_003  // bits after the marker, inside the block's Huffman-coded data
        let headBytes = (block.startBit + cut + 7) / 8, tailFirst = (block.startBit + cut) / 8
        let head = Bzip2Span(kind: block.kind, firstByte: block.firstByte, bytes: Array(block.bytes.prefix(headBytes)),
                             startBit: block.startBit, bitCount: cut, truncated: false)
        let tail = Bzip2Span(kind: block.kind, firstByte: block.firstByte + tailFirst, bytes: Array(block.bytes[tailFirst...]),
                             startBit: (block.startBit + cut) % 8, bitCount: block.bitCount - cut, truncated: false)
        #expect(throws: InputError.self) { try Bzip2BlockDecoder.decode(head) }
        #expect(try Bzip2BlockDecoder.decode(head.joined(with: tail)) == Bzip2BlockDecoder.decode(block))
    }

    @Test func parallelBzip2ReportsTruncationAfterTheBlocksBeforeIt() throws {
        let bz = try compress(Self.manyBlocks, with: "bzip2 -1")
        let source = ParallelBzip2Source(MemorySource(Array(bz.prefix(bz.count * 2 / 3))), threads: 2)
        var delivered: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        #expect { 
            while true {
                let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0.baseAddress!, count: $0.count) }
                if n == 0 { break }
                delivered += chunk[0..<n]
            }
        } throws: { "\($0)".contains("truncated bzip2 data at byte") }
        // Whole blocks before the cut come out, and only true data.
        #expect(delivered.count >= 200_000 && Array(Self.manyBlocks.prefix(delivered.count)) == delivered)
    }

    @Test func parallelBzip2ReportsCorruptBlocksAndTrailingBytes() throws {
        var bz = try compress(Self.manyBlocks, with: "bzip2 -1")
        let clean = bz
        for i in (bz.count / 2)..<(bz.count / 2 + 40) { bz[i] ^= 0x5A }
        #expect { try ParallelBzip2Source(MemorySource(bz), threads: 2).readAll() } throws: { "\($0)".contains("corrupt bzip2 data") }
        #expect { try ParallelBzip2Source(MemorySource(clean + Array("garbage".utf8)), threads: 2).readAll() } throws: {
            "\($0)".contains("after the last stream")
        }
        #expect { try ParallelBzip2Source(MemorySource(Array(clean.prefix(3))), threads: 2).readAll() } throws: {
            "\($0)".contains("truncated bzip2")
        }
    }
}
