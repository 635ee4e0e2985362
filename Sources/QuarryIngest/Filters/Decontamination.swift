import QuarryCore

/// `--decontaminate FILE…`: drops a document that shares a run of 13 words with any text of the
/// given sets (evaluation sets, a labelled dev set), as NeMo Curator's task decontamination does,
/// so that a model pre-trained on the corpus has not seen what it will be measured on. Words are
/// runs of letters and digits, lower-cased (punctuation and case do not hide a copy). A text of
/// 8 to 12 words is matched whole; a shorter one is too common a phrase to count and is ignored.
public struct Decontaminator: DocumentFilter {
    public let n: Int
    public let minimumWords: Int
    /// Hashes of the sets' n-grams (and whole short texts), by length in words.
    private var grams: [Int: Set<UInt64>] = [:]
    /// How many texts of the sets gave at least one n-gram.
    public private(set) var textsUsed = 0

    public init(texts: [String], n: Int = 13, minimumWords: Int = 8) {
        self.n = n
        self.minimumWords = minimumWords
        for text in texts {
            let words = Self.wordHashes(text)
            guard words.count >= minimumWords else { continue }
            textsUsed += 1
            let length = min(n, words.count)
            for start in 0...(words.count - length) {
                grams[length, default: []].insert(Self.hash(words[start..<(start + length)]))
            }
        }
    }

    /// The texts of JSONL files ("text" of each line) or plain-text files (each non-blank line);
    /// an unreadable file, or sets that give nothing to match, are one-line errors.
    public init(files: [String], n: Int = 13) throws {
        var texts: [String] = []
        for path in files {
            let reader = try JSONLines.TextReader(path: path)
            while case let items = try reader.next(max: 4096), !items.isEmpty { texts += items.map(\.text) }
        }
        self.init(texts: texts, n: n)
        if textsUsed == 0 {
            throw QuarryError("--decontaminate: \(files.joined(separator: ", ")) holds no text of 8 words or more to match: give the evaluation sets' JSONL (a \"text\" per line) or plain text")
        }
    }

    public func apply(_ text: String, language: String?) -> FilterOutcome {
        let words = Self.wordHashes(text)
        for (length, set) in grams where words.count >= length {
            for start in 0...(words.count - length) where set.contains(Self.hash(words[start..<(start + length)])) {
                return .drop(.contaminated, value: Double(length))
            }
        }
        return .kept
    }

    /// Each word's 64-bit FNV-1a hash, lower-cased letters and digits only.
    static func wordHashes(_ text: String) -> [UInt64] {
        var hashes: [UInt64] = []
        var h: UInt64 = 0, inWord = false
        for c in text.unicodeScalars {
            let isWordCharacter = c.value < 0x80
                ? (WordSplitter.isDigit(c) || WordSplitter.isLetter(c))
                : (c.properties.isAlphabetic || c.properties.numericType != nil)
            if isWordCharacter {
                if !inWord { h = 0xCBF2_9CE4_8422_2325; inWord = true }
                for l in (c.value < 0x80 ? [Unicode.Scalar(c.value | (WordSplitter.isLetter(c) ? 0x20 : 0)) ?? c] : Array(c.properties.lowercaseMapping.unicodeScalars)) {
                    h = (h ^ UInt64(l.value)) &* 0x100_0000_01B3
                }
            } else if inWord {
                hashes.append(h)
                inWord = false
            }
        }
        if inWord { hashes.append(h) }
        return hashes
    }

    static func hash(_ words: ArraySlice<UInt64>) -> UInt64 {
        var key = UInt64(words.count)
        for w in words { key = (key ^ w) &* 0xFF51_AFD7_ED55_8CCD; key ^= key >> 29 }
        return key
    }
}
