import Foundation
import Testing
@testable import QuarryIngest

@Suite struct WARCReaderTests {
    static func record(type: String, uri: String?, contentType: String, block: [UInt8]) -> [UInt8] {
        var head = "WARC/1.0\r\nWARC-Type: \(type)\r\n"
        if let uri { head += "WARC-Target-URI: \(uri)\r\n" }
        head += "Content-Type: \(contentType)\r\nContent-Length: \(block.count)\r\n\r\n"
        return Array(head.utf8) + block + Array("\r\n\r\n".utf8)
    }

    static func response(_ body: [UInt8], headers: String) -> [UInt8] {
        Array("HTTP/1.1 200 OK\r\n\(headers)\r\n".utf8) + body
    }

    let page = Array("<html><head><title>Walk</title></head><body><p>The canal path leads east to the quarry gates, past the old lime kilns.</p></body></html>".utf8)

    @Test func sampleWARCYieldsTheHTMLResponseWithItsURL() throws {
        let opened = try FormatSniffer.open(path: TestPaths.sample("web/walks-crawl.warc"))
        #expect(opened.format == .warc)
        let reader = WARCReader(input: opened.source, sourceName: "walks.warc")
        let (records, error) = drain(reader)
        #expect(error == nil)
        #expect(records.count == 1)
        #expect(records.first?.url == "http://walks.example/walks/quarry")
        #expect(records.first?.source == "walks.warc#record=3")
        #expect(reader.skipped[.notHTML] == 3) // warcinfo, request, image
    }

    @Test func chunkedAndGzipBodiesAreDecoded() throws {
        let gz = try compress(page, with: "gzip")
        var chunked = Array(String(gz.count, radix: 16).utf8) + [0x0D, 0x0A] + gz + Array("\r\n0\r\n\r\n".utf8)
        let block = Self.response(chunked, headers: "Content-Type: text/html\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n")
        chunked = Self.record(type: "response", uri: "http://a.example/", contentType: "application/http; msgtype=response", block: block)
        let (records, error) = drain(WARCReader(input: MemorySource(chunked), sourceName: "x.warc"))
        #expect(error == nil)
        #expect(documents(from: records).first?.text == "The canal path leads east to the quarry gates, past the old lime kilns.")
    }

    @Test func brokenRecordIsSkippedAndReadingResumes() throws {
        let good = Self.record(type: "response", uri: "http://b.example/", contentType: "application/http",
                               block: Self.response(page, headers: "Content-Type: text/html\r\n"))
        let broken = Array("WARC/1.0\r\nWARC-Type: response\r\nContent-Length: banana\r\n\r\ngarbage garbage\r\n\r\n".utf8)
        let reader = WARCReader(input: MemorySource(broken + good + Array("not a header\r\n".utf8) + good), sourceName: "x.warc")
        let (records, error) = drain(reader)
        #expect(error == nil)
        #expect(records.count == 2)
        #expect(reader.skipped[.badRecord] == 2)
        #expect(reader.recordErrors.first?.contains("record 1") == true)
        // Byte offsets count the \r\n the header lines end with (issue 22, R21).
        #expect(reader.recordErrors.last?.contains("at byte \(broken.count + good.count):") == true, "\(reader.recordErrors)")
    }

    @Test func truncatedRecordThrowsAfterKeepingEarlierOnes() throws {
        let good = Self.record(type: "response", uri: "http://c.example/", contentType: "application/http",
                               block: Self.response(page, headers: "Content-Type: text/html\r\n"))
        let (records, error) = drain(WARCReader(input: MemorySource(good + Array(good.prefix(good.count - 40))), sourceName: "x.warc"))
        #expect(records.count == 1)
        #expect("\(error.map { "\($0)" } ?? "")".contains("truncated"))
    }

    /// Issue 22, R1: a chunk size from a hostile server (negative, or past every bound) is a
    /// broken body, not a crash; the page is still read (its body as it came).
    @Test func hostileChunkSizesAreABrokenBodyNotACrash() throws {
        for size in ["-10", "7fffffffffffffff", "ffffffffffffffff"] {
            let body = Array("\(size)\r\n".utf8) + page + Array("\r\n0\r\n\r\n".utf8)
            let block = Self.response(body, headers: "Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n")
            let warc = Self.record(type: "response", uri: "http://d.example/", contentType: "application/http", block: block)
            let (records, error) = drain(WARCReader(input: MemorySource(warc), sourceName: "x.warc"))
            #expect(error == nil && records.count == 1, "chunk size \(size)")
            #expect(HTTPResponse.dechunk(body) == nil, "chunk size \(size)")
        }
    }

    /// Issue 22, R9 and R12-d: a record over the size limit (or a Content-Length that lies) is
    /// passed over without holding it in memory, and the records after it are still read.
    @Test func oversizedRecordsAreSkippedAndTheRestRead() throws {
        let good = Self.record(type: "response", uri: "http://e.example/", contentType: "application/http",
                               block: Self.response(page, headers: "Content-Type: text/html\r\n"))
        let liar = Array("WARC/1.0\r\nWARC-Type: response\r\nContent-Type: application/http\r\nContent-Length: 9223372036854775807\r\n\r\nshort\r\n\r\n".utf8)
        let reader = WARCReader(input: MemorySource(good + liar + good), sourceName: "x.warc")
        let (records, error) = drain(reader)
        #expect(error == nil)
        #expect(records.count == 2)
        #expect(reader.skipped[.recordTooLarge] == 1)
        #expect(reader.recordErrors.first?.contains("over the 64 MiB") == true)
    }
}
