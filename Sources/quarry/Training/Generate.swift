import ArgumentParser
import Foundation
import QuarryTokenizer
import QuarryTraining

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model, streaming tokens as they come.",
        discussion: """
        Temperature 0 is greedy decoding. Generation ends after --max-tokens, at <|endoftext|>, \
        or at a --stop sequence (which is not printed). A key/value cache makes each new token \
        cost one position, not the whole prefix.

        --chat asks a `finetune --task sft` model: the prompt becomes a user turn in the chat \
        template it was trained on (`User: PROMPT\\n\\nAssistant: `), after --system if given, and \
        only the assistant's answer is printed.

        Examples:
          quarry generate --model run1 --prompt "The quarry" --max-tokens 100 --temperature 0.8 --top-k 40
          quarry generate --model run3 --chat --prompt "Which section holds mail servers?" --temperature 0
        """)
    @Option(help: "A model directory (config.json, model.safetensors, tokenizer.json).") var model: String
    @Option(help: "The text to continue (with --chat: the user's message).") var prompt: String
    @Flag(help: "Wrap the prompt in the chat template of `finetune --task sft`.") var chat = false
    @Option(help: "With --chat: a system message before the user's.") var system: String?
    @Option(parsing: .unconditional, help: "Tokens to generate at most.") var maxTokens: Int = 128
    @Option(parsing: .unconditional, help: "0 for greedy decoding.") var temperature: Double = 0.8
    @Option(parsing: .unconditional, help: "Sample among the K most likely tokens (0: all).") var topK: Int = 40
    @Option(parsing: .singleValue, help: "Stop before this text (repeatable).") var stop: [String] = []
    @Option(parsing: .unconditional, help: "Seed for sampling.") var seed: UInt64 = 1337
    @Flag(help: .hidden) var recompute = false   // benchmark: run the whole prefix for every token, no cache

    func validate() throws {
        guard maxTokens >= 0, temperature >= 0, topK >= 0 else { throw ValidationError("--max-tokens, --temperature and --top-k must not be negative") }
        if system != nil && !chat { throw ValidationError("--system goes with --chat") }
    }

    var options: GenerationOptions {
        var options = GenerationOptions()
        options.maxTokens = maxTokens
        options.temperature = temperature
        options.topK = topK
        options.seed = seed
        // A chat model that runs on past its answer starts the next user turn: stop there too.
        options.stops = stop + (chat ? [ChatTemplate.nextUserTurn] : [])
        options.recomputePrefix = recompute
        return options
    }

    func run() throws {
        try runReporting { try BLAS.load(threads: 1) }
        let gpt = try runReporting { try Checkpoint.load(from: model) }
        let tokenizer = try runReporting { try TokenizerFile.load(path: model + "/tokenizer.json") }
        let text = chat ? ChatTemplate.prompt(user: prompt, system: system) : prompt
        let promptIDs = BPEEncoder(model: tokenizer).encode(text)
        guard !promptIDs.isEmpty else { printError("error: the prompt is empty"); throw ExitCode(1) }
        guard promptIDs.count < gpt.config.nPositions else {
            printError("error: the prompt has \(promptIDs.count) tokens; the model's context is \(gpt.config.nPositions)")
            throw ExitCode(1)
        }
        var options = self.options
        options.endOfText = tokenizer.id(of: "<|endoftext|>")
        let out = FileHandle.standardOutput
        try runReporting {
            try Generator(model: gpt).generate(prompt: promptIDs, options: options,
                                               decode: { (try? tokenizer.decodeBytes([$0])) ?? [] },
                                               emit: { out.write(Data($0)) })
        }
    }
}
