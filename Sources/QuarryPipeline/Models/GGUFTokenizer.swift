import QuarryCore
import QuarryTokenizer
import QuarryTraining

/// The tokenizer a GGUF file carries in its metadata (`tokenizer.ggml.*`), as a byte-level BPE.
///
/// llama.cpp names the pre-tokenizer (`tokenizer.ggml.pre`) instead of storing its pattern; the
/// names quarry knows map to the splitting each family's tokenizer.json describes. Control and
/// user-defined tokens (`<|im_start|>`, …) are matched in the text before BPE, as HF does.
public enum GGUFTokenizer {
    /// `tokenizer.ggml.pre` → the splitting each family's tokenizer.json describes.
    static let knownPreTokenizers: [String: PreTokenization] = [
        "smollm": .gpt2IndividualDigits, "gpt-2": .gpt2, "default": .gpt2, "llama-bpe": .llama3, "llama3": .llama3, "qwen2": .qwen2,
    ]

    /// GGUF token types (llama.cpp's `llama_token_type`).
    enum TokenType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    public static func load(_ file: GGUFFile) throws -> BPEModel {
        let kind = file.string("tokenizer.ggml.model") ?? "(none)"
        guard kind == "gpt2" else {
            throw QuarryError("\(file.path): tokenizer model \(kind); quarry reads byte-level BPE tokenizers (\"gpt2\") only")
        }
        let pre = file.string("tokenizer.ggml.pre") ?? "default"
        guard let preTokenization = knownPreTokenizers[pre] else {
            throw QuarryError("\(file.path): pre-tokenizer \(pre) is not supported (quarry knows \(knownPreTokenizers.keys.sorted().joined(separator: ", ")))")
        }
        guard let tokenValues = file.metadata["tokenizer.ggml.tokens"]?.array else {
            throw QuarryError("\(file.path) has no tokenizer.ggml.tokens")
        }
        var tokens: [String] = []
        tokens.reserveCapacity(tokenValues.count)
        for value in tokenValues {
            guard let token = value.string else { throw QuarryError("\(file.path): tokenizer.ggml.tokens holds a value that is not a string") }
            tokens.append(token)
        }
        let types = file.metadata["tokenizer.ggml.token_type"]?.array?.map { $0.integer ?? TokenType.normal.rawValue }
            ?? Array(repeating: TokenType.normal.rawValue, count: tokens.count)
        guard types.count == tokens.count else {
            throw QuarryError("\(file.path): \(types.count) token types for \(tokens.count) tokens")
        }
        var merges: [(String, String)] = []
        for (index, value) in (file.metadata["tokenizer.ggml.merges"]?.array ?? []).enumerated() {
            guard let text = value.string, let space = text.firstIndex(of: " ") else {
                throw QuarryError("\(file.path): merge \(index) is not \"a b\"")
            }
            merges.append((String(text[..<space]), String(text[text.index(after: space)...])))
        }
        var added: [(content: String, id: Int32, special: Bool)] = []
        for (id, type) in types.enumerated() where type == TokenType.control.rawValue || type == TokenType.userDefined.rawValue {
            guard !tokens[id].isEmpty else { continue }
            added.append((tokens[id], Int32(id), type == TokenType.control.rawValue))
        }
        // Longest first, so that overlapping added tokens match unambiguously.
        added.sort { $0.content.utf8.count > $1.content.utf8.count }
        do {
            return try BPEModel(tokenStrings: tokens, merges: merges, addedTokens: added, preTokenization: preTokenization)
        } catch let error as QuarryError {
            throw QuarryError("\(file.path): \(error.message)")
        }
    }
}
