/// GPT-2's pre-tokenization, written as a scanner over Unicode scalar properties rather than
/// a regex. It reproduces the pattern
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// alternative by alternative: at each position the first alternative that matches wins, and
/// each is greedy. The one subtle rule is `\s+(?!\S)`: a run of whitespace followed by a
/// non-space gives up its last character, which then starts the next piece when it is a
/// space (" word") or stands alone otherwise.
///
/// Performance notes: ASCII bytes are classified by arithmetic; only non-ASCII scalars
/// consult Unicode properties (general category, White_Space). Pieces are reported as byte
/// ranges of the input, so nothing is allocated per piece.
public enum GPT2PreTokenizer {
    enum Class: UInt8 { case letter, number, space, other }

    /// ASCII by arithmetic rather than a table: a static table is a `swift_once` check and a
    /// shared buffer retained from every encoding thread (both showed in profiles).
    @inline(__always)
    static func classifyASCII(_ v: UInt32) -> Class {
        if (v | 0x20) &- 0x61 < 26 { return .letter }
        if v &- 0x30 < 10 { return .number }
        if v == 0x20 || v &- 0x09 < 5 { return .space }  // White_Space in ASCII: 9–13 and space
        return .other
    }

    @inline(__always)
    static func classify(_ scalar: UInt32) -> Class {
        if scalar < 128 { return classifyASCII(scalar) }
        guard let s = Unicode.Scalar(scalar) else { return .other }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return s.properties.isWhitespace ? .space : .other
        }
    }

    /// Decodes the scalar at `i` of valid UTF-8; returns it and its length in bytes.
    @inline(__always)
    static func scalar(_ s: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
        let b = s[i]
        if b < 0x80 { return (UInt32(b), 1) }
        if b < 0xE0 { return (UInt32(b & 0x1F) << 6 | UInt32(s[i + 1] & 0x3F), 2) }
        if b < 0xF0 { return (UInt32(b & 0x0F) << 12 | UInt32(s[i + 1] & 0x3F) << 6 | UInt32(s[i + 2] & 0x3F), 3) }
        return (UInt32(b & 0x07) << 18 | UInt32(s[i + 1] & 0x3F) << 12 | UInt32(s[i + 2] & 0x3F) << 6 | UInt32(s[i + 3] & 0x3F), 4)
    }

    /// Calls `piece` with the byte range of each piece of `text` (valid UTF-8), in order.
    public static func split(_ s: UnsafeBufferPointer<UInt8>, _ piece: (Range<Int>) -> Void) {
        let n = s.count
        var i = 0
        while i < n {
            let start = i
            let (c0, l0) = scalar(s, i)
            // Contractions: 's 't 're 've 'm 'll 'd (lowercase only, as in GPT-2's pattern).
            if c0 == 0x27 && i + 1 < n {
                let c1 = s[i + 1]
                if c1 == 0x73 || c1 == 0x74 || c1 == 0x6D || c1 == 0x64 { piece(i..<(i + 2)); i += 2; continue }
                if i + 2 < n {
                    let c2 = s[i + 2]
                    if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) {
                        piece(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            var class0 = classify(c0)
            var bodyStart = i
            // ` ?X+`: a single leading space joins a following letter, number or symbol run.
            if c0 == 0x20 && i + 1 < n {
                let (c1, _) = scalar(s, i + 1)
                let class1 = classify(c1)
                if class1 != .space {
                    class0 = class1
                    bodyStart = i + 1
                }
            }
            if class0 != .space {
                var j = bodyStart
                while j < n {
                    let (c, l) = scalar(s, j)
                    if classify(c) != class0 { break }
                    j += l
                }
                piece(start..<j)
                i = j
                continue
            }
            // Whitespace run: `\s+(?!\S)` then `\s+`.
            var j = i + l0
            var lastStart = i
            while j < n {
                let (c, l) = scalar(s, j)
                if classify(c) != .space { break }
                lastStart = j
                j += l
            }
            if j < n && lastStart > i {
                // Followed by a non-space: leave the last whitespace character for the next piece.
                piece(i..<lastStart)
                i = lastStart
            } else {
                piece(i..<j)
                i = j
            }
        }
    }

    /// As `split`, after every digit (`\p{N}`, Rust's `char::is_numeric`) was made a piece of its
    /// own: HF's `Sequence[Digits(individual_digits), ByteLevel]`. The text between digits is
    /// split by GPT-2's pattern on its own, so a space before a digit stays a piece by itself.
    public static func splitWithIndividualDigits(_ s: UnsafeBufferPointer<UInt8>, _ piece: (Range<Int>) -> Void) {
        var start = 0, i = 0
        while i < s.count {
            let (c, length) = scalar(s, i)
            if classify(c) == .number {
                if start < i { split(UnsafeBufferPointer(rebasing: s[start..<i])) { piece(($0.lowerBound + start)..<($0.upperBound + start)) } }
                piece(i..<(i + length))
                start = i + length
            }
            i += length
        }
        if start < s.count { split(UnsafeBufferPointer(rebasing: s[start..<s.count])) { piece(($0.lowerBound + start)..<($0.upperBound + start)) } }
    }

    /// Convenience for tests and small inputs: the pieces as strings.
    public static func pieces(_ text: String, individualDigits: Bool = false) -> [String] {
        var text = text
        var out: [String] = []
        text.withUTF8 { s in
            (individualDigits ? splitWithIndividualDigits : split)(s) { out.append(String(decoding: UnsafeBufferPointer(rebasing: s[$0]), as: UTF8.self)) }
        }
        return out
    }
}
