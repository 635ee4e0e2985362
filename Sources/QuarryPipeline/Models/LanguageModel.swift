import Foundation
import QuarryCore
import QuarryTokenizer
import QuarryTraining

/// A model ready to generate, with its tokenizer and the way it expects a conversation, from any
/// of the forms a user names one by: a quarry run directory (GPT-2), a Llama-family Hugging Face
/// directory, a `.gguf` file, or `ORG/NAME[@REVISION]` in the Hugging Face cache.
public struct LanguageModel {
    public let generator: any TokenGenerator
    public let tokenizer: BPEModel
    /// The token that ends a text (`<|endoftext|>`, a GGUF's eos).
    public let endOfText: Int32?
    /// nil when the model brings a chat template quarry does not know.
    public let chatFormat: ChatFormat?
    /// The model's chat template as it came (Jinja text), to write back when converting.
    public var chatTemplate: String? = nil
    /// One line on what was loaded, for the user.
    public let summary: String

    public static func load(_ spec: String) throws -> LanguageModel {
        if LoRACheckpoint.isAdapterDirectory(spec) { return try loadAdapterRun(spec) }
        let spec = try HubCache.resolve(spec)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue {
            guard spec.hasSuffix(".gguf") || isGGUF(spec) else {
                throw QuarryError("\(spec) is neither a model directory nor a .gguf file")
            }
            return try loadGGUF(spec)
        }
        guard exists else { throw QuarryError("\(spec): no such model directory or .gguf file") }
        if LlamaCheckpoint.isLlamaDirectory(spec) { return try loadLlamaDirectory(spec) }
        let gpt = try Checkpoint.load(from: spec)
        let tokenizer = try TokenizerFile.load(path: spec + "/tokenizer.json")
        return LanguageModel(generator: Generator(model: gpt), tokenizer: tokenizer, endOfText: tokenizer.id(of: "<|endoftext|>"),
                             chatFormat: .quarry, summary: "GPT-2, \(gpt.config.nLayer) layers × \(gpt.config.nEmbd)")
    }

    /// An adapter run (PEFT's layout) to generate with: its base, the adapters folded in, the
    /// run's tokenizer and the base's chat format.
    static func loadAdapterRun(_ directory: String) throws -> LanguageModel {
        let (_, base) = try LoRACheckpoint.configuration(in: directory)
        let model = try adapterRunModel(directory)
        let plain = try load(base)
        let generator: any TokenGenerator
        switch model {
        case let llama as Llama<Float>:
            llama.mergeAdapters()
            generator = LlamaGenerator(model: llama)
        case let gpt as GPT<Float>:
            gpt.mergeAdapters()
            generator = Generator(model: gpt)
        default: throw QuarryError("\(directory): adapters on a model quarry cannot generate with")
        }
        return LanguageModel(generator: generator, tokenizer: plain.tokenizer, endOfText: plain.endOfText,
                             chatFormat: plain.chatFormat, chatTemplate: plain.chatTemplate, summary: plain.summary + ", with LoRA adapters from \(directory)")
    }

    /// An adapter run's base (`base_model_name_or_path`: a Llama-family model in any form `llama`
    /// reads, or a GPT-2 directory) with the run's adapters on.
    public static func adapterRunModel(_ directory: String) throws -> any TrainableLanguageModel {
        let (_, base) = try LoRACheckpoint.configuration(in: directory)
        guard !base.isEmpty, !LoRACheckpoint.isAdapterDirectory(base) else {
            throw QuarryError("\(directory)/adapter_config.json names no base model quarry can load (\"\(base)\")")
        }
        if let model = try llama(base) {
            model.baseModelName = base
            try LoRACheckpoint.attach(to: model, from: directory)
            return model
        }
        let resolved = try HubCache.resolve(base)
        guard FileManager.default.fileExists(atPath: resolved + "/config.json") else {
            throw QuarryError("\(directory)/adapter_config.json names base model \"\(base)\", which is not a model quarry can load")
        }
        let gpt = try Checkpoint.load(from: resolved)
        gpt.baseModelName = base
        try LoRACheckpoint.attach(to: gpt, from: directory)
        return gpt
    }

    /// A run's trainable model: an adapter run's base with its adapters, a Llama or a GPT-2 run.
    public static func runModel(_ directory: String) throws -> any TrainableLanguageModel {
        if LoRACheckpoint.isAdapterDirectory(directory) { return try adapterRunModel(directory) }
        if let llama = try llama(directory) { return llama }
        return try Checkpoint.load(from: directory)
    }

    /// The Llama-family model `spec` names (a .gguf file or a Hugging Face directory), or nil
    /// when it names a GPT-2 run.
    public static func llama(_ spec: String) throws -> Llama<Float>? {
        // An adapter run on a GPT-2 is not a Llama: nil, as for the GPT-2 itself.
        if LoRACheckpoint.isAdapterDirectory(spec) { return try adapterRunModel(spec) as? Llama<Float> }
        let spec = try HubCache.resolve(spec)
        if isGGUF(spec) { return try LlamaGGUF.load(GGUFFile(path: spec)) }
        if LlamaCheckpoint.isLlamaDirectory(spec) { return try LlamaCheckpoint.load(from: spec) }
        return nil
    }

    static func loadLlamaDirectory(_ directory: String) throws -> LanguageModel {
        let model = try LlamaCheckpoint.load(from: directory)
        let tokenizer = try TokenizerFile.load(path: directory + "/tokenizer.json")
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw QuarryError("\(directory): the tokenizer has \(tokenizer.vocabularySize) tokens, the model's vocabulary \(model.config.vocabSize)")
        }
        // tokenizer_config.json names the chat template and the end-of-sequence token.
        var template: String?, eos: Int32? = tokenizer.id(of: "<|endoftext|>")
        if let data = FileManager.default.contents(atPath: directory + "/tokenizer_config.json"),
           let json = try? JSONValue.parse(Array(data)) {
            template = json["chat_template"]?.string
            if let name = json["eos_token"]?.string ?? json["eos_token"]?["content"]?.string, let id = tokenizer.id(of: name) { eos = id }
        }
        let c = model.config
        return LanguageModel(generator: LlamaGenerator(model: model), tokenizer: tokenizer, endOfText: eos,
                             chatFormat: chatFormat(template), chatTemplate: template,
                             summary: "\(c.architecture.rawValue), \(c.nLayer) layers × \(c.nEmbd), \(c.nHead)/\(c.nKVHead) heads, vocabulary \(c.vocabSize)")
    }

    /// The chat template a model brings (Jinja text): a GGUF's `tokenizer.chat_template`, a
    /// directory's tokenizer_config.json `chat_template`, an adapter run's base's; nil without one.
    public static func chatTemplate(of spec: String) -> String? {
        if LoRACheckpoint.isAdapterDirectory(spec) {
            return (try? LoRACheckpoint.configuration(in: spec)).flatMap { chatTemplate(of: $0.base) }
        }
        guard let path = try? HubCache.resolve(spec) else { return nil }
        if isGGUF(path) { return (try? GGUFFile(path: path))?.string("tokenizer.chat_template") }
        guard let data = FileManager.default.contents(atPath: path + "/tokenizer_config.json"),
              let json = try? JSONValue.parse(Array(data)) else { return nil }
        return json["chat_template"]?.string
    }

    /// The model's chat format: its template's family; quarry's plain one when it has no template
    /// (a base model, or one quarry fine-tuned with that one); nil for a template quarry does not know.
    public static func chatFormat(_ template: String?) -> ChatFormat? {
        guard let template else { return .quarry }
        return ChatFormat.recognise(template: template)
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
        let chat = chatFormat(file.string("tokenizer.chat_template"))
        let c = model.config
        return LanguageModel(generator: LlamaGenerator(model: model), tokenizer: tokenizer, endOfText: eos, chatFormat: chat,
                             chatTemplate: file.string("tokenizer.chat_template"), summary: "\(file.string("general.name") ?? c.architecture.rawValue): \(c.architecture.rawValue), "
                                 + "\(c.nLayer) layers × \(c.nEmbd), \(c.nHead)/\(c.nKVHead) heads, vocabulary \(c.vocabSize)")
    }
}

/// A tokenizer from any of the forms a user names one by: a `tokenizer.json`, a model directory
/// holding one, or a `.gguf` file (the tokenizer in its metadata).
public enum TokenizerSource {
    public static func load(_ spec: String) throws -> BPEModel {
        let spec = try HubCache.resolve(spec)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory)
        if exists && isDirectory.boolValue { return try TokenizerFile.load(path: spec + "/tokenizer.json") }
        if exists && LanguageModel.isGGUF(spec) { return try GGUFTokenizer.load(GGUFFile(path: spec)) }
        return try TokenizerFile.load(path: spec)
    }
}
