/// Gopher's repetition rules (Rae et al. 2021, table A1) as datatrove's `GopherRepetitionFilter`
/// applies them, with its defaults and its reasons. A document is dropped when
/// - duplicate paragraphs (split at blank lines) are over 30% of its paragraphs (`dup_para_frac`)
///   or their characters over 20% of its characters (`dup_para_char_frac`);
/// - the same for lines (`dup_line_frac` 30%, `dup_line_char_frac` 20%);
/// - the most frequent 2-, 3- or 4-gram of words, times its count, covers over 20%, 18%, 16% of
///   the characters (`top_2_gram` …);
/// - repeated 5- … 10-grams cover over 15%, 14%, 13%, 12%, 11%, 10% (`duplicated_5_n_grams` …).
/// A "duplicate" is every copy after the first. Characters are Unicode scalars, as in Python.
public struct RepetitionFilter: DocumentFilter {
    public var duplicateLineFraction = 0.3
    public var duplicateParagraphFraction = 0.3
    public var duplicateLineCharacterFraction = 0.2
    public var duplicateParagraphCharacterFraction = 0.2
    public var topNGrams: [(n: Int, fraction: Double)] = [(2, 0.2), (3, 0.18), (4, 0.16)]
    public var duplicatedNGrams: [(n: Int, fraction: Double)] = [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]

    public init() {}

    public func apply(_ text: String, language: String?) -> FilterOutcome {
        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return .drop(.empty, value: 0) }
        let length = Double(scalars.count)

        let paragraphs = Self.split(Self.stripped(scalars[...]), atNewlineRunsOfAtLeast: 2)
        let (duplicateParagraphs, paragraphCharacters) = Self.duplicates(paragraphs)
        let paragraphShare = Double(duplicateParagraphs) / Double(paragraphs.count)
        if paragraphShare > duplicateParagraphFraction { return .drop(.duplicateParagraphFraction, value: paragraphShare) }
        if Double(paragraphCharacters) / length > duplicateParagraphCharacterFraction {
            return .drop(.duplicateParagraphCharacterFraction, value: Double(paragraphCharacters) / length)
        }

        let lines = Self.split(scalars[...], atNewlineRunsOfAtLeast: 1)
        let (duplicateLines, lineCharacters) = Self.duplicates(lines)
        let lineShare = Double(duplicateLines) / Double(lines.count)
        if lineShare > duplicateLineFraction { return .drop(.duplicateLineFraction, value: lineShare) }
        if Double(lineCharacters) / length > duplicateLineCharacterFraction {
            return .drop(.duplicateLineCharacterFraction, value: Double(lineCharacters) / length)
        }

        let words = NGramWords(WordSplitter.words(scalars))
        for (n, fraction) in topNGrams where words.count >= n {
            let share = Double(words.topNGramCharacters(n)) / length
            if share > fraction, let reason = DropReason.topNGram(n) { return .drop(reason, value: share) }
        }
        for (n, fraction) in duplicatedNGrams {
            let share = Double(words.duplicatedNGramCharacters(n)) / length
            if share > fraction, let reason = DropReason.duplicatedNGrams(n) { return .drop(reason, value: share) }
        }
        return .kept
    }

    /// Python's `str.strip()`: whitespace off both ends.
    static func stripped(_ s: ArraySlice<Unicode.Scalar>) -> ArraySlice<Unicode.Scalar> {
        var start = s.startIndex, end = s.endIndex
        while start < end && WordSplitter.isPythonWhitespace(s[start]) { start += 1 }
        while end > start && WordSplitter.isPythonWhitespace(s[end - 1]) { end -= 1 }
        return s[start..<end]
    }

    /// `re.split("\n{k,}", s)`: the pieces between runs of at least `k` newlines (empty ones kept).
    static func split(_ s: ArraySlice<Unicode.Scalar>, atNewlineRunsOfAtLeast k: Int) -> [ArraySlice<Unicode.Scalar>] {
        var pieces: [ArraySlice<Unicode.Scalar>] = []
        var start = s.startIndex, i = s.startIndex
        while i < s.endIndex {
            if s[i] == "\n" {
                var j = i
                while j < s.endIndex && s[j] == "\n" { j += 1 }
                if j - i >= k {
                    pieces.append(s[start..<i])
                    start = j
                }
                i = j
            } else {
                i += 1
            }
        }
        pieces.append(s[start..<s.endIndex])
        return pieces
    }

    /// Copies after the first, and their characters. Compared by a 64-bit hash of their
    /// scalars and their length (Swift's generic hashing of each scalar was the larger cost).
    static func duplicates(_ elements: [ArraySlice<Unicode.Scalar>]) -> (count: Int, characters: Int) {
        var seen = Set<UInt64>()
        seen.reserveCapacity(elements.count)
        var count = 0, characters = 0
        for element in elements {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for c in element { h = (h ^ UInt64(c.value)) &* 0x100_0000_01B3 }
            h ^= UInt64(element.count) &* 0x9E37_79B9_7F4A_7C15
            if !seen.insert(h).inserted {
                count += 1
                characters += element.count
            }
        }
        return (count, characters)
    }
}

/// A document's words as the n-gram rules need them: each word's hash and length, and a
/// polynomial hash of all the words' characters run together, so that any n words' hash (as a
/// sequence, or as their concatenation, which is what datatrove compares for the duplicated
/// n-grams) costs O(1).
///
/// Performance notes: the first version built a string per n-gram, as datatrove does; hashing
/// spans of a prefix-hash table instead made this filter several times faster. Two different
/// n-grams are taken for the same only if their 64-bit hashes (and lengths) collide.
struct NGramWords {
    let count: Int
    private var wordHashes: [UInt64] = []
    private var lengths: [Int] = []
    /// `prefix[k]`: the hash of the first k characters of the words run together.
    private var prefix: [UInt64] = [0]
    private var powers: [UInt64] = [1]
    /// Where each word starts in that run (and one past the last).
    private var offsets: [Int] = [0]
    private static let base: UInt64 = 0x100000001B3

    init(_ words: [ArraySlice<Unicode.Scalar>]) {
        count = words.count
        wordHashes.reserveCapacity(count)
        lengths.reserveCapacity(count)
        offsets.reserveCapacity(count + 1)
        for word in words {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for c in word {
                h = (h ^ UInt64(c.value)) &* Self.base
                prefix.append(prefix[prefix.count - 1] &* Self.base &+ UInt64(c.value) &+ 1)
                powers.append(powers[powers.count - 1] &* Self.base)
            }
            wordHashes.append(h ^ UInt64(word.count) &* 0x9E37_79B9_7F4A_7C15)
            lengths.append(word.count)
            offsets.append(prefix.count - 1)
        }
    }

    /// Characters of the most frequent n-gram (its words joined by spaces) times its count; ties
    /// go to the n-gram seen first, as `Counter.most_common` gives.
    func topNGramCharacters(_ n: Int) -> Int {
        var counts: [UInt64: (count: Int, first: Int)] = [:]
        counts.reserveCapacity(count)
        for i in 0...(count - n) {
            var key: UInt64 = UInt64(n)
            for k in i..<(i + n) { key = (key ^ wordHashes[k]) &* 0xFF51_AFD7_ED55_8CCD; key ^= key >> 29 }
            if let entry = counts[key] { counts[key] = (entry.count + 1, entry.first) } else { counts[key] = (1, i) }
        }
        var best = (count: 0, first: Int.max)
        for entry in counts.values where entry.count > best.count || (entry.count == best.count && entry.first < best.first) {
            best = entry
        }
        return (lengths[best.first..<(best.first + n)].reduce(n - 1, +)) * best.count
    }

    /// Characters of n-grams (words joined without spaces, as datatrove does) seen before; after
    /// one, the search jumps past it.
    func duplicatedNGramCharacters(_ n: Int) -> Int {
        guard count >= n else { return 0 }
        var seen = Set<UInt64>()
        seen.reserveCapacity(count)
        var repeated = 0, i = 0
        while i < count - n + 1 {
            let a = offsets[i], b = offsets[i + n]
            let hash = prefix[b] &- prefix[a] &* powers[b - a]
            if !seen.insert(hash ^ UInt64(b - a) &* 0x9E37_79B9_7F4A_7C15).inserted {
                repeated += b - a
                i += n
            } else {
                i += 1
            }
        }
        return repeated
    }
}
