import Foundation
import QuarryCore

/// Which charset an HTML page is in, by the precedence browsers use: byte-order mark, then the
/// charset declared outside the page (HTTP `Content-Type`), then `<meta charset>` /
/// `<meta http-equiv>` in the first bytes; with no declaration, UTF-8 when the bytes are valid
/// UTF-8, else windows-1252 (what browsers assume for undeclared legacy pages).
public enum CharsetSniffer {
    public static func charset(of bytes: [UInt8], declared: String?) -> String {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return "UTF-8" }
        if bytes.starts(with: [0xFF, 0xFE]) { return "UTF-16LE" }
        if bytes.starts(with: [0xFE, 0xFF]) { return "UTF-16BE" }
        if let declared = declared.flatMap(normalise) { return declared.hasPrefix("UTF-32") ? "UTF-8" : declared }
        // A <meta> read from the bytes as ASCII means they are ASCII-compatible: a UTF-16 or
        // UTF-32 label there is wrong, and taken as UTF-8 (the HTML standard's rule; libxml2 would
        // fail the whole page on it).
        if let meta = metaCharset(bytes).flatMap(normalise) { return meta.hasPrefix("UTF-16") || meta.hasPrefix("UTF-32") ? "UTF-8" : meta }
        return String(validating: bytes, as: UTF8.self) != nil ? "UTF-8" : "windows-1252"
    }

    /// The `charset=` parameter of a Content-Type header value.
    public static func charsetParameter(ofContentType value: String) -> String? {
        let lower = value.lowercased()
        guard let range = lower.range(of: "charset=") else { return nil }
        var name = lower[range.upperBound...].prefix { $0 != ";" && $0 != " " && $0 != "," }
        name = name.drop { $0 == "\"" || $0 == "'" }
        while name.last == "\"" || name.last == "'" { name = name.dropLast() }
        return name.isEmpty ? nil : String(name)
    }

    /// Looks for `charset=` inside a `<meta` tag in the first 4 KB, as the HTML standard's
    /// prescan does (simplified: attributes are not parsed one by one).
    static func metaCharset(_ bytes: [UInt8]) -> String? {
        let head = bytes.prefix(4096).map(asciiLower)
        var searchStart = 0
        while let meta = firstOccurrence(of: metaOpen, in: head, from: searchStart) {
            let attributesStart = meta + metaOpen.count
            let tagEnd = head[attributesStart...].firstIndex(of: UInt8(ascii: ">")) ?? head.endIndex
            let tag = String(decoding: head[attributesStart..<tagEnd], as: UTF8.self)
            if let found = charsetParameter(ofContentType: tag.replacingOccurrences(of: "charset =", with: "charset=")) {
                return found
            }
            searchStart = tagEnd
        }
        return nil
    }

    private static let metaOpen = Array("<meta".utf8)

    /// Maps labels to names libxml2/iconv know; labels that are aliases of windows-1252 in the
    /// WHATWG Encoding standard (latin1, ascii) are treated as windows-1252, as browsers do.
    static func normalise(_ label: String) -> String? {
        let name = label.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "\"';/"))).lowercased()
        guard !name.isEmpty, name.count < 40, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_:.".contains($0)) }) else {
            return nil
        }
        switch name {
        case "utf8", "utf-8", "unicode-1-1-utf-8": return "UTF-8"
        case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "cp1252", "windows-1252", "x-cp1252":
            return "windows-1252"
        case "utf-16", "utf16": return "UTF-16LE"
        case "gb2312", "gbk", "x-gbk": return "GB18030"
        case "shift_jis", "sjis", "x-sjis", "shift-jis": return "SHIFT_JIS"
        default: return name.uppercased()
        }
    }
}
