import Foundation

/// The cleaning every document goes through, whatever its source: valid UTF-8, Unicode NFC,
/// no control characters, normalised whitespace.
///
/// Layout rules: spaces and tabs collapse to one space; lines are trimmed; paragraph breaks
/// (blank lines) survive as exactly one blank line; leading and trailing blank lines go.
public enum TextCleaner {
    /// Documents with more than this share of undecodable bytes are binary, not text.
    public static let maximumInvalidByteShare = 0.01

    public enum Outcome: Equatable {
        case clean(String, repairedBytes: Int)
        case dropped(DropReason)
    }

    /// Cleans raw bytes: invalid UTF-8 sequences become U+FFFD, unless there are so many that
    /// the input is not text at all.
    public static func clean(bytes: [UInt8]) -> Outcome {
        var invalid = 0
        let decoded = decodeUTF8(bytes, invalidCount: &invalid)
        if invalid > 0 && Double(invalid) > Double(bytes.count) * maximumInvalidByteShare {
            return .dropped(.invalidUTF8)
        }
        let text = clean(decoded)
        return text.isEmpty ? .dropped(.empty) : .clean(text, repairedBytes: invalid)
    }

    /// Decodes UTF-8, replacing each maximal invalid subsequence with U+FFFD and counting them.
    static func decodeUTF8(_ bytes: [UInt8], invalidCount: inout Int) -> String {
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        var scalars = String.UnicodeScalarView()
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): scalars.append(s)
            case .emptyInput: break loop
            case .error:
                invalidCount += 1
                scalars.append("\u{FFFD}")
            }
        }
        return String(scalars)
    }

    /// Cleans text that is already valid Unicode.
    ///
    /// Performance notes: this runs on every document, so it scans UTF-8 bytes and copies runs
    /// of kept bytes, decoding a scalar only for non-ASCII lead bytes; appending scalar by
    /// scalar to a `String.UnicodeScalarView` was 4× slower and 40% of wiki extraction time.
    public static func clean(_ text: String) -> String {
        var text = text
        var mayNeedNFC = false
        let cleaned: [UInt8] = text.withUTF8 { s in
            var out: [UInt8] = []
            out.reserveCapacity(s.count)
            var layout = Layout()
            var previousWasCarriageReturn = false
            var i = 0
            let n = s.count
            while i < n {
                let b = s[i]
                if b > 0x20 && b < 0x7F {
                    // Printable ASCII: copy the whole run after any pending separator.
                    var j = i + 1
                    while j < n && s[j] > 0x20 && s[j] < 0x7F { j += 1 }
                    layout.separate(into: &out)
                    previousWasCarriageReturn = false
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: s[i..<j]))
                    i = j
                    continue
                }
                var v = UInt32(b)
                var length = 1
                if b >= 0x80 {
                    // Valid UTF-8 is guaranteed by String: decode the scalar from 2–4 bytes.
                    if b < 0xE0 { v = UInt32(b & 0x1F) << 6 | UInt32(s[i + 1] & 0x3F); length = 2 }
                    else if b < 0xF0 { v = UInt32(b & 0x0F) << 12 | UInt32(s[i + 1] & 0x3F) << 6 | UInt32(s[i + 2] & 0x3F); length = 3 }
                    else { v = UInt32(b & 0x07) << 18 | UInt32(s[i + 1] & 0x3F) << 12 | UInt32(s[i + 2] & 0x3F) << 6 | UInt32(s[i + 3] & 0x3F); length = 4 }
                }
                defer { i += length }
                if v == 0x0A || v == 0x0D || v == 0x2028 || v == 0x2029 || v == 0x0B || v == 0x0C || v == 0x85 {
                    // \r\n counts once: a \n right after \r is skipped.
                    if v == 0x0A && previousWasCarriageReturn {
                        previousWasCarriageReturn = false
                        continue
                    }
                    layout.pendingNewlines += (v == 0x2029) ? 2 : 1
                    layout.pendingSpace = false
                    layout.lineHasContent = false
                    previousWasCarriageReturn = (v == 0x0D)
                    continue
                }
                previousWasCarriageReturn = false
                if v == 0x09 || v == 0x20 || (v >= 0x80 && isUnicodeSpace(v)) {
                    if layout.lineHasContent { layout.pendingSpace = true }
                    continue
                }
                if isRemovable(v) { continue }
                layout.separate(into: &out)
                if length == 1 {
                    out.append(b)
                } else {
                    if v >= 0x300 && !mayNeedNFC, let scalar = Unicode.Scalar(v) { mayNeedNFC = affectedByNFC(scalar) }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: s[i..<(i + length)]))
                }
            }
            return out
        }
        let result = String(decoding: cleaned, as: UTF8.self)
        return mayNeedNFC ? result.precomposedStringWithCanonicalMapping : result
    }

    /// Whitespace seen but not yet written: it becomes one space, or one or two line breaks,
    /// when the next visible character comes (a struct, so the hot loop keeps it in registers).
    struct Layout {
        var pendingSpace = false
        var pendingNewlines = 0     // line breaks seen since the last visible character
        var lineHasContent = false
        var documentHasContent = false

        @inline(__always) mutating func separate(into out: inout [UInt8]) {
            if pendingNewlines > 0 {
                if documentHasContent {
                    out.append(0x0A)
                    if pendingNewlines > 1 { out.append(0x0A) }
                }
                pendingNewlines = 0
            } else if pendingSpace {
                out.append(0x20)
            }
            pendingSpace = false
            lineHasContent = true
            documentHasContent = true
        }
    }

    /// Zs separators other than the ASCII space: no-break space, en/em spaces, ideographic space…
    @inline(__always) static func isUnicodeSpace(_ v: UInt32) -> Bool {
        v == 0xA0 || v == 0x1680 || (v >= 0x2000 && v <= 0x200A) || v == 0x202F || v == 0x205F || v == 0x3000
    }

    /// Control characters (C0, DEL, C1) and invisible format characters that carry no text:
    /// zero-width space, BOM, soft hyphen.
    @inline(__always) static func isRemovable(_ v: UInt32) -> Bool {
        v < 0x20 || (v >= 0x7F && v < 0xA0) || v == 0x200B || v == 0xFEFF || v == 0xAD
            || (v >= 0xFFF9 && v <= 0xFFFB)
    }

    /// True for scalars that NFC may change: combining marks, Hangul jamo that compose, and the
    /// singletons NFC maps away (Ångström sign, Ohm sign, CJK compatibility ideographs…).
    /// Everything else is left alone, so Latin, Cyrillic or CJK text skips normalisation.
    static func affectedByNFC(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if s.properties.canonicalCombiningClass != .notReordered { return true }
        if (0x1161...0x11C2).contains(v) { return true }            // Hangul vowel/trailing jamo
        if (0x0340...0x0344).contains(v) || v == 0x0374 || v == 0x037E || v == 0x0387 { return true }
        if (0x0958...0x095F).contains(v) || (0x09DC...0x09DF).contains(v) || (0x0A33...0x0A5E).contains(v) { return true }
        if (0x0B5C...0x0B5D).contains(v) || (0x0F43...0x0FB9).contains(v) { return true }
        if (0x1F71...0x1FFD).contains(v) || (0x2000...0x2001).contains(v) { return true }
        if v == 0x2126 || v == 0x212A || v == 0x212B || v == 0x2329 || v == 0x232A { return true }
        if (0xF900...0xFAFF).contains(v) || (0xFB1D...0xFB4E).contains(v) || (0x2F800...0x2FA1D).contains(v) { return true }
        // Scripts whose vowel signs compose with a preceding letter (Indic two-part vowels, Hangul syllables
        // are already composed, Kana voicing marks are combining and caught above).
        if (0x09BE...0x09D7).contains(v) || (0x0B3E...0x0B57).contains(v) || (0x0BBE...0x0BD7).contains(v)
            || (0x0CC2...0x0CD6).contains(v) || (0x0D3E...0x0D57).contains(v) || (0x0DCF...0x0DDF).contains(v)
            || v == 0x102E || (0x1B35...0x1B35).contains(v) { return true }
        return false
    }
}
