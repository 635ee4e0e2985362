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

    public enum Failure: String, Sendable, CaseIterable {
        case tooFewWords = "gopher_too_few_words"
        case tooManyWords = "gopher_too_many_words"
        case meanWordLength = "gopher_mean_word_length"
        case symbolRatio = "gopher_symbol_ratio"
        case bulletLines = "gopher_bullet_lines"
        case ellipsisLines = "gopher_ellipsis_lines"
        case alphabeticWords = "gopher_alphabetic_words"
        case stopWords = "gopher_stop_words"
    }

    static let stopWords: Set<Substring> = ["the", "be", "to", "of", "and", "that", "have", "with"]

    /// nil when the document passes.
    public func check(_ text: String) -> Failure? {
        var words = 0, wordCharacters = 0, measuredWords = 0, alphabeticWords = 0, symbols = 0, stops = 0
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
            words += 1
            var hasLetter = false, hasAlphanumeric = false
            for ch in word.unicodeScalars {
                if ch.properties.isAlphabetic { hasLetter = true; hasAlphanumeric = true } else if ch.properties.numericType != nil { hasAlphanumeric = true }
            }
            if hasAlphanumeric { measuredWords += 1; wordCharacters += word.count }
            if hasLetter { alphabeticWords += 1 }
            if word == "#" || word.hasPrefix("#") { symbols += 1 }
            if word.hasSuffix("...") || word.hasSuffix("…") { symbols += 1 }
            if requireStopWords && word.count <= 4 && Self.stopWords.contains(Substring(word.lowercased())) { stops += 1 }
        }
        if words < minimumWords { return .tooFewWords }
        if words > maximumWords { return .tooManyWords }
        let mean = measuredWords > 0 ? Double(wordCharacters) / Double(measuredWords) : 0
        if mean < minimumMeanWordLength || mean > maximumMeanWordLength { return .meanWordLength }
        if Double(symbols) > maximumSymbolRatio * Double(words) { return .symbolRatio }
        var lines = 0, bullets = 0, ellipses = 0
        for line in text.split(separator: "\n") {
            lines += 1
            let trimmed = line.drop { $0 == " " }
            if let first = trimmed.first, "•‣◦⁃∙·-*–—".contains(first) { bullets += 1 }
            if line.hasSuffix("...") || line.hasSuffix("…") { ellipses += 1 }
        }
        if lines > 0 && Double(bullets) > maximumBulletLineRatio * Double(lines) { return .bulletLines }
        if lines > 0 && Double(ellipses) > maximumEllipsisLineRatio * Double(lines) { return .ellipsisLines }
        if Double(alphabeticWords) < minimumAlphabeticWordRatio * Double(words) { return .alphabeticWords }
        if requireStopWords && stops < minimumStopWords { return .stopWords }
        return nil
    }
}
