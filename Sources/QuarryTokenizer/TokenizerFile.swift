import Foundation
import QuarryCore

/// Reads and writes Hugging Face `tokenizer.json` for byte-level BPE (GPT-2 style): model type
/// BPE, ByteLevel pre-tokenizer with the GPT-2 split regex, ByteLevel decoder. Merges are read
/// in both the current `[["a","b"], …]` form and the older `"a b"` form, and written in the
/// pair form. Other tokenizer kinds are refused with a message that says what the file is.
public enum TokenizerFile {
    public static func load(path: String) throws -> BPEModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw QuarryError("cannot read tokenizer file \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")")
        }
        do {
            return try parse(data)
        } catch let error as QuarryError {
            throw QuarryError("\(path): \(error.message)")
        }
    }

    public static func parse(_ data: Data) throws -> BPEModel {
        let parsed: JSONValue
        do { parsed = try data.withUnsafeBytes { try JSONValue.parse($0.bindMemory(to: UInt8.self)) } } catch {
            throw QuarryError("not valid JSON (\(error)): expected a Hugging Face tokenizer.json")
        }
        guard case .object = parsed else { throw QuarryError("not a JSON object: expected a Hugging Face tokenizer.json") }
        let root = parsed
        guard let model = root["model"], model.members != nil else {
            throw QuarryError("no \"model\" section: expected a Hugging Face tokenizer.json")
        }
        let type = model["type"]?.string ?? (model["merges"] != nil ? "BPE" : "unknown")
        guard type == "BPE" else {
            throw QuarryError("a \(type) tokenizer: quarry reads byte-level BPE tokenizers (GPT-2 style) only")
        }
        var normalizesNFC = false
        if let normalizer = root["normalizer"], !normalizer.isNull {
            guard normalizer["type"]?.string == "NFC" else {
                throw QuarryError("it has a normalizer (\(normalizer["type"]?.string ?? "unknown")): quarry reads byte-level BPE tokenizers without one or with NFC")
            }
            normalizesNFC = true
        }
        let (addPrefixSpace, preTokenization) = try preTokenizer(root["pre_tokenizer"])
        if let dropout = model["dropout"]?.number, dropout > 0 {
            throw QuarryError("BPE dropout \(dropout) is not supported (encoding would not be deterministic)")
        }
        if model["byte_fallback"]?.bool == true {
            throw QuarryError("byte_fallback BPE (sentencepiece style) is not byte-level BPE")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key]?.string, !affix.isEmpty {
                throw QuarryError("\(key) \"\(affix)\" is not used by byte-level BPE")
            }
        }
        guard let vocab = model["vocab"]?.members else { throw QuarryError("the model has no vocab") }
        var added: [(content: String, id: Int32, special: Bool)] = []
        for entry in root["added_tokens"]?.array ?? [] {
            guard let content = entry["content"]?.string, let id = entry["id"]?.integer else { continue }
            // Ids become int32 token ids and index tables: range-checked here, not trusted.
            guard id >= 0, id < Int(Int32.max) else {
                throw QuarryError("added token \(content.debugDescription) has id \(id), outside 0…\(Int32.max - 1)")
            }
            guard !content.isEmpty else { throw QuarryError("added token \(id) has empty content (it would match everywhere)") }
            added.append((content, Int32(id), entry["special"]?.bool ?? false))
        }
        var byID: [Int32: String] = [:]
        byID.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            guard let id = value.integer, id >= 0, id < Int(Int32.max) else { throw QuarryError("vocab entry \(token.debugDescription) has no integer id") }
            byID[Int32(id)] = token
        }
        for token in added where byID[token.id] == nil { byID[token.id] = token.content }
        let size = Int((byID.keys.max() ?? -1) + 1)
        // Distinct ids 0..<size, so there are as many as the largest says: checked before the table is made.
        guard size == byID.count else {
            throw QuarryError("token ids are not contiguous: \(byID.count) tokens, but the largest id is \(size - 1)")
        }
        var strings: [String] = []
        strings.reserveCapacity(size)
        for id in 0..<size {
            guard let token = byID[Int32(id)] else { throw QuarryError("token ids are not contiguous: id \(id) is missing") }
            strings.append(token)
        }
        var merges: [(String, String)] = []
        if let value = model["merges"], value.array == nil, !value.isNull {
            throw QuarryError("\"merges\" is not a list of merges")
        }
        let mergeEntries = model["merges"]?.array ?? []
        merges.reserveCapacity(mergeEntries.count)
        for (index, entry) in mergeEntries.enumerated() {
            if let pair = entry.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                merges.append((a, b))
            } else if let text = entry.string, let space = text.firstIndex(of: " ") {
                merges.append((String(text[..<space]), String(text[text.index(after: space)...])))
            } else {
                throw QuarryError("merge \(index) is neither [\"a\", \"b\"] nor \"a b\"")
            }
        }
        // Added tokens are matched by their text; sorting longest first makes overlapping ones unambiguous.
        added.sort { $0.content.utf8.count > $1.content.utf8.count }
        return try BPEModel(tokenStrings: strings, merges: merges, addedTokens: added,
                            addPrefixSpace: addPrefixSpace, ignoreMerges: model["ignore_merges"]?.bool ?? false,
                            preTokenization: preTokenization, normalizesNFC: normalizesNFC)
    }

    /// The pre-tokenizers quarry reproduces: ByteLevel with GPT-2's pattern, alone or in a
    /// Sequence, optionally after `Digits` with `individual_digits` (SmolLM2); or `Split` with
    /// Llama 3's or Qwen2's pattern (behavior Isolated) before a ByteLevel without its own regex.
    private static func preTokenizer(_ value: JSONValue?) throws -> (addPrefixSpace: Bool, PreTokenization) {
        guard let pre = value, pre.members != nil else {
            throw QuarryError("no ByteLevel pre-tokenizer: quarry reads byte-level BPE tokenizers (GPT-2 style) only")
        }
        let type = pre["type"]?.string ?? "unknown"
        if type == "ByteLevel" {
            guard pre["use_regex"]?.bool ?? true else {
                throw QuarryError("a ByteLevel pre-tokenizer without the GPT-2 split pattern (use_regex false) and no Split before it is not supported")
            }
            return (pre["add_prefix_space"]?.bool ?? false, .gpt2)
        }
        if type == "Sequence", let steps = pre["pretokenizers"]?.array {
            if steps.count == 1 { return try preTokenizer(steps[0]) }
            if steps.count == 2, steps[0]["type"]?.string == "Digits" {
                guard steps[0]["individual_digits"]?.bool == true else {
                    throw QuarryError("a Digits pre-tokenizer that keeps runs of digits together is not supported (only individual_digits)")
                }
                let (prefix, inner) = try preTokenizer(steps[1])
                guard inner == .gpt2 else { throw QuarryError("Digits before a pre-tokenizer other than GPT-2's ByteLevel is not supported") }
                return (prefix, .gpt2IndividualDigits)
            }
            if steps.count == 2, steps[0]["type"]?.string == "Split", steps[1]["type"]?.string == "ByteLevel" {
                let split = steps[0], byteLevel = steps[1]
                let pattern = split["pattern"]?["Regex"]?.string ?? split["pattern"]?["String"]?.string ?? ""
                guard let kind = PreTokenization.allCases.first(where: { $0.splitPattern == pattern }) else {
                    throw QuarryError("a Split pre-tokenizer with the pattern \(pattern.debugDescription): quarry knows Llama 3's and Qwen2's")
                }
                guard (split["behavior"]?.string ?? "Isolated") == "Isolated", split["invert"]?.bool != true else {
                    throw QuarryError("a Split pre-tokenizer that is not Isolated (or is inverted) is not supported")
                }
                guard byteLevel["use_regex"]?.bool == false else {
                    throw QuarryError("a Split pre-tokenizer before a ByteLevel that splits again (use_regex true) is not supported")
                }
                return (byteLevel["add_prefix_space"]?.bool ?? false, kind)
            }
        }
        throw QuarryError("pre-tokenizer \(type): quarry reads GPT-2's ByteLevel, Digits(individual_digits) + ByteLevel, and Split (Llama 3, Qwen2) + ByteLevel")
    }

    /// The tokenizer.json text HF `tokenizers` writes for a byte-level BPE (keys in its order).
    public static func serialise(_ model: BPEModel) -> String {
        var out = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        let added = model.addedTokens.sorted { $0.id < $1.id }
        for (i, token) in added.enumerated() {
            out += (i == 0 ? "\n" : ",\n")
            out += "    {\"id\": \(token.id), \"content\": \(JSONText.quoted(token.content)), \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": \(token.special)}"
        }
        out += added.isEmpty ? "],\n" : "\n  ],\n"
        out += model.normalizesNFC ? "  \"normalizer\": {\"type\": \"NFC\"},\n" : "  \"normalizer\": null,\n"
        let byteLevel = { (regex: Bool) in
            "{\"type\": \"ByteLevel\", \"add_prefix_space\": \(model.addPrefixSpace), \"trim_offsets\": true, \"use_regex\": \(regex)}"
        }
        switch model.preTokenization {
        case .gpt2:
            out += "  \"pre_tokenizer\": \(byteLevel(true)),\n"
        case .gpt2IndividualDigits:
            out += "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true}, \(byteLevel(true))]},\n"
        case .llama3, .qwen2:
            let split = "{\"type\": \"Split\", \"pattern\": {\"Regex\": \(JSONText.quoted(model.preTokenization.splitPattern ?? ""))}, \"behavior\": \"Isolated\", \"invert\": false}"
            out += "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [\(split), \(byteLevel(false))]},\n"
        }
        out += "  \"post_processor\": null,\n"
        out += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n"
        out += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": \(model.ignoreMerges),\n    \"vocab\": {"
        for (id, token) in model.tokenStrings.enumerated() {
            out += (id == 0 ? "\n      " : ",\n      ") + JSONText.quoted(token) + ": \(id)"
        }
        out += "\n    },\n    \"merges\": ["
        for (i, merge) in model.merges.enumerated() {
            out += (i == 0 ? "\n      [" : ",\n      [") + JSONText.quoted(model.tokenStrings[Int(merge.left)]) + ", "
                + JSONText.quoted(model.tokenStrings[Int(merge.right)]) + "]"
        }
        out += "\n    ]\n  }\n}\n"
        return out
    }

    /// Writes atomically (temporary file, then rename).
    public static func save(_ model: BPEModel, to path: String) throws {
        let file = try OutputFile(path: path)
        do {
            try file.write(Array(serialise(model).utf8))
            try file.commit()
        } catch {
            file.abandon()
            throw error
        }
    }
}
