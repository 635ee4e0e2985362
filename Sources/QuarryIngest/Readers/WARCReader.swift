import Foundation

/// Reads WARC files (plain, or gzip per record / whole file — the decompressor below makes them
/// one stream) and the older ARC format, and yields the HTML pages of HTTP response records.
/// A broken record is counted and skipped: the reader resynchronises at the next `WARC/` line.
public final class WARCReader: RecordReader {
    private let input: BufferedReader
    private let sourceName: String
    private let isARC: Bool
    private var recordNumber = 0
    private var pendingHeaderLine: [UInt8]?
    private var pendingHeaderOffset = 0
    public private(set) var skipped: [DropReason: Int] = [:]
    /// Problems with single records, reported by the caller as warnings.
    public private(set) var recordErrors: [String] = []

    /// The largest record read (64 MiB): a web page is far smaller; a larger record (a video, a
    /// lying Content-Length) is skipped and counted as `record_too_large`.
    public static let maximumRecordBytes = 64 << 20

    public init(input: ByteSource, sourceName: String, arc: Bool = false) {
        self.input = BufferedReader(input)
        self.sourceName = sourceName
        self.isARC = arc
    }

    public func next() throws -> RawRecord? {
        while true {
            recordNumber += 1
            let outcome = try isARC ? nextARCRecord() : nextWARCRecord()
            switch outcome {
            case .end: return nil
            case .record(let record): return record
            case .skip(let reason): skipped[reason, default: 0] += 1
            }
        }
    }

    enum Outcome {
        case end
        case record(RawRecord)
        case skip(DropReason)
    }

    private func nextWARCRecord() throws -> Outcome {
        var line: [UInt8]
        // Where the header line starts, taken before it is read: its `\r\n` is not in `line`.
        var recordOffset = pendingHeaderOffset
        if let pending = pendingHeaderLine {
            line = pending
            pendingHeaderLine = nil
        } else {
            repeat {
                recordOffset = input.offset
                guard let next = try input.readLine() else { return .end }
                line = next
            } while line.isEmpty
        }
        guard line.starts(with: Array("WARC/".utf8)) else {
            recordErrors.append("record \(recordNumber) at byte \(recordOffset): not a WARC header line; skipped to the next record")
            try resynchronise()
            return .skip(.badRecord)
        }
        let headers = try readHeaders()
        guard let lengthText = headers["content-length"], let length = Int(lengthText), length >= 0 else {
            recordErrors.append("record \(recordNumber) at byte \(recordOffset): missing or invalid Content-Length")
            try resynchronise()
            return .skip(.badRecord)
        }
        // A record is held in memory whole: one over the limit is passed over line by line (memory
        // stays flat), which also recovers the records after a Content-Length that is a lie.
        guard length <= Self.maximumRecordBytes else {
            recordErrors.append("record \(recordNumber) at byte \(recordOffset): Content-Length \(length) is over the \(Self.maximumRecordBytes >> 20) MiB a record may have; skipped to the next record")
            try resynchronise()
            return .skip(.recordTooLarge)
        }
        let type = headers["warc-type"]?.lowercased() ?? ""
        let contentType = headers["content-type"]?.lowercased() ?? ""
        guard type == "response" && contentType.hasPrefix("application/http") else {
            guard try input.skip(count: length) == length else {
                throw InputError("record \(recordNumber) at byte \(recordOffset) is truncated (the file ends inside it)")
            }
            return .skip(.notHTML)
        }
        let block = try input.read(count: length)
        guard block.count == length else {
            throw InputError("record \(recordNumber) at byte \(recordOffset) is truncated (the file ends inside it)")
        }
        let url = headers["warc-target-uri"].map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "<> ")) }
        return httpRecord(block, url: url)
    }

    /// ARC v1: a header line `URL IP DATE CONTENT-TYPE LENGTH`, then LENGTH bytes (HTTP headers
    /// and body for crawled pages); the first record describes the file itself.
    private func nextARCRecord() throws -> Outcome {
        var line: [UInt8]
        var recordOffset = 0
        repeat {
            recordOffset = input.offset
            guard let next = try input.readLine() else { return .end }
            line = next
        } while line.isEmpty
        let fields = String(decoding: line, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 5, let length = Int(fields[fields.count - 1]), length >= 0 else {
            throw InputError("record \(recordNumber) at byte \(recordOffset): not an ARC header line (bad length)")
        }
        guard length <= Self.maximumRecordBytes else {
            // ARC has no record marker to resynchronise at: pass the record over, streaming.
            recordErrors.append("record \(recordNumber) at byte \(recordOffset): length \(length) is over the \(Self.maximumRecordBytes >> 20) MiB a record may have; skipped")
            guard try input.skip(count: length) == length else {
                throw InputError("record \(recordNumber) at byte \(recordOffset) is truncated (the file ends inside it)")
            }
            return .skip(.recordTooLarge)
        }
        let block = try input.read(count: length)
        guard block.count == length else {
            throw InputError("record \(recordNumber) at byte \(recordOffset) is truncated (the file ends inside it)")
        }
        let url = String(fields[0])
        if url.hasPrefix("filedesc:") { return .skip(.notHTML) }
        return httpRecord(block, url: url)
    }

    /// Header lines up to the blank line, names lowercased (ASCII), values trimmed.
    private func readHeaders() throws -> [String: String] {
        var headers: [String: String] = [:]
        while let line = try input.readLine(), !line.isEmpty {
            guard let colon = line.firstIndex(of: 0x3A) else { continue }
            let name = trimmedASCII(line[..<colon]).map(asciiLower)
            headers[String(decoding: name, as: UTF8.self)] = String(decoding: trimmedASCII(line[(colon + 1)...]), as: UTF8.self)
        }
        return headers
    }

    /// Skips lines until one starts a WARC record and keeps that line for the next read.
    private func resynchronise() throws {
        while true {
            let start = input.offset
            guard let line = try input.readLine() else { return }
            if line.starts(with: Array("WARC/".utf8)) {
                pendingHeaderLine = line
                pendingHeaderOffset = start
                return
            }
        }
    }

    private func httpRecord(_ block: [UInt8], url: String?) -> Outcome {
        guard let response = HTTPResponse(block) else { return .skip(.badRecord) }
        guard (200..<300).contains(response.status) else { return .skip(.httpStatus) }
        let contentType = response.headers["content-type"]?.lowercased() ?? ""
        guard contentType.contains("html") || (contentType.isEmpty && looksLikeHTML(response.body)) else {
            return .skip(.notHTML)
        }
        guard let body = response.decodedBody() else { return .skip(.badRecord) }
        let charset = CharsetSniffer.charsetParameter(ofContentType: contentType)
        let source = sourceName + "#record=\(recordNumber)"
        return .record(RawRecord(source: source, url: url, payload: .html(body, declaredCharset: charset), byteCount: block.count))
    }

    private func looksLikeHTML(_ body: [UInt8]) -> Bool {
        FormatSniffer.format(of: Array(body.prefix(1024))) == .html
    }
}

/// An HTTP/1.x response as a WARC record stores it: status line, headers, body.
struct HTTPResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    init?(_ block: [UInt8]) {
        // Headers end at the first CRLFCRLF (or LFLF from sloppy writers).
        var headerEnd: Int?
        var bodyStart = 0
        block.withUnsafeBufferPointer { b in
            var i = 0
            while i + 1 < b.count {
                if b[i] == 0x0A && b[i + 1] == 0x0A { headerEnd = i; bodyStart = i + 2; return }
                if i + 3 < b.count && b[i] == 0x0D && b[i + 1] == 0x0A && b[i + 2] == 0x0D && b[i + 3] == 0x0A {
                    headerEnd = i; bodyStart = i + 4; return
                }
                i += 1
            }
        }
        let head = String(decoding: block[..<(headerEnd ?? block.count)], as: UTF8.self)
        var lines = head.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/") else { return nil }
        let parts = statusLine.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count >= 2, let code = Int(parts[1]) else { return nil }
        lines.removeFirst()
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased().trimmingCharacters(in: .whitespaces)] =
                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        status = code
        self.headers = headers
        body = headerEnd == nil ? [] : Array(block[bodyStart...])
    }

    /// The body with transfer and content encodings undone (chunked; gzip/deflate).
    func decodedBody() -> [UInt8]? {
        var data = body
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true, let unchunked = Self.dechunk(data) {
            data = unchunked
        }
        let encoding = headers["content-encoding"]?.lowercased() ?? ""
        if encoding.contains("gzip") || encoding.contains("deflate") {
            guard let inflated = try? GzipSource(MemorySource(data)).readAll(limit: WARCReader.maximumRecordBytes) else { return nil }
            data = inflated
        } else if !encoding.isEmpty && encoding != "identity" {
            return nil
        }
        return data
    }

    static func dechunk(_ data: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var i = 0
        while i < data.count {
            var lineEnd = i
            while lineEnd < data.count && data[lineEnd] != 0x0A { lineEnd += 1 }
            let sizeText = String(decoding: data[i..<lineEnd], as: UTF8.self)
                .split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            // The size is the web server's: neither negative nor past the body (no overflow either).
            guard let size = Int(sizeText, radix: 16), size >= 0 else { return nil }
            if size == 0 { return out }
            let start = lineEnd + 1
            guard start <= data.count, size <= data.count - start else { return nil }
            out.append(contentsOf: data[start..<(start + size)])
            i = start + size
            while i < data.count && (data[i] == 0x0D || data[i] == 0x0A) { i += 1 }
        }
        return out
    }
}

/// A byte slice without the ASCII whitespace around it.
func trimmedASCII(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var a = bytes.startIndex, z = bytes.endIndex
    while a < z && isASCIISpace(bytes[a]) { a += 1 }
    while z > a && isASCIISpace(bytes[z - 1]) { z -= 1 }
    return bytes[a..<z]
}
