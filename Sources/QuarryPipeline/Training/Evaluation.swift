import Foundation
import QuarryCore
import QuarryShards
import QuarryTokenizer
import QuarryTraining

/// `quarry eval`: a language model's loss on shards, or a classifier's figures on labelled JSONL.
/// BLAS must be loaded.
public enum Evaluation {
    public struct LanguageModelLoss: Sendable {
        public var loss: Double
        public var windows: Int
        public var context: Int
        public var perplexity: Double { Foundation.exp(loss) }
    }

    /// The mean loss over `batches` batches of 8 fixed windows of the validation split (else train).
    public static func languageModel(_ modelDirectory: String, shards: String, context: Int, batches: Int) throws -> LanguageModelLoss {
        let model: any TrainableLanguageModel = LlamaCheckpoint.isLlamaDirectory(modelDirectory)
            ? try LlamaCheckpoint.load(from: modelDirectory) : try Checkpoint.load(from: modelDirectory)
        let split = try TokenWindows.split(.validation, of: shards) ?? TokenWindows.split(.train, of: shards)
        guard let (windows, manifest) = split else { throw QuarryError("\(shards) has no shards") }
        guard manifest.tokenizer.vocabSize <= model.vocabularySize else {
            throw QuarryError("the shards' vocabulary (\(manifest.tokenizer.vocabSize)) is larger than the model's (\(model.vocabularySize))")
        }
        try ShardsProvenance.check(manifest, directory: shards, against: modelDirectory)
        let batch = 8, n = min(context, model.contextLength)
        // The seed and batch are pre-training's defaults, so the windows are those it validates on.
        let loss = try model.meanLoss(on: windows, batch: batch, context: n, batches: batches, seed: PretrainOptions().seed &+ 0x5EED)
        return LanguageModelLoss(loss: loss, windows: batches * batch, context: n)
    }

    /// A fine-tuned classifier on labelled JSONL; with `predictions`, each example's prediction is
    /// written there too (schemas/prediction.schema.json).
    public static func classifier(_ runDirectory: String, data: String, predictions: String?) throws -> ClassificationReport {
        let classifier = try Classifier.load(from: runDirectory, model: LanguageModel.runModel(runDirectory))
        let encoder = BPEEncoder(model: try TokenizerFile.load(path: runDirectory + "/tokenizer.json"))
        var examples = LabelledExamples(labels: classifier.labels, fixed: true)
        try examples.read(data, encoder: encoder, limit: min(classifier.model.contextLength, classifier.maxTokens ?? Int.max))
        guard !examples.examples.isEmpty else { throw QuarryError("\(data) has no examples") }
        let probabilities = try classifier.probabilities(of: examples.examples, batch: 16)
        if let predictions {
            try PredictionsFile.write(examples.examples, probabilities, labels: classifier.labels, to: predictions)
        }
        return classifier.report(examples.examples, probabilities: probabilities)
    }
}

/// The model `quarry finetune` starts from and its tokenizer, whose vocabulary must fit the
/// model: a quarry run (GPT-2 or Llama), or a pre-trained Llama-family model in any form
/// (`LanguageModel.llama`: an HF directory, a .gguf file, ORG/NAME in the Hugging Face cache).
/// BLAS must be loaded.
public struct StartingModel {
    public let directory: String
    public let model: any TrainableLanguageModel
    public let tokenizer: BPEModel
    /// Documents end with `<|endoftext|>`, else the model's end-of-sequence token.
    public let endOfText: Int32?
    /// The chat template the model brings (nil: none, quarry's plain one is used).
    public let chatTemplate: String?
    /// How sft renders chats and `generate --chat` asks: the model's own template's family,
    /// else quarry's plain one (a template quarry does not know too: `chatTemplateIsUnknown`).
    public var chatFormat: ChatFormat { LanguageModel.chatFormat(chatTemplate) ?? .quarry }
    public var chatTemplateIsUnknown: Bool { chatTemplate != nil && LanguageModel.chatFormat(chatTemplate) == nil }

    /// `lora`: adapters to train on the frozen model (on GPT-2, q,k,v become its fused c_attn).
    public init(directory: String, dropout: Double?, lora: LoRAConfig? = nil, seed: UInt64 = 1337) throws {
        self.directory = directory
        if let llama = try LanguageModel.llama(directory) {
            if let dropout, dropout > 0 { throw QuarryError("--dropout is for GPT-2 models: quarry's Llama models have no dropout (as the configs they load)") }
            if llama.baseModelName == nil { llama.baseModelName = directory }
            if let lora, llama.adapters == nil { try llama.attachAdapters(lora, seed: seed) }
            model = llama
            tokenizer = try TokenizerSource.load(directory)
            let resolved = try HubCache.resolve(directory)
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory)
            endOfText = tokenizer.id(of: "<|endoftext|>")
                ?? ShardTokenizer.endOfSequence(of: resolved, isDirectory: isDirectory.boolValue, vocabulary: tokenizer.vocabularySize)
            chatTemplate = LanguageModel.chatTemplate(of: directory)
        } else {
            let isAdapterRun = LoRACheckpoint.isAdapterDirectory(directory)
            guard let gpt = try isAdapterRun ? LanguageModel.adapterRunModel(directory) as? GPT<Float> : Checkpoint.load(from: directory) else {
                throw QuarryError("\(directory): not a model quarry can fine-tune")
            }
            if let dropout { try gpt.setDropout(dropout) }
            if gpt.baseModelName == nil { gpt.baseModelName = directory }
            if var lora, gpt.adapters == nil {
                lora.targets = try LoRATarget.forGPT2(lora.targets)
                try gpt.attachAdapters(lora, seed: seed)
            }
            model = gpt
            tokenizer = try TokenizerFile.load(path: directory + "/tokenizer.json")
            endOfText = tokenizer.id(of: "<|endoftext|>")
            chatTemplate = nil
        }
        guard tokenizer.vocabularySize <= model.vocabularySize else {
            throw QuarryError("the tokenizer's vocabulary (\(tokenizer.vocabularySize)) is larger than the model's (\(model.vocabularySize))")
        }
    }

    public var encoder: BPEEncoder { BPEEncoder(model: tokenizer) }

    /// Makes `out` for a fine-tuned model, refused when it already holds one (`marker`), with
    /// the tokenizer copied in.
    public func prepareOutput(_ out: String, refusingIfExists marker: String) throws {
        if FileManager.default.fileExists(atPath: out + "/" + marker) {
            throw QuarryError("\(out) already holds a fine-tuned model: choose another --out")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // The model's tokenizer.json as it is (its bytes: provenance checks hash it), or written
        // from the model (a GGUF's is in its metadata).
        let own = (try? HubCache.resolve(directory)).map { $0 + "/tokenizer.json" } ?? directory + "/tokenizer.json"
        if FileManager.default.fileExists(atPath: own) {
            try? FileManager.default.copyItem(atPath: own, toPath: out + "/tokenizer.json")
        } else if !FileManager.default.fileExists(atPath: out + "/tokenizer.json") {
            try TokenizerFile.save(tokenizer, to: out + "/tokenizer.json")
        }
        // The chat template goes with the run, so `generate --chat` asks it as sft trained it.
        if let chatTemplate, LanguageModel.chatFormat(chatTemplate) != nil {
            var members: [(String, JSONValue)] = [("tokenizer_class", .string("PreTrainedTokenizerFast")), ("chat_template", .string(chatTemplate))]
            if let eos = chatFormat.endOfTurnToken ?? endOfText.flatMap({ try? tokenizer.decode([$0]) }) { members.append(("eos_token", .string(eos))) }
            let file = try OutputFile(path: out + "/tokenizer_config.json")
            do { try file.write(Array((JSONValue.object(members).serialized + "\n").utf8)); try file.commit() } catch { file.abandon(); throw error }
        }
    }
}
