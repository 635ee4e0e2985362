/// Gopher-style quality rules (Rae et al. 2021, "Scaling Language Models", appendix A), with
/// the thresholds datatrove's GopherQualityFilter uses by default. A document passes when:
/// - it has between `minimumWords` and `maximumWords` words;
/// - its words (those with a letter or digit) are 3 to 10 characters long on average;
/// - `#` symbols and ellipses are at most 10% of its word count;
/// - at most 90% of its lines start with a bullet and at most 30% end with an ellipsis;
/// - at least 80% of its words contain a letter;
/// - it has at least 2 of the English stop words "the be to of and that have with".
/// Words are whitespace-separated tokens. `check` says which rule failed, for the counts.
public struct QualityFilter: Sendable {
    public var minimumWords = 50
    public var maximumWords = 100_000
    public var minimumMeanWordLength = 3.0
    public var maximumMeanWordLength = 10.0
    public var maximumSymbolRatio = 0.1
    public var maximumBulletLineRatio = 0.9
    public var maximumEllipsisLineRatio = 0.3
    public var minimumAlphabeticWordRatio = 0.8
    public var minimumStopWords = 2
    /// Stop-word checks only make sense for English; set false for other languages.
    public var requireStopWords = true

    public init() {}

    /// nil when the document passes.
    ///
    /// Performance notes: one pass over UTF-8 bytes; only non-ASCII scalars consult Unicode
    /// properties. The first version split into Substrings and asked Character properties,
    /// which was 40% of `quarry ingest`'s time.
    public func check(_ text: String) -> DropReason? {
        var text = text
        return text.withUTF8 { check(bytes: $0) }
    }

    /// The same for a document identified as `language` (nil: not identified): the English
    /// stop-word rule applies to English (or unidentified) documents only.
    public func check(_ text: String, language: String?) -> DropReason? {
        var filter = self
        if let language, language != "en" { filter.requireStopWords = false }
        return filter.check(text)
    }

    private func check(bytes s: UnsafeBufferPointer<UInt8>) -> DropReason? {
        var words = 0, wordCharacters = 0, measuredWords = 0, alphabeticWords = 0, symbols = 0, stops = 0
        var lines = 0, bullets = 0, ellipses = 0
        var i = 0
        let n = s.count
        var lineStart = true
        var lineHasText = false
        while i < n {
            let b = s[i]
            if b == 0x0A {
                if lineHasText { lines += 1 }
                if lineHasText && Self.endsWithEllipsis(s, before: i) { ellipses += 1 }
                lineStart = true
                lineHasText = false
                i += 1
                continue
            }
            if b == 0x20 || b == 0x09 || b == 0x0D { i += 1; continue }
            // A word: up to the next ASCII whitespace.
            let start = i
            var characters = 0, hasLetter = false, hasAlphanumeric = false
            while i < n {
                let c = s[i]
                if c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D { break }
                if c < 0x80 {
                    let l = c | 0x20
                    if l >= 0x61 && l <= 0x7A { hasLetter = true; hasAlphanumeric = true }
                    else if c >= 0x30 && c <= 0x39 { hasAlphanumeric = true }
                    characters += 1
                    i += 1
                } else {
                    let (scalar, length) = Self.decode(s, i)
                    if let u = Unicode.Scalar(scalar) {
                        if u.properties.isAlphabetic { hasLetter = true; hasAlphanumeric = true }
                        else if u.properties.numericType != nil { hasAlphanumeric = true }
                    }
                    characters += 1
                    i += length
                }
            }
            if lineStart {
                lineStart = false
                if Self.isBullet(s, at: start) { bullets += 1 }
            }
            lineHasText = true
            words += 1
            if hasAlphanumeric { measuredWords += 1; wordCharacters += characters }
            if hasLetter { alphabeticWords += 1 }
            if s[start] == 0x23 { symbols += 1 }
            if Self.endsWithEllipsis(s, before: i) { symbols += 1 }
            if requireStopWords && i - start <= 4 && Self.isStopWord(s, start, i) { stops += 1 }
        }
        if lineHasText {
            lines += 1
            if Self.endsWithEllipsis(s, before: n) { ellipses += 1 }
        }
        if words < minimumWords { return .tooFewWords }
        if words > maximumWords { return .tooManyWords }
        let mean = measuredWords > 0 ? Double(wordCharacters) / Double(measuredWords) : 0
        if mean < minimumMeanWordLength || mean > maximumMeanWordLength { return .meanWordLength }
        if Double(symbols) > maximumSymbolRatio * Double(words) { return .symbolRatio }
        if lines > 0 && Double(bullets) > maximumBulletLineRatio * Double(lines) { return .bulletLines }
        if lines > 0 && Double(ellipses) > maximumEllipsisLineRatio * Double(lines) { return .ellipsisLines }
        if Double(alphabeticWords) < minimumAlphabeticWordRatio * Double(words) { return .alphabeticWords }
        if requireStopWords && stops < minimumStopWords { return .stopWords }
        return nil
    }

    @inline(__always) static func decode(_ s: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
        let b = s[i]
        if b < 0xE0, i + 1 < s.count { return (UInt32(b & 0x1F) << 6 | UInt32(s[i + 1] & 0x3F), 2) }
        if b < 0xF0, i + 2 < s.count { return (UInt32(b & 0x0F) << 12 | UInt32(s[i + 1] & 0x3F) << 6 | UInt32(s[i + 2] & 0x3F), 3) }
        if i + 3 < s.count {
            return (UInt32(b & 0x07) << 18 | UInt32(s[i + 1] & 0x3F) << 12 | UInt32(s[i + 2] & 0x3F) << 6 | UInt32(s[i + 3] & 0x3F), 4)
        }
        return (0xFFFD, 1)
    }

    /// "..." or "…" (E2 80 A6) right before `end`.
    @inline(__always) static func endsWithEllipsis(_ s: UnsafeBufferPointer<UInt8>, before end: Int) -> Bool {
        var e = end
        while e > 0 && (s[e - 1] == 0x20 || s[e - 1] == 0x0D || s[e - 1] == 0x09) { e -= 1 }
        if e >= 3 && s[e - 1] == 0x2E && s[e - 2] == 0x2E && s[e - 3] == 0x2E { return true }
        return e >= 3 && s[e - 3] == 0xE2 && s[e - 2] == 0x80 && s[e - 1] == 0xA6
    }

    /// A line starting with • ‣ ◦ ⁃ ∙ · - * – —.
    static func isBullet(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        let b = s[i]
        if b == 0x2D || b == 0x2A { return true }
        if b == 0xC2 && i + 1 < s.count && s[i + 1] == 0xB7 { return true }          // ·
        guard b == 0xE2, i + 2 < s.count else { return false }
        let (c, _) = decode(s, i)
        return c == 0x2022 || c == 0x2023 || c == 0x25E6 || c == 0x2043 || c == 0x2219 || c == 0x2013 || c == 0x2014
    }

    static let stopWords: [[UInt8]] = ["the", "be", "to", "of", "and", "that", "have", "with"].map { Array($0.utf8) }

    static func isStopWord(_ s: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        let length = end - start
        outer: for word in stopWords where word.count == length {
            for k in 0..<length where (s[start + k] | 0x20) != word[k] { continue outer }
            return true
        }
        return false
    }
}
