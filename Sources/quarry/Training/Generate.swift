import ArgumentParser
import Foundation
import QuarryPipeline
import QuarryTokenizer
import QuarryTraining

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model, streaming tokens as they come.",
        discussion: """
        Temperature 0 is greedy decoding. Generation ends after --max-tokens, at <|endoftext|>, \
        or at a --stop sequence (which is not printed). A key/value cache makes each new token \
        cost one position, not the whole prefix.

        The model is a quarry run directory (GPT-2: config.json, model.safetensors, tokenizer.json), \
        a Hugging Face directory of a Llama-family model (LlamaForCausalLM, Qwen2ForCausalLM; F32, \
        BF16 or F16 safetensors, one file or shards; its tokenizer.json), or a GGUF file of one \
        (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K), whose own tokenizer is used; or \
        ORG/NAME[@REVISION], found in the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, \
        else ~/.cache/huggingface/hub) as huggingface-cli download leaves it.

        --chat asks a chat model: the prompt becomes a user turn in the model's template (the \
        GGUF's ChatML for SmolLM2 and Qwen2; for a `finetune --task sft` run, \
        `User: PROMPT\\n\\nAssistant: `), after --system if given, and only the assistant's answer \
        is printed; generation ends at the template's end of turn.

        Examples:
          quarry generate --model run1 --prompt "The quarry" --max-tokens 100 --temperature 0.8 --top-k 40
          quarry generate --model run3 --chat --prompt "Which section holds mail servers?" --temperature 0
          quarry generate --model SmolLM2-135M-Instruct.Q4_1.gguf --chat --prompt "What is the capital of France?" --temperature 0
        """)
    @Option(help: "A model directory (a quarry run or a Hugging Face Llama-family directory), a .gguf file, or ORG/NAME[@REVISION] in the Hugging Face cache.") var model: String
    @Option(help: "The text to continue (with --chat: the user's message).") var prompt: String
    @Flag(help: "Wrap the prompt in the chat template of `finetune --task sft`.") var chat = false
    @Option(help: "With --chat: a system message before the user's.") var system: String?
    @Option(parsing: .unconditional, help: "Tokens to generate at most.") var maxTokens: Int = 128
    @Option(parsing: .unconditional, help: "0 for greedy decoding.") var temperature: Double = 0.8
    @Option(parsing: .unconditional, help: "Sample among the K most likely tokens (0: all).") var topK: Int = 40
    @Option(parsing: .singleValue, help: "Stop before this text (repeatable).") var stop: [String] = []
    @Option(parsing: .unconditional, help: "Seed for sampling.") var seed: UInt64 = 1337
    @Flag(help: "Print the generated token ids (space-separated) instead of text.") var ids = false
    @Flag(help: .hidden) var recompute = false   // benchmark: run the whole prefix for every token, no cache

    func validate() throws {
        guard maxTokens >= 0, temperature >= 0, topK >= 0 else { throw ValidationError("--max-tokens, --temperature and --top-k must not be negative") }
        if system != nil && !chat { throw ValidationError("--system goes with --chat") }
    }

    func run() throws {
        try runReporting { try BLAS.load(threads: 1) }
        let loaded = try runReporting { try LanguageModel.load(model) }
        let tokenizer = loaded.tokenizer
        var format = ChatFormat.quarry
        if chat {
            if let own = loaded.chatFormat { format = own } else { printError("warning: \(model) has a chat template quarry does not know; using the plain User:/Assistant: one") }
        }
        let text = chat ? format.prompt(user: prompt, system: system) : prompt
        let promptIDs = BPEEncoder(model: tokenizer).encode(text)
        guard !promptIDs.isEmpty else { printError("error: the prompt is empty"); throw ExitCode(1) }
        guard promptIDs.count < loaded.generator.contextLength else {
            printError("error: the prompt has \(promptIDs.count) tokens; the model's context is \(loaded.generator.contextLength)")
            throw ExitCode(1)
        }
        var options = GenerationOptions()
        options.maxTokens = maxTokens
        options.temperature = temperature
        options.topK = topK
        options.seed = seed
        options.recomputePrefix = recompute
        // A chat model that runs on past its answer starts the next turn: stop there too.
        options.stops = stop + (chat && format.endOfTurnToken == nil ? format.stops : [])
        options.endOfText = chat ? format.endOfTurnToken.flatMap(tokenizer.id(of:)) ?? loaded.endOfText : loaded.endOfText
        let out = FileHandle.standardOutput
        var generated: [Int32] = []
        try runReporting {
            try loaded.generator.generate(prompt: promptIDs, options: options,
                                          decode: { id in
                                              if ids { generated.append(id); return [] }
                                              return (try? tokenizer.decodeBytes([id])) ?? []
                                          },
                                          emit: { if !ids { out.write(Data($0)) } })
        }
        if ids { print(generated.map(String.init).joined(separator: " ")) }
    }
}
