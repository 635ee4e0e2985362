import Foundation
import QuarryCore
import QuarryTokenizer
import QuarryTraining

/// A model ready to generate, with its tokenizer and the way it expects a conversation, from any
/// of the forms a user names one by: a quarry run directory (GPT-2) or a `.gguf` file.
public struct LanguageModel {
    public let generator: any TokenGenerator
    public let tokenizer: BPEModel
    /// The token that ends a text (`<|endoftext|>`, a GGUF's eos).
    public let endOfText: Int32?
    /// nil when the model brings a chat template quarry does not know.
    public let chatFormat: ChatFormat?
    /// One line on what was loaded, for the user.
    public let summary: String

    public static func load(_ spec: String) throws -> LanguageModel {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue {
            guard spec.hasSuffix(".gguf") || isGGUF(spec) else {
                throw QuarryError("\(spec) is neither a model directory nor a .gguf file")
            }
            return try loadGGUF(spec)
        }
        guard exists else { throw QuarryError("\(spec): no such model directory or .gguf file") }
        let gpt = try Checkpoint.load(from: spec)
        let tokenizer = try TokenizerFile.load(path: spec + "/tokenizer.json")
        return LanguageModel(generator: Generator(model: gpt), tokenizer: tokenizer, endOfText: tokenizer.id(of: "<|endoftext|>"),
                             chatFormat: .quarry, summary: "GPT-2, \(gpt.config.nLayer) layers × \(gpt.config.nEmbd)")
    }

    static func isGGUF(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)).map { [UInt8]($0) } == GGUFFile.magic
    }

    static func loadGGUF(_ path: String) throws -> LanguageModel {
        let file = try GGUFFile(path: path)
        let tokenizer = try GGUFTokenizer.load(file)
        let model = try LlamaGGUF.load(file)
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw QuarryError("\(path): the tokenizer has \(tokenizer.vocabularySize) tokens, the model's vocabulary \(model.config.vocabSize)")
        }
        let eos = file.integer("tokenizer.ggml.eos_token_id").flatMap { $0 < tokenizer.vocabularySize ? Int32($0) : nil }
        let chat = file.string("tokenizer.chat_template").flatMap(ChatFormat.recognise)
        let c = model.config
        return LanguageModel(generator: LlamaGenerator(model: model), tokenizer: tokenizer, endOfText: eos, chatFormat: chat,
                             summary: "\(file.string("general.name") ?? c.architecture.rawValue): \(c.architecture.rawValue), "
                                 + "\(c.nLayer) layers × \(c.nEmbd), \(c.nHead)/\(c.nKVHead) heads, vocabulary \(c.vocabSize)")
    }
}

/// A tokenizer from any of the forms a user names one by: a `tokenizer.json`, a model directory
/// holding one, or a `.gguf` file (the tokenizer in its metadata).
public enum TokenizerSource {
    public static func load(_ spec: String) throws -> BPEModel {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory)
        if exists && isDirectory.boolValue { return try TokenizerFile.load(path: spec + "/tokenizer.json") }
        if exists && LanguageModel.isGGUF(spec) { return try GGUFTokenizer.load(GGUFFile(path: spec)) }
        return try TokenizerFile.load(path: spec)
    }
}
