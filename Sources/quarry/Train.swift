import ArgumentParser
import Foundation
import QuarryCore
import QuarryShards
import QuarryTokenizer
import QuarryTraining

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-train a GPT-2 model on `quarry ingest` shards.",
        discussion: """
        Writes RUN/model.safetensors and RUN/config.json in the Hugging Face GPT-2 layout, the \
        tokenizer, the optimizer state, RUN/metrics.jsonl (one line per step) and RUN/loss.svg. \
        --resume continues from the last checkpoint to the result an uninterrupted run reaches; \
        --steps 0 writes the initialised model.

        Examples:
          quarry pretrain --data shards/ --out run1 --preset tiny --steps 2000
          quarry pretrain --data shards/ --out run1 --preset tiny --steps 2000 --resume
        """)

    @Option(help: "A directory written by `quarry ingest` (megatron, llmc or nanogpt shards).") var data: String
    @Option(name: [.short, .long], help: "The run directory.") var out: String
    @Option(help: "tiny (4 layers × 256) or small (6 layers × 384).") var preset: String = "tiny"
    @Option(help: "Start from a Hugging Face GPT-2-layout checkpoint directory instead of a random model.") var initFrom: String?
    @Option(help: "Optimizer steps.") var steps: Int = 1000
    @Option(help: "Sequences per batch.") var batch: Int = 16
    @Option(help: "Tokens per sequence (at most the model's n_positions).") var context: Int = 256
    @Option(help: "Peak learning rate.") var lr: Double = 6e-4
    @Option(help: "Linear warm-up steps.") var warmup: Int = 100
    @Option(help: "AdamW weight decay (2-D weights only).") var weightDecay: Double = 0.1
    @Option(help: "Clip the gradient norm to this.") var gradClip: Double = 1.0
    @Option(help: "Batches per optimizer step (gradient accumulation).") var accumulate: Int = 1
    @Option(help: "Seed for initialisation and data order.") var seed: UInt64 = 1337
    @Option(help: "Measure the validation loss every this many steps.") var valEvery: Int = 100
    @Option(help: "Write a checkpoint every this many steps.") var checkpointEvery: Int = 500
    @Option(name: [.short, .long], help: "Threads for matrix products (default: all cores).") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Continue the run in --out from its last checkpoint.") var resume = false
    @Flag(name: [.short, .long], help: "No progress line.") var quiet = false

    func validate() throws {
        guard steps >= 0, batch >= 1, context >= 2, lr > 0, warmup >= 0, accumulate >= 1, jobs >= 1, checkpointEvery >= 1 else {
            throw ValidationError("--steps ≥ 0, --batch ≥ 1, --context ≥ 2, --lr > 0, --accumulate ≥ 1, --jobs ≥ 1 and --checkpoint-every ≥ 1")
        }
    }

    func run() throws {
        try runReporting { try BLAS.load(threads: jobs) }
        guard let (train, manifest) = try runReporting({ try TokenWindows.split("train", of: data) }) else {
            printError("error: \(data) has no training shards")
            throw ExitCode(1)
        }
        let validation = try runReporting { try TokenWindows.split("val", of: data)?.windows }
        let model: GPT<Float> = try runReporting {
            if resume { return try Checkpoint.load(from: out) }
            if let initFrom { return try Checkpoint.load(from: initFrom) }
            let m = try GPT<Float>(config: try ModelConfig.preset(preset, vocabSize: manifest.tokenizer.vocabSize))
            m.initialise(seed: seed)
            return m
        }
        guard manifest.tokenizer.vocabSize <= model.config.vocabSize else {
            printError("error: the shards' vocabulary (\(manifest.tokenizer.vocabSize)) is larger than the model's (\(model.config.vocabSize))")
            throw ExitCode(1)
        }
        guard context <= model.config.nPositions else {
            printError("error: --context \(context) is longer than the model's n_positions \(model.config.nPositions)")
            throw ExitCode(1)
        }
        if !resume, FileManager.default.fileExists(atPath: out + "/trainer-state.json") {
            printError("error: \(out) already holds a run: use --resume to continue it, or another --out")
            throw ExitCode(1)
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: out + "/tokenizer.json") {
            try? FileManager.default.copyItem(atPath: manifest.tokenizer.path, toPath: out + "/tokenizer.json")
        }
        var options = PretrainOptions()
        options.steps = steps
        options.batch = batch
        options.context = context
        options.learningRate = lr
        options.warmupSteps = warmup
        options.weightDecay = weightDecay
        options.gradientClip = gradClip
        options.accumulation = accumulate
        options.seed = seed
        options.validationEvery = valEvery
        options.checkpointEvery = checkpointEvery
        let trainer = Pretrainer(model: model, options: options, train: train, validation: validation, directory: out)
        if resume {
            let step = try runReporting { try trainer.resume() }
            printError("resuming at step \(step) of \(steps)")
        }
        let progress = ProgressLine(label: "pretrain", totalBytes: 0, enabled: !quiet && isatty(2) != 0)
        trainer.onStep = { m in
            progress.update(bytes: 0, items: m.step, total: steps)
            _ = m
        }
        try runReporting { try trainer.run(endOfTextID: manifest.tokenizer.endOfTextID) }
        progress.finish()
        if !quiet { printError("\(BLAS.kernelNote)\nwrote \(out)/model.safetensors, config.json, metrics.jsonl, loss.svg") }
    }
}

/// `quarry logits`: the model's next-token logits for given token ids (a cross-check aid).
struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's logits for token ids as JSON (for comparing with other implementations).",
        shouldDisplay: false)
    @Option(help: "A model directory (config.json + model.safetensors).") var model: String
    @Option(help: "Comma-separated token ids.") var tokens: String

    func run() throws {
        try runReporting { try BLAS.load() }
        let gpt = try runReporting { try Checkpoint.load(from: model) }
        let ids = tokens.split(separator: ",").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        try runReporting { _ = try gpt.forward(tokens: ids, targets: nil, B: 1, T: ids.count) }
        let logits = gpt.logits()
        print("[" + logits.map { String($0) }.joined(separator: ",") + "]")
    }
}
