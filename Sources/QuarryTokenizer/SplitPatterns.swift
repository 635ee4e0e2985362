/// The pre-tokenizers of byte-level BPE vocabularies, by the pattern that splits text into
/// pieces before BPE. Each is a hand-written scanner reproducing its regex alternative by
/// alternative (no general regex engine): GPT-2's in `GPT2PreTokenizer`, and the two below, which
/// tokenizer.json writes as `Split` (behavior Isolated) before a `ByteLevel` without regex.
public enum PreTokenization: String, Sendable, CaseIterable {
    /// GPT-2's pattern (`'s|'t|… ?\p{L}+| ?\p{N}+|…`).
    case gpt2
    /// Every digit a piece of its own, then GPT-2's pattern (SmolLM2; HF `Digits(individual_digits)`).
    case gpt2IndividualDigits
    /// Llama 3's pattern: digits in runs of at most three.
    case llama3
    /// Qwen2's pattern: Llama 3's with every digit alone.
    case qwen2

    /// The regex tokenizer.json spells the Split step with.
    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    public static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    public var splitPattern: String? {
        switch self {
        case .llama3: return Self.llama3Pattern
        case .qwen2: return Self.qwen2Pattern
        default: return nil
        }
    }

    public func split(_ s: UnsafeBufferPointer<UInt8>, _ piece: (Range<Int>) -> Void) {
        switch self {
        case .gpt2: GPT2PreTokenizer.split(s, piece)
        case .gpt2IndividualDigits: GPT2PreTokenizer.splitWithIndividualDigits(s, piece)
        case .llama3: LlamaPreTokenizer.split(s, maximumDigits: 3, piece)
        case .qwen2: LlamaPreTokenizer.split(s, maximumDigits: 1, piece)
        }
    }
}

/// Llama 3's and Qwen2's pattern as a scanner:
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// At each position the first alternative that matches wins, each greedy. The differences from
/// GPT-2's: contractions in any case; any one character that is not a letter, digit or line break
/// (a space, a tab, a quote) joins the letters after it; digits come in runs of at most N;
/// punctuation keeps the line breaks that follow it; whitespace up to the last line break of a
/// run is one piece.
enum LlamaPreTokenizer {
    typealias Class = GPT2PreTokenizer.Class

    @inline(__always) static func isLineBreak(_ c: UInt32) -> Bool { c == 0x0A || c == 0x0D }

    /// Where the run of scalars of `kind` starting at `start` ends.
    @inline(__always) static func runEnd(_ s: UnsafeBufferPointer<UInt8>, from start: Int, of kind: Class) -> Int {
        var j = start
        while j < s.count {
            let (c, l) = GPT2PreTokenizer.scalar(s, j)
            if GPT2PreTokenizer.classify(c) != kind { break }
            j += l
        }
        return j
    }

    static func split(_ s: UnsafeBufferPointer<UInt8>, maximumDigits: Int, _ piece: (Range<Int>) -> Void) {
        let n = s.count
        var i = 0
        while i < n {
            let (c0, l0) = GPT2PreTokenizer.scalar(s, i)
            // 1. Contractions, any case: 's 't 'm 'd 're 've 'll.
            if c0 == 0x27 && i + 1 < n {
                let c1 = s[i + 1] | 0x20
                if c1 == 0x73 || c1 == 0x74 || c1 == 0x6D || c1 == 0x64 { piece(i..<(i + 2)); i += 2; continue }
                if i + 2 < n {
                    let c2 = s[i + 2] | 0x20
                    if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) {
                        piece(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            let class0 = GPT2PreTokenizer.classify(c0)
            // 2. [^\r\n\p{L}\p{N}]?\p{L}+
            var letters = -1
            if class0 == .letter {
                letters = i
            } else if class0 != .number && !isLineBreak(c0) && i + l0 < n {
                let (c1, _) = GPT2PreTokenizer.scalar(s, i + l0)
                if GPT2PreTokenizer.classify(c1) == .letter { letters = i + l0 }
            }
            if letters >= 0 {
                let j = runEnd(s, from: letters, of: .letter)
                piece(i..<j); i = j; continue
            }
            // 3. \p{N}{1,N}
            if class0 == .number {
                var j = i, count = 0
                while j < n && count < maximumDigits {
                    let (c, l) = GPT2PreTokenizer.scalar(s, j)
                    if GPT2PreTokenizer.classify(c) != .number { break }
                    j += l; count += 1
                }
                piece(i..<j); i = j; continue
            }
            // 4. " ?[^\s\p{L}\p{N}]+[\r\n]*"
            var otherStart = -1
            if class0 == .other {
                otherStart = i
            } else if c0 == 0x20 && i + 1 < n {
                let (c1, _) = GPT2PreTokenizer.scalar(s, i + 1)
                if GPT2PreTokenizer.classify(c1) == .other { otherStart = i + 1 }
            }
            if otherStart >= 0 {
                var j = runEnd(s, from: otherStart, of: .other)
                while j < n && (s[j] == 0x0A || s[j] == 0x0D) { j += 1 }
                piece(i..<j); i = j; continue
            }
            // Whitespace (class0 == .space): 5. \s*[\r\n]+ — up to the run's last line break;
            // 6. \s+(?!\S); 7. \s+.
            var j = i, lastBreakEnd = -1, lastStart = i
            while j < n {
                let (c, l) = GPT2PreTokenizer.scalar(s, j)
                if GPT2PreTokenizer.classify(c) != .space { break }
                if isLineBreak(c) { lastBreakEnd = j + l }
                lastStart = j
                j += l
            }
            if lastBreakEnd > 0 {
                piece(i..<lastBreakEnd); i = lastBreakEnd; continue
            }
            if j < n && lastStart > i {
                piece(i..<lastStart); i = lastStart
            } else {
                piece(i..<j); i = j
            }
        }
    }
}
