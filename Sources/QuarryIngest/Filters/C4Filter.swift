/// C4's rules (Raffel et al. 2020) as datatrove's `C4QualityFilter` applies them by default. It
/// edits the text: of each line (whitespace-trimmed) it keeps those that
/// - have no word over 1,000 characters;
/// - end in `.` `?` `!` `"` `'` but not `...`, once Wikipedia's citation marks ("[1]", "[edit]",
///   "[citation needed]") are taken out;
/// - have at least 3 words;
/// - do not mention "javascript" or a cookie or terms-of-use phrase;
/// and it drops the whole document when a kept line holds "lorem ipsum" (`lorem_ipsum`) or `{`
/// (`curly_bracket`), or when the kept lines hold fewer than 5 sentences (`too_few_sentences`).
/// The kept lines, joined by newlines, are the text that goes on.
public struct C4Filter: DocumentFilter {
    public var maximumWordLength = 1000
    public var minimumWordsPerLine = 3
    public var minimumSentences = 5
    public var dropsLinesWithoutTerminalPunctuation = true

    public init() {}

    static let policyPhrases = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"]
        .map { Array($0.unicodeScalars) }
    static let loremIpsum = Array("lorem ipsum".unicodeScalars)
    static let javascript = Array("javascript".unicodeScalars)

    public func apply(_ text: String, language: String?) -> FilterOutcome {
        let scalars = Array(text.unicodeScalars)
        var kept: [ArraySlice<Unicode.Scalar>] = []
        var sentences = 0
        for rawLine in Self.pythonLines(scalars) {
            var line = RepetitionFilter.stripped(rawLine)
            let words = Self.wordLengths(line)
            if words.contains(where: { $0 > maximumWordLength }) { continue }
            line = Self.removingCitations(line)
            if dropsLinesWithoutTerminalPunctuation {
                guard let last = line.last, WordSplitter.lineEnds.contains(last) else { continue }
                if line.count >= 3 && line.suffix(3).allSatisfy({ $0 == "." }) { continue }
            }
            if words.count < minimumWordsPerLine { continue }
            let lower = Array(String(String.UnicodeScalarView(line)).lowercased().unicodeScalars)
            if Self.contains(lower, Self.loremIpsum) { return .drop(.loremIpsum, value: 1) }
            if Self.contains(lower, Self.javascript) { continue }
            if line.contains("{") { return .drop(.curlyBracket, value: 1) }
            if Self.policyPhrases.contains(where: { Self.contains(lower, $0) }) { continue }
            sentences += WordSplitter.sentenceCount(Array(line))
            kept.append(line)
        }
        if sentences < minimumSentences { return .drop(.tooFewSentences, value: Double(sentences)) }
        var joined = String.UnicodeScalarView()
        for (k, line) in kept.enumerated() {
            if k > 0 { joined.append("\n") }
            joined.append(contentsOf: line)
        }
        let edited = String(String.UnicodeScalarView(RepetitionFilter.stripped(Array(joined)[...])))
        return .keep(text: edited == text ? nil : edited)
    }

    /// Python's `str.splitlines()`: \n, \r, \r\n, \v, \f, \x1c–\x1e, \x85, U+2028, U+2029 end a line.
    static func pythonLines(_ s: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var lines: [ArraySlice<Unicode.Scalar>] = []
        var start = 0, i = 0
        while i < s.count {
            switch s[i].value {
            case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                lines.append(s[start..<i]); i += 1; start = i
            case 0x0D:
                lines.append(s[start..<i])
                i += (i + 1 < s.count && s[i + 1] == "\n") ? 2 : 1
                start = i
            default:
                i += 1
            }
        }
        if start < s.count { lines.append(s[start..<s.count]) }
        return lines
    }

    /// The lengths of `line.split()`'s words.
    static func wordLengths(_ line: ArraySlice<Unicode.Scalar>) -> [Int] {
        var lengths: [Int] = []
        var run = 0
        for c in line {
            if WordSplitter.isPythonWhitespace(c) {
                if run > 0 { lengths.append(run); run = 0 }
            } else {
                run += 1
            }
        }
        if run > 0 { lengths.append(run) }
        return lengths
    }

    /// `\[\d*]|\[edit]|\[citation needed]` taken out.
    static func removingCitations(_ line: ArraySlice<Unicode.Scalar>) -> ArraySlice<Unicode.Scalar> {
        guard line.contains("[") else { return line }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(line.count)
        var i = line.startIndex
        outer: while i < line.endIndex {
            if line[i] == "[" {
                var j = i + 1
                while j < line.endIndex && line[j].properties.numericType == .decimal { j += 1 }
                if j < line.endIndex && line[j] == "]" { i = j + 1; continue }
                for marker in citationMarkers where line[(i + 1)...].starts(with: marker) {
                    i += 1 + marker.count
                    continue outer
                }
            }
            out.append(line[i])
            i += 1
        }
        return out[...]
    }

    static let citationMarkers = ["edit]", "citation needed]"].map { Array($0.unicodeScalars) }

    static func contains(_ haystack: [Unicode.Scalar], _ needle: [Unicode.Scalar]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return false }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
