import Foundation
import QuarryCore
import QuarryShards
import QuarryTokenizer
import QuarryTraining

/// `quarry pretrain`: a model (new, from a checkpoint, or the run's own to resume) on the shards
/// of an ingest directory, checked against them before any step: vocabulary, tokenizer, context.
public final class PretrainingRun {
    /// What the run starts from.
    public enum Start {
        /// A new model of a preset shape; `dropout` for training passes.
        case new(preset: String, dropout: Double)
        /// A checkpoint: a GPT-2-layout directory (a quarry run or Hugging Face's), or a
        /// Llama-family model in any form (`LanguageModel.llama`: an HF directory, a .gguf file,
        /// ORG/NAME in the Hugging Face cache).
        case checkpoint(String)
        /// A checkpoint's shape and tokenizer with new random weights (transformers' `from_config`):
        /// the from-scratch baseline of a pre-trained model.
        case shape(of: String)
        /// The run in the output directory, from its last checkpoint.
        case resume
    }

    public let trainer: Pretrainer
    public let manifest: Manifest
    /// The step a resumed run continues from (nil for a new run).
    public let resumedAt: Int?
    /// Things the user should know that do not stop the run.
    public private(set) var warnings: [String] = []

    /// The peak learning rate when none is given: 1.5e-3 for a new `tiny` model, 6e-4 (GPT-2's)
    /// otherwise; a resumed run keeps its own. 1.5e-3 had the lowest validation loss of 6e-4,
    /// 1.5e-3 and 3e-3 for `tiny` (reports/journal/2026-11-29-issue6-pretraining-learning-rate.md); larger models and continued training were not
    /// measured.
    public static func defaultLearningRate(start: Start, directory: String) -> Double {
        switch start {
        case .resume: return Pretrainer.savedOptions(in: directory)?.learningRate ?? 6e-4
        case .new(let preset, _): return preset == "tiny" || preset == "llama-tiny" ? 1.5e-3 : 6e-4
        case .checkpoint, .shape: return 6e-4
        }
    }

    /// Prepares `directory` (refusing another run's unless resuming) and the trainer; BLAS must be loaded.
    public init(data: String, directory: String, start: Start, options: PretrainOptions) throws {
        guard let (train, manifest) = try TokenWindows.split(.train, of: data) else {
            throw QuarryError("\(data) has no training shards")
        }
        self.manifest = manifest
        let validation = try TokenWindows.split(.validation, of: data)?.windows
        let model: any TrainableLanguageModel
        var modelTokenizer: BPEModel?
        switch start {
        case .resume:
            try Pretrainer.finishCheckpoint(in: directory)   // a checkpoint a kill interrupted: completed or dropped first
            model = LlamaCheckpoint.isLlamaDirectory(directory) ? try LlamaCheckpoint.load(from: directory) : try Checkpoint.load(from: directory)
        case .checkpoint(let spec):
            if let llama = try LanguageModel.llama(spec) {
                model = llama
                modelTokenizer = try TokenizerSource.load(spec)
            } else {
                model = try Checkpoint.load(from: HubCache.resolve(spec))
            }
        case .shape(let spec):
            if let llama = try LanguageModel.llama(spec) {
                llama.initialise(seed: options.seed)
                model = llama
                modelTokenizer = try TokenizerSource.load(spec)
            } else {
                let gpt = try Checkpoint.load(from: HubCache.resolve(spec))
                gpt.initialise(seed: options.seed)
                model = gpt
            }
        case .new(let preset, let dropout):
            if let config = try LlamaConfig.preset(preset, vocabSize: manifest.tokenizer.vocabSize) {
                guard dropout == 0 else { throw QuarryError("--dropout is for GPT-2 presets: quarry's Llama models have no dropout (as the configs they load)") }
                let llama = try Llama<Float>(config: config, parameters: [Float](repeating: 0, count: config.parameterCount))
                llama.initialise(seed: options.seed)
                model = llama
            } else {
                var config = try ModelConfig.preset(preset, vocabSize: manifest.tokenizer.vocabSize)
                config.dropout = dropout
                let gpt = try GPT<Float>(config: config)
                gpt.initialise(seed: options.seed)
                model = gpt
            }
        }
        guard manifest.tokenizer.vocabSize <= model.vocabularySize else {
            throw QuarryError("the shards' vocabulary (\(manifest.tokenizer.vocabSize)) is larger than the model's (\(model.vocabularySize))")
        }
        switch start {
        case .resume: try ShardsProvenance.check(manifest, directory: data, against: directory)
        case .checkpoint(let spec), .shape(of: let spec):
            if let modelTokenizer {
                try ShardsProvenance.check(manifest, directory: data, againstTokenizer: modelTokenizer, of: spec)
            } else {
                try ShardsProvenance.check(manifest, directory: data, against: HubCache.resolve(spec))
            }
        case .new: break
        }
        guard options.context <= model.contextLength else {
            throw QuarryError("--context \(options.context) is longer than the model's n_positions \(model.contextLength)")
        }
        // Checked before the first batch is allocated, not by the allocator halfway through.
        let memory = ProcessInfo.processInfo.physicalMemory
        let rows = options.batch.multipliedReportingOverflow(by: options.context)
        guard !rows.overflow, let bytes = model.memoryForBatch(rows: rows.partialValue, longest: options.context), UInt64(bytes) <= memory / 2 else {
            throw QuarryError("--batch \(options.batch) × --context \(options.context) needs more than half this machine's "
                              + "\(ProgressLine.formatBytes(Int(clamping: memory))) for activations: lower --batch (--accumulate keeps the tokens per step)")
        }
        let fm = FileManager.default
        if case .resume = start {} else if fm.fileExists(atPath: directory + "/trainer-state.json") {
            throw QuarryError("\(directory) already holds a run: use --resume to continue it, or another --out")
        }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if !fm.fileExists(atPath: directory + "/tokenizer.json") {
            // Fine-tuning, generation and Hugging Face read RUN/tokenizer.json.
            if let modelTokenizer {
                // A pre-trained model's own (from its GGUF or directory), which the shards were checked against.
                try TokenizerFile.save(modelTokenizer, to: directory + "/tokenizer.json")
            } else if let tokenizer = ShardsProvenance.tokenizerFile(of: manifest, directory: data) {
                try fm.copyItem(atPath: tokenizer, toPath: directory + "/tokenizer.json")
            } else {
                warnings.append("the shards' tokenizer (\(manifest.tokenizer.path), SHA-256 \(manifest.tokenizer.sha256.prefix(12))…) "
                                + "is not found: copy it to \(directory)/tokenizer.json before fine-tuning or generating")
            }
        }
        trainer = Pretrainer(model: model, options: options, train: train, validation: validation, directory: directory)
        if case .resume = start { resumedAt = try trainer.resume() } else { resumedAt = nil }
    }

    public func run() throws {
        try trainer.run(endOfTextID: manifest.tokenizer.endOfTextID)
    }
}
