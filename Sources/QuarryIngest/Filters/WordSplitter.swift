/// Words and sentences as datatrove's filters count them. datatrove splits text with spaCy's
/// rule-based tokenizer (`spacy.blank(lang)` plus its `sentencizer`), so this follows spaCy's
/// rules: whitespace first, then from each chunk leading and trailing punctuation, quotes,
/// currency and symbols peeled off (a period only after a lower-case letter, a digit, other
/// punctuation or two capitals: "Mr." and "U.S." stay whole), contractions' endings ('s, n't,
/// 'll …) split, and inside what is left ellipses, hyphens between letters, commas and slashes
/// between letters, and a period between a lower-case and a capital letter. spaCy's tables of
/// exceptions are not copied: the common abbreviations below stand in for them, which is where
/// the two can differ (BENCHMARKS.md measures how often a decision changes).
///
/// Lengths are in Unicode scalars, as Python counts them.
public enum WordSplitter {
    public typealias Scalars = ArraySlice<Unicode.Scalar>

    /// The words of `text`, whitespace left out (datatrove's `split_into_words`).
    public static func words(_ text: [Unicode.Scalar]) -> [Scalars] {
        var words: [Scalars] = []
        words.reserveCapacity(text.count / 4)
        forEachChunk(text[...]) { split($0, into: &words) }
        return words
    }

    /// How many sentences spaCy's sentencizer finds in `text`: a sentence ends at a token that
    /// is one of its sentence-final characters, once a token that is not punctuation follows.
    /// Whitespace counts here: spaCy keeps a run of whitespace as a token of its own (all but the
    /// single space a word keeps after it), and such a token after a "." starts a sentence.
    public static func sentenceCount(_ text: [Unicode.Scalar]) -> Int {
        var tokens: [Scalars] = []
        var any = false
        forEachChunk(text[...], whitespaceToken: { tokens.append($0) }) { split($0, into: &tokens) }
        var count = 1, seenFinal = false
        for token in tokens {
            any = true
            let isFinal = token.count == 1 && sentenceFinal.contains(token[token.startIndex])
            if seenFinal && !isFinal && !token.allSatisfy(isPunctuation) {
                count += 1
                seenFinal = false
            } else if isFinal {
                seenFinal = true
            }
        }
        return any ? count : 1
    }

    /// Calls `body` with each run of non-whitespace; with `whitespaceToken`, also calls that with
    /// each run of whitespace spaCy makes a token of (the run, less the one space after a word).
    static func forEachChunk(_ text: Scalars, whitespaceToken: ((Scalars) -> Void)? = nil, _ body: (Scalars) -> Void) {
        var start: Int? = nil
        var space = text.startIndex
        for i in text.indices {
            if isPythonWhitespace(text[i]) {
                if let s = start {
                    body(text[s..<i])
                    start = nil
                    space = text[i] == " " ? i + 1 : i
                }
            } else if start == nil {
                if let whitespaceToken, space < i { whitespaceToken(text[space..<i]) }
                start = i
            }
        }
        if let s = start { body(text[s..<text.endIndex]) } else if let whitespaceToken, space < text.endIndex { whitespaceToken(text[space...]) }
    }

    /// spaCy's loop: a special case ends it; else a prefix, then a suffix, peeled while any is found.
    static func split(_ chunk: Scalars, into words: inout [Scalars]) {
        var rest = chunk
        var suffixes: [Scalars] = []
        while !rest.isEmpty {
            if isSpecial(rest) { break }
            var changed = false
            if let p = prefixLength(rest) {
                if p >= rest.count { break }
                words.append(rest.prefix(p))
                rest = rest.dropFirst(p)
                changed = true
                if isSpecial(rest) { break }
            }
            if let s = suffixLength(rest), s < rest.count {
                suffixes.append(rest.suffix(s))
                rest = rest.dropLast(s)
                changed = true
            }
            if !changed { break }
        }
        if !rest.isEmpty {
            if let key = packed(rest), let head = contractionKeys[key] {
                words.append(rest.prefix(head))
                words.append(rest.dropFirst(head))
            } else if isSpecial(rest) || looksLikeURL(rest) {
                words.append(rest)
            } else {
                splitInfixes(rest, into: &words)
            }
        }
        words.append(contentsOf: suffixes.reversed())
    }

    // MARK: Character classes (spaCy's char_classes)

    static let punctuation = ScalarSet("…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪")
    static let quotes = ScalarSet("'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉〈〉⟦⟧")
    static let currency = ScalarSet("$£€¥฿₽﷼₴₠₡₢₣₤₥₦₧₨₩₪₫₭₮₯₰₱₲₳₵₶₷₸₹₺₻₼₾₿")
    static let prefixOnly = ScalarSet("§%=—–")
    static let hyphens = ScalarSet("-–—~")
    static let infixOperators = ScalarSet(":<>=/")
    static let arithmetic = ScalarSet("+*^")
    static let afterDigitOrLower = ScalarSet("%²-+")
    static let lineEnds = ScalarSet(".?!\"'")
    /// The sentencizer's sentence-final characters (the common ones; the rest are rare scripts).
    static let sentenceFinal = ScalarSet("!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷﹒﹖﹗！．？｡。")

    // Performance notes: most text is ASCII, and a Unicode property lookup costs far more than a
    // bit test, so every class below answers ASCII from a bit mask and asks Unicode only above it.

    /// Python's `str.isspace()` (spaCy splits there): Unicode's White_Space and the separators U+001C–U+001F.
    @inline(__always) public static func isPythonWhitespace(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return c.value == 0x20 || (c.value >= 0x09 && c.value <= 0x0D) || (c.value >= 0x1C && c.value <= 0x1F) }
        return c.properties.isWhitespace
    }
    @inline(__always) static func isIcon(_ c: Unicode.Scalar) -> Bool {
        c.value >= 0x80 && c.properties.generalCategory == .otherSymbol
    }
    static let asciiPunctuation = ScalarSet("!\"#%&'()*,-./:;?@[\\]_{}")
    @inline(__always) static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return asciiPunctuation.contains(c) }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }
    @inline(__always) static func isLetter(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return (c.value | 0x20) >= 0x61 && (c.value | 0x20) <= 0x7A }
        return c.properties.isAlphabetic
    }
    /// spaCy's "lower" and "upper" classes both take the letters of scripts without case (Hangul,
    /// CJK, Arabic, Indic …), so a period after them splits as after a lower-case letter.
    @inline(__always) static func isLower(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return c.value >= 0x61 && c.value <= 0x7A }
        return c.properties.isLowercase || isUncasedLetter(c)
    }
    @inline(__always) static func isUpper(_ c: Unicode.Scalar) -> Bool {
        if c.value < 0x80 { return c.value >= 0x41 && c.value <= 0x5A }
        return c.properties.isUppercase || isUncasedLetter(c)
    }
    @inline(__always) static func isUncasedLetter(_ c: Unicode.Scalar) -> Bool {
        c.value >= 0x0590 && c.properties.generalCategory == .otherLetter
    }
    @inline(__always) static func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }

    // MARK: Prefixes, suffixes, infixes

    static func prefixLength(_ s: Scalars) -> Int? {
        let first = s[s.startIndex]
        if first == "." {
            var n = 0
            for c in s { if c == "." { n += 1 } else { break } }
            return n >= 2 ? n : nil
        }
        if first == "+" { return s.count > 1 && isDigit(s[s.startIndex + 1]) ? nil : 1 }
        if first == "'", s.count > 1, s[s.startIndex + 1] == "'" { return 2 }   // '' is one quote
        if punctuation.contains(first) || quotes.contains(first) || currency.contains(first)
            || prefixOnly.contains(first) || isIcon(first) { return 1 }
        return nil
    }

    static func suffixLength(_ s: Scalars) -> Int? {
        let n = s.count, end = s.endIndex
        let last = s[end - 1]
        if n >= 2 {
            let before = s[end - 2]
            if (last == "s" || last == "S") && (before == "'" || before == "’") { return 2 }
        }
        if let contraction = contractionLength(s) { return contraction }
        if last == "." {
            var dots = 0
            for c in s.reversed() { if c == "." { dots += 1 } else { break } }
            if dots >= 2 { return dots }
            guard n >= 2 else { return nil }
            let before = s[end - 2]
            if isDigit(before) || isLower(before) || afterDigitOrLower.contains(before)
                || punctuation.contains(before) || quotes.contains(before) { return 1 }
            if n >= 3 && isUpper(before) && isUpper(s[end - 3]) { return 1 }
            return nil
        }
        if last == "'", n > 1, s[end - 2] == "'" { return 2 }
        if punctuation.contains(last) || quotes.contains(last) || isIcon(last) || last == "—" || last == "–" { return 1 }
        if n >= 2 && isDigit(s[end - 2]) && (last == "+" || currency.contains(last) || last == "%") { return 1 }
        return nil
    }

    /// n't, 'll, 're, 've, 'm, 'd after a letter (spaCy lists them per word; the rule is the same).
    static func contractionLength(_ s: Scalars) -> Int? {
        let n = s.count, end = s.endIndex
        // Every ending has an apostrophe second from its start or last but one: look there first.
        guard n >= 3, s[end - 2] == "'" || s[end - 2] == "’" || s[end - 3] == "'" || s[end - 3] == "’" else { return nil }
        for tail in contractionTails {
            guard n > tail.count, isLetter(s[end - tail.count - 1]) else { continue }
            var matches = true
            for (k, c) in tail.enumerated() {
                let x = s[end - tail.count + k]
                if c == "'" { if x != "'" && x != "’" { matches = false; break } }
                else if x != c && !(x.value < 0x80 && x.value | 0x20 == c.value) && x.properties.lowercaseMapping != String(c) { matches = false; break }
            }
            if matches { return tail.count }
        }
        return nil
    }

    static let contractionTails: [[Unicode.Scalar]] = ["n't", "'ll", "'re", "'ve", "'m", "'d"].map { Array($0.unicodeScalars) }

    static func splitInfixes(_ s: Scalars, into words: inout [Scalars]) {
        var start = s.startIndex
        var i = s.startIndex
        func emit(_ upTo: Int) { if upTo > start { words.append(s[start..<upTo]) } }
        while i < s.endIndex {
            let c = s[i]
            var length = 0
            if c == "." {
                var j = i
                while j < s.endIndex && s[j] == "." { j += 1 }
                if j - i >= 2 { length = j - i }
                else if i > s.startIndex, i + 1 < s.endIndex {
                    let a = s[i - 1], b = s[i + 1]
                    if (isLower(a) || quotes.contains(a)) && (isUpper(b) || quotes.contains(b)) { length = 1 }
                }
            } else if c == "…" || isIcon(c) {
                length = 1
            } else if i > s.startIndex, i + 1 < s.endIndex {
                let a = s[i - 1]
                if c == "-" || c == "–" || c == "—" || c == "~" {
                    var j = i
                    while j < s.endIndex && hyphens.contains(s[j]) && j - i < 3 { j += 1 }
                    if j < s.endIndex, isLetter(s[j]), isLetter(a) || isDigit(a) { length = j - i }
                    else if c == "-", isDigit(a), isDigit(s[i + 1]) || s[i + 1] == "-" { length = 1 }
                } else if arithmetic.contains(c), isDigit(a), isDigit(s[i + 1]) || s[i + 1] == "-" {
                    length = 1
                } else if c == ",", isLetter(a), isLetter(s[i + 1]) {
                    length = 1
                } else if infixOperators.contains(c), isLetter(a) || isDigit(a), isLetter(s[i + 1]) {
                    length = 1
                }
            }
            if length == 1, c == ".", i - start == 1, packed(s[start...i]).map(abbreviationKeys.contains) == true {
                // "z.B.": "z." is one of the abbreviations, so the period stays with it.
                words.append(s[start...i])
                i += 1
                start = i
            } else if length > 0 {
                emit(i)
                words.append(s[i..<(i + length)])
                i += length
                start = i
            } else {
                i += 1
            }
        }
        emit(s.endIndex)
    }

    // MARK: Special cases

    /// Kept whole: English abbreviations that keep their period (titles, companies, months, US
    /// states, Latin "e.g."/"i.e.", single lower-case letters), URLs and e-mail addresses. Other
    /// words lose a final period after a lower-case letter ("etc." is "etc" and "."), as in spaCy.
    static func isSpecial(_ s: Scalars) -> Bool {
        guard s.count >= 2, let key = packed(s) else { return false }
        return abbreviationKeys.contains(key) || contractionKeys[key] != nil
    }

    /// Up to 8 Latin-1 scalars as one integer, for the tables of special cases: a lookup without
    /// making a String (which cost a third of this splitter's time).
    @inline(__always) static func packed(_ s: Scalars) -> UInt64? {
        guard s.count <= 8 else { return nil }
        var v: UInt64 = 0
        for c in s {
            guard c.value < 256, c.value != 0 else { return nil }
            v = v << 8 | UInt64(c.value)
        }
        return v
    }

    static let abbreviationKeys: Set<UInt64> = Set(abbreviations.compactMap { packed(Array($0.unicodeScalars)[...]) })
    static let contractionKeys: [UInt64: Int] = Dictionary(uniqueKeysWithValues: contractions.compactMap { key, head in
        packed(Array(key.unicodeScalars)[...]).map { ($0, head) }
    })

    static let abbreviations: Set<String> = Set(
        ("Adm. Dr. Gen. Gov. Jr. Mr. Mrs. Ms. Messrs. Prof. Rep. Rev. Sen. St. Mt. Bros. Co. co. Corp. Inc. Ltd. "
         + "Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec. "
         + "Ak. Ala. Ariz. Ark. Calif. Colo. Conn. Del. Fla. Ga. Ia. Id. Ill. Ind. Kan. Kans. Ky. La. Mass. Md. Mich. "
         + "Minn. Miss. Mo. Mont. Neb. Nebr. Nev. Okla. Ore. Pa. Tenn. Va. Wash. Wis. "
         + "D.C. N.C. N.D. N.H. N.J. N.M. N.Y. S.C. Ph.D. e.g. E.g. E.G. i.e. I.e. I.E. a.m. p.m. v.s. vs. ä. ö. ü.")
            .split(separator: " ").map(String.init)
            + "abcdefghijklmnopqrstuvwxyz".map { "\($0)." })

    /// A URL or e-mail address is not split inside (spaCy's `url_match`, tried after the affixes
    /// are off and before the infixes): `scheme://…`, or `[user@]host.tld[:port][/path]` where the
    /// top-level label is 2+ lower-case letters (so "world.Next" is still split at its period).
    static func looksLikeURL(_ s: Scalars) -> Bool {
        guard s.count >= 4 else { return false }
        var i = s.startIndex
        while i < s.endIndex, isLetter(s[i]) || isDigit(s[i]) || s[i] == "+" || s[i] == "." || s[i] == "-" || s[i] == "_" { i += 1 }
        if i - s.startIndex >= 2, i + 2 < s.endIndex, s[i] == ":", s[i + 1] == "/", s[i + 2] == "/" { return true }
        var host = s
        if let at = s.firstIndex(of: "@"), at > s.startIndex { host = s[(at + 1)...] }
        if let end = host.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" || $0 == ":" }) {
            if host[end] == ":" {
                let port = host[(end + 1)...].prefix { isDigit($0) }
                guard port.count >= 2, port.count <= 5 else { return false }
                let after = host[(end + 1 + port.count)...]
                guard after.isEmpty || after.first == "/" || after.first == "?" || after.first == "#" else { return false }
            }
            host = host[..<end]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, let top = labels.last, top.count >= 2, top.allSatisfy({ isLetter($0) && isLower($0) }) else { return false }
        for label in labels.dropLast() {
            guard let first = label.first, let last = label.last, isLetter(first) || isDigit(first) || first.value >= 0xA1,
                  isLetter(last) || isDigit(last) || last.value >= 0xA1,
                  label.allSatisfy({ isLetter($0) || isDigit($0) || $0 == "-" || $0 == "_" || $0.value >= 0xA1 }) else { return false }
        }
        return true
    }

    /// English contractions written without the apostrophe, split as spaCy's exceptions do.
    static let contractions: [String: Int] = [
        "im": 1, "Im": 1, "dont": 2, "Dont": 2, "cant": 2, "Cant": 2, "wont": 2, "Wont": 2, "didnt": 3, "Didnt": 3,
        "doesnt": 4, "Doesnt": 4, "isnt": 2, "Isnt": 2, "itd": 2, "Itd": 2, "youre": 3, "Youre": 3, "theyre": 4, "Theyre": 4,
    ]
}

/// A set of scalars with a bit mask for ASCII, so the common case is one test.
public struct ScalarSet: Sendable {
    private var low: UInt64 = 0, high: UInt64 = 0
    private var others: Set<UInt32> = []

    public init(_ members: String) {
        for c in members.unicodeScalars {
            switch c.value {
            case 0..<64: low |= 1 << UInt64(c.value)
            case 64..<128: high |= 1 << UInt64(c.value - 64)
            default: others.insert(c.value)
            }
        }
    }

    @inline(__always) public func contains(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 64 { return low & (1 << UInt64(v)) != 0 }
        if v < 128 { return high & (1 << UInt64(v - 64)) != 0 }
        return !others.isEmpty && others.contains(v)
    }
}
