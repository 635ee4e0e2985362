import Testing
@testable import QuarryTokenizer

/// Expected splits come from Python's `regex` module running GPT-2's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` on the same strings.
@Suite struct PreTokenizerTests {
    @Test(arguments: [
        ("Hello world's  end\n\n  x", ["Hello", " world", "'s", " ", " end", "\n\n ", " x"]),
        ("don't STOP'S they'll we've I'm it'd you're",
         ["don", "'t", " STOP", "'", "S", " they", "'ll", " we", "'ve", " I", "'m", " it", "'d", " you", "'re"]),
        ("  leading and trailing  ", [" ", " leading", " and", " trailing", "  "]),
        ("tabs\tand\r\nnewlines\n", ["tabs", "\t", "and", "\r", "\n", "newlines", "\n"]),
        ("числа 123 и 4567,89 — ок", ["числа", " 123", " и", " 4567", ",", "89", " —", " ок"]),
        ("emoji 😀😀 ok!!! ...", ["emoji", " 😀😀", " ok", "!!!", " ..."]),
        ("a\u{a0}b \u{3000}c", ["a", "\u{a0}", "b", " ", "\u{3000}", "c"]),
        ("x'''s ''quote''", ["x", "'''", "s", " ''", "quote", "''"]),
        ("mixed123abc 12ab", ["mixed", "123", "abc", " 12", "ab"]),
        ("end with space ", ["end", " with", " space", " "]),
        ("\n", ["\n"]),
        ("", []),
    ])
    func matchesTheGPT2Pattern(input: String, expected: [String]) {
        #expect(GPT2PreTokenizer.pieces(input) == expected)
    }

    /// SmolLM2's pre-tokenizer: expected pieces from HF `tokenizers` running
    /// `Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False)])`.
    @Test(arguments: [
        ("hello 123 world", ["hello", " ", "1", "2", "3", " world"]),
        ("числа 4567,89 и ٣٤", ["числа", " ", "4", "5", "6", "7", ",", "8", "9", " и", " ", "٣", "٤"]),
        ("mixed123abc 12ab", ["mixed", "1", "2", "3", "abc", " ", "1", "2", "ab"]),
        ("v2.0 costs $5", ["v", "2", ".", "0", " costs", " $", "5"]),
        ("  9", ["  ", "9"]),
    ])
    func individualDigitsMatchHuggingFace(input: String, expected: [String]) {
        #expect(GPT2PreTokenizer.pieces(input, individualDigits: true) == expected)
    }

    /// Llama 3's and Qwen2's Split patterns: expected pieces from HF `tokenizers`
    /// (`Split(Regex(pattern), behavior="isolated")`); scripts/crosscheck-pretokenizers compares
    /// whole encodings on 86,958 texts.
    @Test(arguments: [
        ("I'M here, they'LL see (word)", ["I", "'M", " here", ",", " they", "'LL", " see", " (", "word", ")"],
         ["I", "'M", " here", ",", " they", "'LL", " see", " (", "word", ")"]),
        ("12345 3.14", ["123", "45", " ", "3", ".", "14"], ["1", "2", "3", "4", "5", " ", "3", ".", "1", "4"]),
        ("end.\n\nNext  \n  x", ["end", ".\n\n", "Next", "  \n", " ", " x"], ["end", ".\n\n", "Next", "  \n", " ", " x"]),
        ("\tz  (a", ["\tz", " ", " (", "a"], ["\tz", " ", " (", "a"]),
        ("naïve—ok!\n", ["naïve", "—ok", "!\n"], ["naïve", "—ok", "!\n"]),
    ])
    func llama3AndQwen2PatternsMatchHuggingFace(input: String, llama3: [String], qwen2: [String]) {
        func pieces(_ kind: PreTokenization) -> [String] {
            var text = input, out: [String] = []
            text.withUTF8 { s in kind.split(s) { out.append(String(decoding: UnsafeBufferPointer(rebasing: s[$0]), as: UTF8.self)) } }
            return out
        }
        #expect(pieces(.llama3) == llama3)
        #expect(pieces(.qwen2) == qwen2)
    }

    /// The arithmetic ASCII classes agree with the Unicode properties GPT-2's pattern names.
    @Test func asciiClassesMatchUnicodeProperties() {
        for v in UInt32(0)..<128 {
            let properties = Unicode.Scalar(UInt8(v)).properties
            let expected: GPT2PreTokenizer.Class = properties.isAlphabetic ? .letter
                : properties.numericType != nil ? .number : properties.isWhitespace ? .space : .other
            #expect(GPT2PreTokenizer.classifyASCII(v) == expected, "U+\(String(v, radix: 16))")
        }
    }

    /// The index a model is built with: whole tokens, a merge's concatenation, misses.
    @Test func tokenIndexFindsTokensAndConcatenations() {
        let index = TokenIndex(["a", "Ġ", "Ġthe", "the", "", "th", "e", "Ġthe"])
        #expect(index.id(of: "a") == 0 && index.id(of: "the") == 3 && index.id(of: "") == 4)
        #expect(index.id(of: "Ġ", followedBy: "the") == 7)   // a repeated token keeps its last id
        #expect(index.id(of: "th", followedBy: "e") == 3)
        #expect(index.id(of: "t", followedBy: "he") == 3)
        #expect(index.id(of: "Ġth") == nil && index.id(of: "x", followedBy: "y") == nil)
    }

    @Test func piecesCoverTheInputExactly() {
        let text = "Mixed: ÄÖÜ 日本語テキスト, 42 apples & \t\n\n 'quotes' — done."
        #expect(GPT2PreTokenizer.pieces(text).joined() == text)
    }
}

@Suite struct ByteLevelAlphabetTests {
    @Test func gpt2Mapping() {
        #expect(Set(ByteLevelAlphabet.characters).count == 256)
        #expect(ByteLevelAlphabet.characters[0x20] == "Ġ")   // space
        #expect(ByteLevelAlphabet.characters[0x0A] == "Ċ")   // newline
        #expect(ByteLevelAlphabet.characters[0x41] == "A")
        #expect(ByteLevelAlphabet.encode(Array(" hé".utf8)) == "ĠhÃ©")
        #expect(ByteLevelAlphabet.decode("ĠhÃ©") == Array(" hé".utf8))
        #expect(ByteLevelAlphabet.decode("not ascii space") == nil) // a raw space is not in the alphabet
    }
}
