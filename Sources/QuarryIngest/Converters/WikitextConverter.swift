import CLibXML2
import Foundation

/// MediaWiki markup → plain text, in three linear passes over UTF-8 bytes:
/// 1. blocks: comments, templates `{{…}}` (nested), tables `{|…|}` (nested), and tags whose
///    content is not prose (`<ref>`, `<gallery>`, `<math>`…) go; other tags go, content stays;
/// 2. links: `[[target|label]]` → label, File/Image/Category links (in the wiki's own language
///    too, from siteinfo) go with their captions, `[http://… label]` → label;
/// 3. lines: headings become lines of their own (dropped when their section ends up empty),
///    list markers, bold/italic quotes and magic words go, HTML entities are decoded.
///
/// Performance notes: each pass is a single forward scan with no backtracking beyond the
/// closing-bracket search of one construct, so the cost is linear in the page size.
public struct WikitextConverter: Sendable {
    public var siteInfo: WikiSiteInfo

    public init(siteInfo: WikiSiteInfo = .english) { self.siteInfo = siteInfo }

    public func plainText(_ wikitext: String) -> String {
        plainText(utf8: Array(wikitext.utf8))
    }

    public func plainText(utf8 wikitext: [UInt8]) -> String {
        let blocks = Self.stripBlocks(wikitext)
        let linked = resolveLinks(blocks)
        return Self.renderLines(linked)
    }

    // MARK: - Pass 1: comments, templates, tables, tags

    /// Tags dropped together with their content.
    static let droppedElements: Set<String> = [
        "ref", "references", "gallery", "math", "chem", "ce", "timeline", "graph", "imagemap", "score",
        "syntaxhighlight", "source", "templatestyles", "templatedata", "mapframe", "maplink", "noinclude",
        "includeonly", "hiero", "inputbox", "categorytree", "indicator", "charinsert", "section", "table",
        "style", "script",
    ]

    static func stripBlocks(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        let n = input.count
        var i = 0
        var templateDepth = 0
        var tableDepth = 0
        var atLineStart = true
        var neverClosed: [String: Int] = [:]
        input.withUnsafeBufferPointer { s in
            while i < n {
                let b = s[i]
                if b == 0x3C /* < */, i + 3 < n, s[i + 1] == 0x21, s[i + 2] == 0x2D, s[i + 3] == 0x2D {
                    i = indexAfter(s, from: i + 4, terminator: Array("-->".utf8)) ?? n
                    continue
                }
                if b == 0x7B /* { */, i + 1 < n, s[i + 1] == 0x7B {
                    templateDepth += 1
                    i += 2
                    continue
                }
                if b == 0x7D /* } */, i + 1 < n, s[i + 1] == 0x7D {
                    if templateDepth > 0 { templateDepth -= 1 }
                    i += 2 // a stray `}}` outside any template is dropped too
                    continue
                }
                if templateDepth == 0 && atLineStart {
                    // Tables open with `{|` and close with `|}` at the start of a line (after indentation).
                    var j = i
                    while j < n && (s[j] == 0x20 || s[j] == 0x3A || s[j] == 0x09) { j += 1 }
                    if j + 1 < n && s[j] == 0x7B && s[j + 1] == 0x7C {
                        tableDepth += 1
                        i = j + 2
                        atLineStart = false
                        continue
                    }
                    if tableDepth > 0 && j + 1 < n && s[j] == 0x7C && s[j + 1] == 0x7D {
                        tableDepth -= 1
                        i = j + 2
                        atLineStart = false
                        continue
                    }
                }
                atLineStart = (b == 0x0A)
                if templateDepth > 0 || tableDepth > 0 {
                    if b == 0x0A && templateDepth == 0 { atLineStart = true }
                    i += 1
                    continue
                }
                if b == 0x3C, let tag = parseTag(s, at: i) {
                    if tag.isBreak { out.append(0x0A) }
                    if !tag.closing && !tag.selfClosing && droppedElements.contains(tag.name) {
                        // An element found never closed after one point is not closed after a later one:
                        // a page of a thousand unclosed <ref>s costs one search to the end, not a thousand.
                        if let from = neverClosed[tag.name], tag.end >= from {
                            i = tag.end
                        } else if let close = endOfElement(s, named: tag.name, from: tag.end) {
                            i = close
                        } else {
                            neverClosed[tag.name] = tag.end
                            i = tag.end
                        }
                    } else {
                        i = tag.end
                    }
                    continue
                }
                if b == 0x0A {
                    out.append(b)
                    i += 1
                    continue
                }
                // Plain text: copy the whole run up to the next byte that can start markup
                // (a newline ends it too, so the next line's start is checked for a table).
                var j = i + 1
                while j < n {
                    let c = s[j]
                    if c == 0x3C || c == 0x7B || c == 0x7D || c == 0x0A { break }
                    j += 1
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: s[i..<j]))
                i = j
            }
        }
        return out
    }

    struct Tag {
        var name: String
        var closing: Bool
        var selfClosing: Bool
        var end: Int
        var isBreak: Bool { name == "br" || name == "p" || name == "li" }
    }

    /// An HTML-like tag at `i` (`<name …>`, `</name>`, `<name/>`), or nil when the `<` is text.
    static func parseTag(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> Tag? {
        var j = i + 1
        var closing = false
        if j < s.count && s[j] == 0x2F { closing = true; j += 1 }
        let nameStart = j
        while j < s.count, isASCIILetterOrDigit(s[j]) { j += 1 }
        guard j > nameStart, isASCIILetter(s[nameStart]) else { return nil }
        let name = String(decoding: s[nameStart..<j].map(asciiLower), as: UTF8.self)
        // Attributes: up to the closing `>` on a bounded distance; quotes may hold `>`.
        var quote: UInt8 = 0
        let limit = min(s.count, j + 2000)
        while j < limit {
            let c = s[j]
            if quote != 0 { if c == quote { quote = 0 } }
            else if c == 0x22 || c == 0x27 { quote = c }
            else if c == 0x3E {
                let selfClosing = j > 0 && s[j - 1] == 0x2F
                return Tag(name: name, closing: closing, selfClosing: selfClosing, end: j + 1)
            } else if c == 0x3C || c == 0x0A && quote == 0 && j - i > 300 { return nil }
            j += 1
        }
        return nil
    }

    /// Index just past `</name>` (case-insensitive), or nil when the element is never closed.
    static func endOfElement(_ s: UnsafeBufferPointer<UInt8>, named name: String, from start: Int) -> Int? {
        let closing = Array("</\(name)".utf8)
        var i = start
        while i + closing.count <= s.count {
            if s[i] == 0x3C && s[i + 1] == 0x2F {
                var match = true
                for k in 2..<closing.count where asciiLower(s[i + k]) != closing[k] { match = false; break }
                if match, let close = indexAfter(s, from: i + closing.count, terminator: [0x3E]) { return close }
            }
            i += 1
        }
        return nil
    }

    static func indexAfter(_ s: UnsafeBufferPointer<UInt8>, from start: Int, terminator: [UInt8]) -> Int? {
        guard let first = terminator.first else { return start }
        var i = start
        while i + terminator.count <= s.count {
            if s[i] == first {
                var match = true
                for k in 1..<terminator.count where s[i + k] != terminator[k] { match = false; break }
                if match { return i + terminator.count }
            }
            i += 1
        }
        return nil
    }

    // MARK: - Pass 2: links

    func resolveLinks(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        input.withUnsafeBufferPointer { s in
            appendResolvingLinks(s, range: 0..<s.count, to: &out)
        }
        return out
    }

    private func appendResolvingLinks(_ s: UnsafeBufferPointer<UInt8>, range: Range<Int>, to out: inout [UInt8]) {
        var i = range.lowerBound
        let end = range.upperBound
        // Where the last unclosed `[http://…` stopped looking: a `[` before it has no `]` before
        // that line's end either, so a line of a thousand unclosed links costs one scan, not a thousand.
        var unclosedUntil = 0
        while i < end {
            let b = s[i]
            if b == 0x5B /* [ */ {
                if i + 1 < end && s[i + 1] == 0x5B {
                    guard let close = matchingLinkEnd(s, from: i + 2, end: end) else {
                        i += 2 // an unclosed `[[` is dropped, the text after it kept
                        continue
                    }
                    appendInternalLink(s, inner: (i + 2)..<(close - 2), to: &out)
                    i = close
                    continue
                }
                if i >= unclosedUntil, let (close, labelStart) = externalLink(s, at: i, end: end, unclosedUntil: &unclosedUntil) {
                    if let labelStart { appendResolvingLinks(s, range: labelStart..<(close - 1), to: &out) }
                    i = close
                    continue
                }
            } else if b == 0x5D /* ] */, i + 1 < end, s[i + 1] == 0x5D {
                i += 2 // a stray `]]`
                continue
            }
            var j = i + 1
            while j < end && s[j] != 0x5B && s[j] != 0x5D { j += 1 }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: s[i..<j]))
            i = j
        }
    }

    /// Index just past the `]]` closing a link whose content starts at `start`, nesting counted.
    private func matchingLinkEnd(_ s: UnsafeBufferPointer<UInt8>, from start: Int, end: Int) -> Int? {
        var depth = 1
        var i = start
        // File captions may span lines; a bound keeps unclosed brackets from costing quadratic time.
        let limit = min(end, start + 20_000)
        while i + 1 < limit {
            if s[i] == 0x5B && s[i + 1] == 0x5B { depth += 1; i += 2; continue }
            if s[i] == 0x5D && s[i + 1] == 0x5D {
                depth -= 1
                i += 2
                if depth == 0 { return i }
                continue
            }
            i += 1
        }
        return nil
    }

    private func appendInternalLink(_ s: UnsafeBufferPointer<UInt8>, inner: Range<Int>, to out: inout [UInt8]) {
        var pipe: Int?
        var depth = 0
        var k = inner.lowerBound
        while k < inner.upperBound {
            if s[k] == 0x5B { depth += 1 } else if s[k] == 0x5D { depth -= 1 } else if s[k] == 0x7C && depth == 0 { pipe = k; break }
            k += 1
        }
        let targetEnd = pipe ?? inner.upperBound
        var targetStart = inner.lowerBound
        while targetStart < targetEnd && s[targetStart] == 0x20 { targetStart += 1 }
        let visible = targetStart < targetEnd && s[targetStart] == 0x3A // [[:Category:X]] is an ordinary link
        if visible { targetStart += 1 }
        if !visible, let colon = (targetStart..<targetEnd).first(where: { s[$0] == 0x3A }) {
            let prefix = String(decoding: s[targetStart..<colon], as: UTF8.self)
                .trimmingCharacters(in: .whitespaces).lowercased()
            if siteInfo.droppedLinkPrefixes.contains(prefix) { return }
        }
        if let pipe, pipe + 1 < inner.upperBound {
            appendResolvingLinks(s, range: (pipe + 1)..<inner.upperBound, to: &out)
        } else {
            out.append(contentsOf: s[targetStart..<targetEnd])
        }
    }

    /// `[http://example.org label]`: returns the index past `]` and where the label starts (nil for a bare URL).
    private func externalLink(_ s: UnsafeBufferPointer<UInt8>, at i: Int, end: Int, unclosedUntil: inout Int) -> (Int, Int?)? {
        let schemes: [[UInt8]] = [Array("http://".utf8), Array("https://".utf8), Array("//".utf8), Array("ftp://".utf8), Array("mailto:".utf8)]
        guard schemes.contains(where: { scheme in
            i + 1 + scheme.count <= end && (0..<scheme.count).allSatisfy { asciiLower(s[i + 1 + $0]) == scheme[$0] }
        }) else { return nil }
        var j = i + 1
        var labelStart: Int?
        while j < end && s[j] != 0x5D && s[j] != 0x0A {
            if labelStart == nil && s[j] == 0x20 { labelStart = j + 1 }
            j += 1
        }
        guard j < end && s[j] == 0x5D else { unclosedUntil = j; return nil }
        return (j + 1, labelStart)
    }

    // MARK: - Pass 3: lines

    static func renderLines(_ input: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var pendingHeading: [UInt8]?
        var line: [UInt8] = []
        input.withUnsafeBufferPointer { s in
            var lineStart = 0
            while lineStart <= s.count {
                var lineEnd = lineStart
                while lineEnd < s.count && s[lineEnd] != 0x0A { lineEnd += 1 }
                var a = lineStart, z = lineEnd
                while a < z && isASCIISpace(s[a]) { a += 1 }
                while z > a && isASCIISpace(s[z - 1]) { z -= 1 }
                if a == z {
                    out.append(0x0A) // keeps paragraph breaks
                } else if s[a] == 0x3D && s[z - 1] == 0x3D && z - a >= 3 {
                    while a < z && s[a] == 0x3D { a += 1 }
                    while z > a && s[z - 1] == 0x3D { z -= 1 }
                    var heading: [UInt8] = []
                    appendInline(s, a..<z, to: &heading)
                    pendingHeading = heading.allSatisfy(isASCIISpace) ? nil : heading
                } else if z - a >= 4 && (a..<z).allSatisfy({ s[$0] == 0x2D }) {
                    // horizontal rule
                } else {
                    while a < z && (s[a] == 0x2A || s[a] == 0x23 || s[a] == 0x3A || s[a] == 0x3B) { a += 1 }
                    line.removeAll(keepingCapacity: true)
                    appendInline(s, a..<z, to: &line)
                    tidyParentheses(&line)
                    if !line.allSatisfy(isASCIISpace) {
                        if let heading = pendingHeading {
                            out.append(0x0A)
                            out.append(contentsOf: heading)
                            out.append(0x0A)
                            pendingHeading = nil
                        }
                        out.append(contentsOf: line)
                        out.append(0x0A)
                    }
                }
                lineStart = lineEnd + 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Removed templates (pronunciations, language tags) leave `(; , Akhilleus, )` or `()`
    /// behind: separators at the edges of a parenthesis go, and an empty one goes with the
    /// space before it.
    static func tidyParentheses(_ line: inout [UInt8]) {
        guard line.contains(0x28) else { return }
        var out: [UInt8] = []
        out.reserveCapacity(line.count)
        var i = 0
        while i < line.count {
            if line[i] == 0x28, let close = line[(i + 1)...].firstIndex(where: { $0 == 0x29 || $0 == 0x28 }), line[close] == 0x29 {
                var a = i + 1, z = close
                while a < z && (line[a] == 0x20 || line[a] == 0x3B || line[a] == 0x2C) { a += 1 }
                while z > a && (line[z - 1] == 0x20 || line[z - 1] == 0x3B || line[z - 1] == 0x2C) { z -= 1 }
                if a == z {
                    if out.last == 0x20 { out.removeLast() }
                } else {
                    out.append(0x28)
                    out.append(contentsOf: line[a..<z])
                    out.append(0x29)
                }
                i = close + 1
                continue
            }
            out.append(line[i])
            i += 1
        }
        line = out
    }

    /// One line's inline markup: bold/italic quotes, magic words, entities.
    static func appendInline(_ s: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, to out: inout [UInt8]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let b = s[i]
            if b == 0x27 /* ' */ && i + 1 < end && s[i + 1] == 0x27 {
                while i < end && s[i] == 0x27 { i += 1 }
                continue
            }
            if b == 0x5F /* _ */ && i + 1 < end && s[i + 1] == 0x5F {
                var j = i + 2
                while j < end && (s[j] >= 0x41 && s[j] <= 0x5A) { j += 1 }
                if j > i + 2 && j + 1 < end && s[j] == 0x5F && s[j + 1] == 0x5F { i = j + 2; continue }
            }
            if b == 0x26 /* & */, let (scalar, next) = HTMLEntities.decode(s, at: i, end: end) {
                appendUTF8(scalar, to: &out)
                i = next
                continue
            }
            var j = i + 1
            while j < end && s[j] != 0x27 && s[j] != 0x5F && s[j] != 0x26 { j += 1 }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: s[i..<j]))
            i = j
        }
    }
}

/// Appends a scalar's UTF-8 encoding.
@inline(__always) func appendUTF8(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
    let v = scalar.value
    switch v {
    case 0..<0x80: out.append(UInt8(v))
    case 0x80..<0x800: out.append(contentsOf: [UInt8(0xC0 | v >> 6), UInt8(0x80 | v & 0x3F)])
    case 0x800..<0x10000: out.append(contentsOf: [UInt8(0xE0 | v >> 12), UInt8(0x80 | (v >> 6) & 0x3F), UInt8(0x80 | v & 0x3F)])
    default: out.append(contentsOf: [UInt8(0xF0 | v >> 18), UInt8(0x80 | (v >> 12) & 0x3F), UInt8(0x80 | (v >> 6) & 0x3F), UInt8(0x80 | v & 0x3F)])
    }
}

/// HTML character references (`&amp;`, `&eacute;`, `&#8212;`, `&#x2014;`), decoded with the
/// entity table libxml2's HTML parser already carries.
enum HTMLEntities {
    static func decode(_ s: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) -> (Unicode.Scalar, Int)? {
        var j = i + 1
        let limit = min(end, i + 34)
        if j < limit && s[j] == 0x23 /* # */ {
            j += 1
            var hex = false
            if j < limit && (s[j] == 0x78 || s[j] == 0x58) { hex = true; j += 1 }
            var value: UInt32 = 0
            let digitsStart = j
            while j < limit, let d = digitValue(s[j], hex: hex) {
                value = value &* (hex ? 16 : 10) &+ d
                if value > 0x10FFFF { return nil }
                j += 1
            }
            guard j > digitsStart, j < end, s[j] == 0x3B else { return nil }
            return (Unicode.Scalar(value) ?? "\u{FFFD}", j + 1)
        }
        let nameStart = j
        while j < limit && isASCIILetterOrDigit(s[j]) { j += 1 }
        guard j > nameStart, j < end, s[j] == 0x3B else { return nil }
        var name = Array(s[nameStart..<j])
        name.append(0)
        guard let entity = htmlEntityLookup(name), let scalar = Unicode.Scalar(entity.pointee.value) else { return nil }
        return (scalar, j + 1)
    }

    @inline(__always) static func digitValue(_ b: UInt8, hex: Bool) -> UInt32? {
        if b >= 0x30 && b <= 0x39 { return UInt32(b - 0x30) }
        if hex {
            let l = b | 0x20
            if l >= 0x61 && l <= 0x66 { return UInt32(l - 0x61 + 10) }
        }
        return nil
    }
}

@inline(__always) func isASCIILetter(_ b: UInt8) -> Bool {
    let l = b | 0x20
    return l >= 0x61 && l <= 0x7A
}

@inline(__always) func isASCIILetterOrDigit(_ b: UInt8) -> Bool {
    isASCIILetter(b) || (b >= 0x30 && b <= 0x39)
}
