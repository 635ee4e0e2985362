import CLibXML2
import QuarryCore

// Class, id and role values are read for nearly every element of a page, in several passes;
// reading them as Swift strings (a copy, a lowercased copy, an array of word strings, a hash for
// a `Set<String>`) was a fifth of extraction time on attribute-heavy pages. Here they are
// scanned in place in libxml2's attribute text and their words compared as FNV-1a codes
// (`TagName.code`), with nothing allocated.

/// An attribute's value, read in place (valid while the document lives).
struct AttributeText {
    /// NUL-terminated UTF-8; nil for an attribute without a value (`<div hidden>`).
    let bytes: UnsafePointer<xmlChar>?

    init?(_ node: xmlNodePtr, _ name: StaticString) {
        var attr = node.pointee.properties
        while let a = attr {
            if xmlNameEquals(a.pointee.name, name) {
                bytes = a.pointee.children.flatMap { UnsafePointer($0.pointee.content) }
                return
            }
            attr = a.pointee.next
        }
        return nil
    }

    var isEmpty: Bool { bytes.map { $0.pointee == 0 } ?? true }

    /// Equal to an ASCII literal, exactly (case counts, as in `aria-hidden="true"`).
    func equals(_ literal: StaticString) -> Bool {
        guard let bytes else { return literal.utf8CodeUnitCount == 0 }
        return xmlNameEquals(bytes, literal)
    }

    /// Whether `needle` (lowercase ASCII) occurs in the value, ignoring ASCII case.
    func containsIgnoringCase(_ needle: [UInt8]) -> Bool {
        guard let bytes, let first = needle.first else { return needle.isEmpty }
        var start = bytes
        while start.pointee != 0 {
            if asciiLower(start.pointee) == first {
                var k = 1
                while k < needle.count, start[k] != 0, asciiLower(start[k]) == needle[k] { k += 1 }
                if k == needle.count { return true }
            }
            start += 1
        }
        return false
    }

    /// Lowercase words split at punctuation and at camelCase humps ("TestReport__AuthorBox" →
    /// test, report, author, box); bytes above ASCII belong to words. Stops at the first word
    /// `body` accepts and returns it.
    func firstWord(where body: (NameWord) -> Bool) -> NameWord? {
        guard let bytes else { return nil }
        var hash = FNV1a(), start = bytes, count = 0
        var previousWasLower = false
        var p = bytes
        while true {
            let b = p.pointee
            let isUpper = b >= 0x41 && b <= 0x5A
            let isLower = (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            let inWord = isUpper || isLower || b >= 0x80
            if count > 0 && (!inWord || (isUpper && previousWasLower)) {
                let word = NameWord(code: hash.value, start: start, count: count)
                if body(word) { return word }
                hash = FNV1a()
                count = 0
            }
            if b == 0 { return nil }
            if inWord {
                if count == 0 { start = p }
                hash.add(isUpper ? b | 0x20 : b)
                count += 1
                previousWasLower = isLower
            } else {
                previousWasLower = false
            }
            p += 1
        }
    }

    /// Whitespace-separated tokens ("sr-only", "d-none"), lowercased, as codes: the first in `set`.
    func firstToken(in set: NameSet) -> UInt64? {
        guard let bytes else { return nil }
        var hash = FNV1a(), count = 0
        var p = bytes
        while true {
            let b = p.pointee
            if b == 0 || b == 0x20 || b == 0x09 || b == 0x0A {
                if count > 0 && set.contains(hash.value) { return hash.value }
                if b == 0 { return nil }
                hash = FNV1a()
                count = 0
            } else {
                hash.add(asciiLower(b))
                count += 1
            }
            p += 1
        }
    }
}

/// One lowercase word of a class or id value (see `AttributeText.firstWord`).
struct NameWord {
    let code: UInt64
    let start: UnsafePointer<xmlChar>
    let count: Int

    /// Starts with the lowercase ASCII `prefix`.
    func hasPrefix(_ prefix: StaticString) -> Bool {
        guard count >= prefix.utf8CodeUnitCount else { return false }
        return prefix.withUTF8Buffer { lit in
            for i in 0..<lit.count where asciiLower(start[i]) != lit[i] { return false }
            return true
        }
    }
}

/// A fixed set of lowercase words, held as their codes.
struct NameSet: ExpressibleByArrayLiteral {
    let codes: Set<UInt64>
    init(arrayLiteral words: String...) { codes = Set(words.map(TagName.code(of:))) }
    func contains(_ code: UInt64) -> Bool { codes.contains(code) }
}
