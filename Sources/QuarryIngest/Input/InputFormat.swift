import Foundation
import QuarryCore

/// What a file holds, judged from its first bytes (after decompression), not its name.
public enum InputFormat: String, Sendable, CaseIterable {
    case mediawiki, html, warc, arc, jsonl, text
}

public enum Compression: String, Sendable {
    case none, gzip, bzip2
}

/// An opened input: the decompressed byte stream with its sniffed format.
public struct OpenedInput {
    public let source: ByteSource
    public let format: InputFormat
    public let compression: Compression
    /// The content is UTF-16 (it starts with a byte-order mark): big-endian or not.
    public var utf16BigEndian: Bool? = nil
}

public enum FormatSniffer {
    /// Enough bytes to see past an XML declaration, a BOM, a DOCTYPE and comments.
    static let sniffLength = 4096

    public static func compression(of head: [UInt8]) -> Compression {
        if head.count >= 2 && head[0] == 0x1F && head[1] == 0x8B { return .gzip }
        if head.count >= 4 && head[0] == 0x42 && head[1] == 0x5A && head[2] == 0x68
            && (0x31...0x39).contains(head[3]) { return .bzip2 }
        return .none
    }

    /// Decides the format of decompressed content from its first bytes.
    public static func format(of head: [UInt8]) -> InputFormat {
        if head.starts(with: Array("WARC/".utf8)) { return .warc }
        if head.starts(with: Array("filedesc://".utf8)) { return .arc }
        // UTF-16 with a byte-order mark: decode the head to look inside.
        if head.count >= 2 && ((head[0] == 0xFF && head[1] == 0xFE) || (head[0] == 0xFE && head[1] == 0xFF)) {
            let bigEndian = head[0] == 0xFE
            var ascii: [UInt8] = []
            var i = 2
            while i + 1 < head.count {
                let unit = bigEndian ? (UInt16(head[i]) << 8 | UInt16(head[i + 1])) : (UInt16(head[i + 1]) << 8 | UInt16(head[i]))
                ascii.append(unit < 128 ? UInt8(unit) : 0x3F)
                i += 2
            }
            return markupFormat(ascii) ?? .text
        }
        var body = head[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        guard let start = body.firstIndex(where: { !isASCIISpace($0) }) else { return .text }
        if JSONLines.kind(ofHead: body) == .jsonl { return .jsonl }
        return markupFormat(Array(body[start...])) ?? .text
    }

    /// Markup starts with `<`; a MediaWiki export's root is `<mediawiki`, anything else with an
    /// `<html`, `<!doctype html`, `<head`, `<body` or common block tag is a web page.
    static func markupFormat(_ bytes: [UInt8]) -> InputFormat? {
        guard let start = bytes.firstIndex(where: { !isASCIISpace($0) }), bytes[start] == UInt8(ascii: "<") else {
            return nil
        }
        let lower = bytes[start...].prefix(sniffLength).map(asciiLower)
        if bytesContain(lower, Array("<mediawiki".utf8)) { return .mediawiki }
        if htmlMarkers.contains(where: { bytesContain(lower, $0) }) { return .html }
        if ["<?xml", "<!--", "<!doctype"].contains(where: { lower.starts(with: $0.utf8) }) { return .html }
        return nil
    }

    static let htmlMarkers = ["<html", "<!doctype html", "<head", "<body", "<meta", "<title", "<div", "<p>", "<p ", "<table", "<article"]
        .map { Array($0.utf8) }

    /// Opens `path` ("-" for standard input), undoes gzip/bzip2 as the content says, and sniffs
    /// the format of what is inside. bzip2 is decompressed on `threads` threads.
    public static func open(path: String, threads: Int = 1) throws -> OpenedInput {
        let file = try FileSource(path: path)
        let rawHead = try file.readUpTo(8)
        let compression = compression(of: rawHead)
        if compression == .none { try refuseUnreadableCompression(rawHead, path: path) }
        var source: ByteSource = PrefixedSource(prefix: rawHead, rest: file)
        switch compression {
        case .gzip: source = ReadAheadSource(try GzipSource(source))
        // Block by block on any number of threads, --jobs 1 included (one worker beside the
        // scanning reader): the output and the errors do not depend on --jobs, and a damaged
        // block is never passed on. libbz2's streaming decoder (`Bzip2Source`) hands out a
        // block's bytes before its CRC is checked, so damage reached the XML parser first with
        // one thread and not with two (issue 22, R21). Same speed on one thread (0.99×, 2% more CPU).
        case .bzip2: source = ParallelBzip2Source(source, threads: max(1, threads))
        case .none: break
        }
        let head = try source.readUpTo(sniffLength)
        let format = format(of: head)
        let utf16: Bool? = head.starts(with: [0xFF, 0xFE]) ? false : head.starts(with: [0xFE, 0xFF]) ? true : nil
        return OpenedInput(source: PrefixedSource(prefix: head, rest: source), format: format, compression: compression, utf16BigEndian: utf16)
    }
}

extension FormatSniffer {
    /// Compressed data quarry does not decompress, or a file named for gzip/bzip2 without their
    /// header: an error of the file, not text of invalid UTF-8 dropped without a word.
    static func refuseUnreadableCompression(_ head: [UInt8], path: String) throws {
        let formats: [(magic: [UInt8], name: String, fix: String)] = [
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz", "decompress it first (xz -d)"),
            ([0x28, 0xB5, 0x2F, 0xFD], "zstd", "decompress it first (zstd -d)"),
            ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], "7z", "unpack it first"),
            ([0x50, 0x4B, 0x03, 0x04], "zip", "unpack it first"),
        ]
        if let format = formats.first(where: { head.starts(with: $0.magic) }) {
            throw InputError("\(format.name)-compressed data: quarry reads gzip and bzip2; \(format.fix)")
        }
        let lower = path.lowercased()
        for (suffix, name) in [(".gz", "gzip"), (".bz2", "bzip2"), (".xz", "xz"), (".zst", "zstd")] where lower.hasSuffix(suffix) {
            throw InputError("named \(suffix) but not \(name) data (a damaged header?)")
        }
    }
}

@inline(__always) func isASCIISpace(_ b: UInt8) -> Bool {
    b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 || b == 0x0C
}

@inline(__always) func asciiLower(_ b: UInt8) -> UInt8 {
    (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
}
