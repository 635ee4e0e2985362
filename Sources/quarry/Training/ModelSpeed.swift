import ArgumentParser
import Foundation
import QuarryCore
import QuarryPipeline
import QuarryTraining

/// `quarry model-speed`: forward and training-step throughput of a Llama-family model on random
/// tokens, for scripts/bench-llama (which runs PyTorch on the same shapes beside it).
struct ModelSpeed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-speed",
        abstract: "Measure a Llama-family model's forward and training-step tokens per second (a benchmark aid).",
        shouldDisplay: false)
    @Option(help: "A .gguf file or a Llama-family Hugging Face directory.") var model: String
    @Option(parsing: .unconditional, help: "Sequences per batch.") var batch: Int = 16
    @Option(parsing: .unconditional, help: "Tokens per sequence.") var context: Int = 128
    @Option(parsing: .unconditional, help: "Timed repetitions of each (after one untimed).") var steps: Int = 2
    @Option(parsing: .unconditional, help: "OpenBLAS threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(parsing: .unconditional, help: "Time a LoRA step instead: adapters of this rank on q, k, v, o (dropout 0.05), the base frozen.") var lora: Int?

    func validate() throws {
        guard batch >= 1, context >= 2, steps >= 1, threads >= 1 else { throw ValidationError("--batch, --steps and --threads must be at least 1, --context at least 2") }
    }

    func run() throws {
        try runReporting { try BLAS.load(threads: threads) }
        let started = Date()
        guard let llama = try runReporting({ try LanguageModel.llama(model) }) else {
            printError("error: \(model) is not a Llama-family model (a .gguf file or a Hugging Face directory)")
            throw ExitCode(1)
        }
        let loaded = Date().timeIntervalSince(started)
        let c = llama.config
        var rng = SplitMix64(seed: 1)
        let tokens = (0..<(batch * context)).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) }
        let targets = (0..<(batch * context)).map { _ in Int32(rng.next() % UInt64(c.vocabSize)) }
        // Weight decay on the matrices, as for any Llama fine-tune.
        if let lora { try runReporting { try llama.attachAdapters(LoRAConfig(rank: lora), seed: 1) } }
        var optimizer = llama.makeOptimizer(weightDecay: 0.1)
        func timed(_ body: () throws -> Void) rethrows -> Double {
            try body()   // once untimed: buffers are allocated on the first pass
            let start = Date()
            for _ in 0..<steps { try body() }
            return Date().timeIntervalSince(start) / Double(steps)
        }
        let forward = try runReporting { try timed { _ = try llama.forward(tokens: tokens, targets: targets, B: batch, T: context) } }
        let step = try runReporting {
            try timed {
                llama.zeroGradients()
                _ = try llama.forward(tokens: tokens, targets: targets, B: batch, T: context, training: true)
                try llama.backward()
                llama.step(&optimizer, lr: 1e-5)
            }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let n = Double(batch * context)
        print(String(format: "{\"load_s\": %.2f, \"forward_tokens_per_s\": %.1f, \"train_step_tokens_per_s\": %.1f, \"peak_rss_mb\": %d}",
                     loaded, n / forward, n / step, usage.ru_maxrss / 1024))
    }
}
