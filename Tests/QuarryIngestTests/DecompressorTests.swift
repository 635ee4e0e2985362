import Testing
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
}
