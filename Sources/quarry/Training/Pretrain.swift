import ArgumentParser
import Foundation
import QuarryCore
import QuarryPipeline
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
    @Option(help: "A new model's shape: tiny (GPT-2, 4 layers × 256), small (GPT-2, 6 layers × 384), llama-tiny or llama-small (the same sizes in the Llama family: RMSNorm, rotary positions, SwiGLU, grouped-query attention).") var preset: String = "tiny"
    @Option(parsing: .unconditional, help: "Dropout of a new model (embeddings, attention weights, residual branches); a checkpoint keeps its own.") var dropout: Double = 0
    @Option(help: "Start from a pre-trained model instead of a random one: a quarry run, a Hugging Face directory (GPT-2 or Llama-family), a .gguf file, or ORG/NAME in the Hugging Face cache. The shards must use its tokenizer (ingest --tokenizer MODEL).") var initFrom: String?
    @Flag(help: "With --init-from: keep that model's shape and tokenizer but draw new random weights (seeded by --seed), as transformers' from_config: the from-scratch baseline of a pre-trained model.") var randomWeights = false
    @Option(parsing: .unconditional, help: "Optimizer steps.") var steps: Int = 1000
    @Option(parsing: .unconditional, help: "Sequences per batch.") var batch: Int = 16
    @Option(parsing: .unconditional, help: "Tokens per sequence (at most the model's n_positions).") var context: Int = 256
    @Option(parsing: .unconditional, help: "Peak learning rate (default: 1.5e-3 for a new tiny model, 6e-4 otherwise; with --resume, the run's own).") var lr: Double?
    @Option(parsing: .unconditional, help: "Linear warm-up steps.") var warmup: Int = 100
    @Option(parsing: .unconditional, help: "AdamW weight decay (2-D weights only).") var weightDecay: Double = 0.1
    @Option(parsing: .unconditional, help: "Clip the gradient norm to this.") var gradClip: Double = 1.0
    @Option(parsing: .unconditional, help: "Batches per optimizer step (gradient accumulation).") var accumulate: Int = 1
    @Option(parsing: .unconditional, help: "Seed for initialisation and data order.") var seed: UInt64 = 1337
    @Option(parsing: .unconditional, help: "Measure the validation loss every this many steps (0: never).") var valEvery: Int = 100
    @Option(parsing: .unconditional, help: "Write a checkpoint every this many steps.") var checkpointEvery: Int = 500
    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for matrix products (default: all cores).") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Continue the run in --out from its last checkpoint.") var resume = false
    @Flag(name: [.short, .long], help: "No progress line.") var quiet = false

    func validate() throws {
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard steps >= 0, batch >= 1, context >= 2, (lr ?? 1) > 0, warmup >= 0, accumulate >= 1, jobs >= 1, checkpointEvery >= 1 else {
            throw ValidationError("--steps ≥ 0, --batch ≥ 1, --context ≥ 2, --lr > 0, --accumulate ≥ 1, --jobs ≥ 1 and --checkpoint-every ≥ 1")
        }
        // NaN passes every comparison but "≠": checked here, not at the first checkpoint.
        guard (lr ?? 1).isFinite, gradClip.isFinite && gradClip > 0, weightDecay.isFinite && weightDecay >= 0 else {
            throw ValidationError("--lr, --grad-clip (> 0) and --weight-decay (≥ 0) must be finite numbers")
        }
        guard !randomWeights || initFrom != nil else { throw ValidationError("--random-weights takes the shape of --init-from MODEL: name the model") }
        guard valEvery >= 0 else { throw ValidationError("--val-every must be 0 (never) or more") }
    }

    var start: PretrainingRun.Start {
        if resume { return .resume }
        if let initFrom { return randomWeights ? .shape(of: initFrom) : .checkpoint(initFrom) }
        return .new(preset: preset, dropout: dropout)
    }

    var options: PretrainOptions {
        var options = PretrainOptions()
        options.steps = steps
        options.batch = batch
        options.context = context
        options.learningRate = lr ?? PretrainingRun.defaultLearningRate(start: start, directory: out)
        options.warmupSteps = warmup
        options.weightDecay = weightDecay
        options.gradientClip = gradClip
        options.accumulation = accumulate
        options.seed = seed
        options.validationEvery = valEvery
        options.checkpointEvery = checkpointEvery
        return options
    }

    func run() throws {
        try runReporting { try BLAS.load(threads: jobs) }
        let run = try runReporting { try PretrainingRun(data: data, directory: out, start: start, options: options) }
        for warning in run.warnings { printError("warning: \(warning)") }
        if let step = run.resumedAt { printError("resuming at step \(step) of \(steps)") }
        let progress = ProgressLine(label: "pretrain", enabled: progressEnabled(quiet: quiet))
        run.trainer.onStep = { progress.update(done: $0.step, of: steps) }
        try runReporting { try run.run() }
        progress.finish()
        if !quiet { printError("\(BLAS.kernelNote)\nwrote \(out)/model.safetensors, config.json, metrics.jsonl, loss.svg") }
    }
}
