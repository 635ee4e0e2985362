import ArgumentParser
import Foundation
import QuarryCore
import QuarryLabels
import QuarryShards
import QuarryTokenizer
import QuarryTraining

/// Refuses shards tokenized differently from a model's own tokenizer (RUN/tokenizer.json, when
/// the model directory has one): the ids would mean other tokens to the model.
func checkShardsMatchTokenizer(of modelDirectory: String, manifest: Manifest, data: String) throws {
    let own = modelDirectory + "/tokenizer.json"
    guard FileManager.default.fileExists(atPath: own) else { return }
    if (try? fileSHA256(own)) == manifest.tokenizer.sha256 { return }
    // Another file may still hold the same vocabulary (written by another tool): compare the models.
    let modelTokenizer = try loadTokenizer(own)
    if let candidate = shardsTokenizerFile(manifest, data: data),
       let shardsTokenizer = try? TokenizerFile.load(path: candidate), shardsTokenizer.encodesLike(modelTokenizer) { return }
    printError("error: the shards in \(data) were tokenized with \(manifest.tokenizer.path) (SHA-256 \(manifest.tokenizer.sha256.prefix(12))…), "
               + "not with the model's \(own): re-ingest them with --tokenizer \(own)")
    throw ExitCode(1)
}

/// The file the shards were tokenized with: the manifest's path (as typed at ingest, so relative
/// to ingest's working directory) or the copy ingest puts beside the shards; nil when neither
/// holds the recorded SHA-256.
func shardsTokenizerFile(_ manifest: Manifest, data: String) -> String? {
    [manifest.tokenizer.path, data + "/tokenizer.json"].first { (try? fileSHA256($0)) == manifest.tokenizer.sha256 }
}

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
    @Option(help: "Dropout of a new model (embeddings, attention weights, residual branches); a checkpoint keeps its own.") var dropout: Double = 0
    @Option(help: "Start from a Hugging Face GPT-2-layout checkpoint directory instead of a random model.") var initFrom: String?
    @Option(help: "Optimizer steps.") var steps: Int = 1000
    @Option(help: "Sequences per batch.") var batch: Int = 16
    @Option(help: "Tokens per sequence (at most the model's n_positions).") var context: Int = 256
    @Option(help: "Peak learning rate (default: 1.5e-3 for a new tiny model, 6e-4 otherwise; with --resume, the run's own).") var lr: Double?
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
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
        guard steps >= 0, batch >= 1, context >= 2, (lr ?? 1) > 0, warmup >= 0, accumulate >= 1, jobs >= 1, checkpointEvery >= 1 else {
            throw ValidationError("--steps ≥ 0, --batch ≥ 1, --context ≥ 2, --lr > 0, --accumulate ≥ 1, --jobs ≥ 1 and --checkpoint-every ≥ 1")
        }
    }

    /// A new `tiny` model's 1.5e-3 had the lowest validation loss after 400 steps of 6e-4, 1.5e-3
    /// and 3e-3, and ended 3,000 steps 0.19 below 6e-4 (BENCHMARKS.md); 6e-4 is GPT-2's, kept
    /// for larger models and for continued training (`--init-from`), where it was not measured.
    var peakLearningRate: Double {
        if let lr { return lr }
        if resume, let saved = Pretrainer.savedOptions(in: out) { return saved.learningRate }
        return initFrom == nil && preset == "tiny" ? 1.5e-3 : 6e-4
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
            var config = try ModelConfig.preset(preset, vocabSize: manifest.tokenizer.vocabSize)
            config.dropout = dropout
            let m = try GPT<Float>(config: config)
            m.initialise(seed: seed)
            return m
        }
        guard manifest.tokenizer.vocabSize <= model.config.vocabSize else {
            printError("error: the shards' vocabulary (\(manifest.tokenizer.vocabSize)) is larger than the model's (\(model.config.vocabSize))")
            throw ExitCode(1)
        }
        if resume { try checkShardsMatchTokenizer(of: out, manifest: manifest, data: data) }
        if let initFrom { try checkShardsMatchTokenizer(of: initFrom, manifest: manifest, data: data) }
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
            // Fine-tuning, generation and Hugging Face read RUN/tokenizer.json.
            if let tokenizer = shardsTokenizerFile(manifest, data: data) {
                try FileManager.default.copyItem(atPath: tokenizer, toPath: out + "/tokenizer.json")
            } else {
                printError("warning: the shards' tokenizer (\(manifest.tokenizer.path), SHA-256 \(manifest.tokenizer.sha256.prefix(12))…) "
                           + "is not found: copy it to \(out)/tokenizer.json before fine-tuning or generating")
            }
        }
        var options = PretrainOptions()
        options.steps = steps
        options.batch = batch
        options.context = context
        options.learningRate = peakLearningRate
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
    @Option(help: "Tokens to generate at most.") var maxTokens: Int = 128
    @Option(help: "0 for greedy decoding.") var temperature: Double = 0.8
    @Option(help: "Sample among the K most likely tokens (0: all).") var topK: Int = 40
    @Option(parsing: .singleValue, help: "Stop before this text (repeatable).") var stop: [String] = []
    @Option(help: "Seed for sampling.") var seed: UInt64 = 1337
    @Flag(help: .hidden) var recompute = false   // benchmark: run the whole prefix for every token, no cache

    func validate() throws {
        guard maxTokens >= 0, temperature >= 0, topK >= 0 else { throw ValidationError("--max-tokens, --temperature and --top-k must not be negative") }
        if system != nil && !chat { throw ValidationError("--system goes with --chat") }
    }

    func run() throws {
        try runReporting { try BLAS.load(threads: 1) }
        let gpt = try runReporting { try Checkpoint.load(from: model) }
        let tokenizer = try loadTokenizer(model + "/tokenizer.json")
        let endOfText = tokenizer.id(of: "<|endoftext|>")
        let text = chat ? ChatTemplate.prompt(user: prompt, system: system) : prompt
        let promptIDs = BPEEncoder(model: tokenizer).encode(text)
        guard !promptIDs.isEmpty else { printError("error: the prompt is empty"); throw ExitCode(1) }
        guard promptIDs.count < gpt.config.nPositions else {
            printError("error: the prompt has \(promptIDs.count) tokens; the model's context is \(gpt.config.nPositions)")
            throw ExitCode(1)
        }
        let generator = Generator(model: gpt)
        var rng = SplitMixGenerator(seed: seed)
        try runReporting { for id in promptIDs { try generator.feed(id) } }
        // Output is held back by the longest stop sequence's length, so a stop is never printed.
        // A chat model that runs on past its answer starts the next user turn: stop there too.
        let stops = stop + (chat ? ["\n\n" + ChatTemplate.userPrefix.trimmingCharacters(in: .whitespaces)] : [])
        let holdBack = stops.map { $0.utf8.count }.max() ?? 0
        var pending: [UInt8] = []
        var context = promptIDs
        let out = FileHandle.standardOutput
        generation: for _ in 0..<maxTokens {
            let next = generator.sample(temperature: temperature, topK: topK, rng: &rng)
            if next == endOfText { break }
            pending += (try? tokenizer.decodeBytes([next])) ?? []
            for s in stops {
                let stopBytes = Array(s.utf8)
                if !stopBytes.isEmpty, let stopStart = firstOccurrence(of: stopBytes, in: pending) {
                    out.write(Data(pending[..<stopStart]))
                    pending = []
                    break generation
                }
            }
            if pending.count > holdBack {
                let emit = pending.count - holdBack
                out.write(Data(pending[..<emit]))
                pending.removeFirst(emit)
            }
            if generator.position >= gpt.config.nPositions { break }
            if recompute {
                // The cost a cache avoids: every position again, then the last one's logits.
                context.append(next)
                try runReporting { _ = try gpt.forward(tokens: context, targets: nil, B: 1, T: context.count) }
            }
            try runReporting { try generator.feed(next) }
        }
        out.write(Data(pending + [0x0A]))
    }
}

/// Calls `body` with each non-blank line of a JSONL file, parsed, and its place (`path:line`)
/// for error messages; a line that is not JSON is an error naming that place.
func forEachJSONLine(_ path: String, _ body: (JSONValue, String) throws -> Void) throws {
    let reader = try LineReader(path: path)
    var lineNumber = 0
    while true {
        let lines = try reader.nextLines(max: 16384)
        if lines.isEmpty { break }
        for line in lines {
            lineNumber += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            let place = "\(path):\(lineNumber)"
            guard let json = try? JSONValue.parse(line) else { throw QuarryError("\(place): not a JSON object") }
            try body(json, place)
        }
    }
}

/// Labelled JSONL ({"text", "label"}: `quarry export --format jsonl`) as token ids and label indices.
func readLabelled(_ path: String, encoder: BPEEncoder, limit: Int, labels: inout [String], fixedLabels: Bool) throws -> [LabelledExample] {
    try readLabelled(path, encoder: encoder, limit: limit, labels: &labels, fixedLabels: fixedLabels, holdingOut: false).kept
}

/// Labelled examples; with `holdingOut`, those of `HeldOutTenth` go to `heldOut` instead.
func readLabelled(_ path: String, encoder: BPEEncoder, limit: Int, labels: inout [String], fixedLabels: Bool,
                  holdingOut: Bool) throws -> HeldOutTenth.Split<LabelledExample> {
    var examples: [LabelledExample] = []
    var texts: [String] = []
    try forEachJSONLine(path) { json, place in
        guard let text = json["text"]?.string else {
            throw QuarryError("\(place): not a JSON object with a string \"text\"")
        }
        guard let label = json["label"]?.string else {
            throw QuarryError("\(place): no string \"label\" (fine-tuning needs labelled examples: `quarry export --format jsonl`)")
        }
        var index = labels.firstIndex(of: label)
        if index == nil {
            guard !fixedLabels else { throw QuarryError("\(place): label \"\(label)\" is unknown to the model (its labels: \(labels.joined(separator: ", ")))") }
            labels.append(label)
            index = labels.count - 1
        }
        examples.append(LabelledExample(tokens: Classifier.encode(text, encoder: encoder, limit: limit), label: index ?? 0,
                                        id: json["id"]?.string ?? place))
        texts.append(text)
    }
    return HeldOutTenth.Split(examples, texts: texts, holdingOut: holdingOut)
}

extension HeldOutTenth {
    /// Examples divided by their texts (all kept when not `holdingOut`).
    struct Split<Example> {
        var kept: [Example] = []
        var heldOut: [Example] = []
        var groups = 0

        init(_ examples: [Example], texts: [String], holdingOut: Bool) {
            guard holdingOut else { kept = examples; return }
            let tenth = HeldOutTenth(texts)
            groups = tenth.groupCount
            for (example, held) in zip(examples, tenth.isHeldOut) {
                if held { heldOut.append(example) } else { kept.append(example) }
            }
        }

        /// At least one example on each side (a tiny set may hash all one way), and says what was held out.
        mutating func balance(file: String) throws {
            if heldOut.isEmpty, kept.count >= 2, let last = kept.popLast() { heldOut.append(last) }
            if kept.isEmpty, heldOut.count >= 2, let last = heldOut.popLast() { kept.append(last) }
            guard !kept.isEmpty, !heldOut.isEmpty else {
                printError("error: \(file) has one example: too few to hold out a dev set; give more, or --dev FILE")
                throw ExitCode(1)
            }
            printError("dev: \(heldOut.count) of the \(kept.count + heldOut.count) examples held out (a tenth of their \(groups) groups of near-duplicate texts, chosen by hash; --dev FILE to choose them)")
        }
    }
}

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a model on labelled examples (classification) or chats (sft).",
        discussion: """
        --task classify adds a linear head over each text's final hidden states: their mean \
        (--pooling mean, the default), the last token's (--pooling last; in a causal model the only \
        position that has seen the whole text, as GPT2ForSequenceClassification) or the mean beside \
        each feature's largest value (--pooling mean-max, ULMFiT's concat pooling), and trains it with \
        the model (or alone, with --freeze-base), the learning rates warming up over 6% of the steps \
        and then falling to zero (--schedule linear). The dev set is measured after every epoch; the \
        best epoch by macro-F1 is kept in --out (model.safetensors, classifier.safetensors, labels.json).

        --task sft trains the next-token loss on the assistant's words only (the prompt is \
        context, not target) of chat records ({"messages": [{"role", "content"}, …]}, as \
        `quarry export --format chat` writes them, or {"text", "response"}), each rendered as \
        `SYSTEM\\n\\nUser: …\\n\\nAssistant: …<|endoftext|>`. The epoch with the best dev loss is kept \
        in --out as a plain GPT-2 checkpoint: `quarry generate --model RUN2 --chat "…"` asks it.

        With --db, the examples come straight from a labelling task (its adjudicated answers, else \
        the annotators' agreed ones, as `quarry export` takes them). Without --dev, a tenth of the \
        examples is held out for it, chosen by hash with near-duplicate texts kept together (not \
        the file's last tenth: a file sorted by name or label ends unlike the rest; its examples and \
        predictions go to held-out-predictions.jsonl); with --db, the split `quarry export \
        --split` makes.

        Examples:
          quarry export sections --format jsonl --split train=0.8,dev=0.1,test=0.1 --out data/
          quarry finetune --from run1 --train data/train.jsonl --dev data/dev.jsonl --out run2 --epochs 3
          quarry finetune --from run1 --db quarry.db --task sections --out run2
          quarry finetune --from run1 --task sft --train chats.jsonl --out run3 --lr 3e-4
        """)
    @Option(help: "The model to start from (a quarry run or any Hugging Face GPT-2 safetensors directory).") var from: String
    @Option(help: "Labelled JSONL ({\"text\", \"label\"}; for sft chat records), a `quarry export --format shards` directory, or with --db the labelling task's name.") var train: String?
    @Option(name: [.short, .long], help: "Where the fine-tuned model goes.") var out: String
    @Option(help: "classify or sft; with --db, the labelling task's name may be given here instead of --train (classify).") var task: String = "classify"
    @Option(help: "Read the labelled examples from this labels database (SQLite).") var db: String?
    @Option(help: "Dev JSONL, or an export directory whose dev split is used (default: a tenth of --train, chosen by hash, near-duplicates kept together).") var dev: String?
    @Option(help: "Epochs at most.") var epochs: Int = 3
    @Option(help: "Examples per batch.") var batch: Int = 16
    @Option(help: "Learning rate of the model (default: 3e-4 for classify, 1e-4 for sft).") var lr: Double?
    @Option(help: "Learning rate of the head.") var headLr: Double = 1e-3
    @Option(help: "Layer-wise learning-rate decay (classify), in (0, 1]: block i of L learns at lr × F^(L−i), the embeddings at lr × F^(L+1), so the features nearest the input move least (ELECTRA, BEiT). 1 is off.") var layerDecay: Double = 1
    @Option(help: "Weight λ of an auxiliary next-token loss on the training texts (classify), added to the classification loss as in GPT-1 (λ = 0.5 there). 0 is off.") var lmWeight: Double = 0
    @Option(help: "AdamW weight decay.") var weightDecay: Double = 0.01
    @Option(help: "Dropout while training (default: the model's own, from its config.json).") var dropout: Double?
    @Option(help: "Word dropout (classify): each token of a training text is left out with this probability, a new choice every epoch, so the classifier cannot rest on a few memorised tokens. 0 is off.") var tokenDropout: Double = 0
    @Option(help: "Measure and keep an exponential moving average of the weights with this decay (classify; e.g. 0.999, about the last 1,000 steps' weights), not the weights as trained. 0 is off.") var ema: Double = 0
    @Option(help: "How a text's hidden states reach the head: mean (averaged over the text), last (the last token's, as GPT2ForSequenceClassification) or mean-max (the mean and each feature's largest value).") var pooling: String = "mean"
    @Flag(help: "Batch texts of similar lengths together (Hugging Face's group_by_length). Batches are packed without padding, so this no longer saves time; it makes batches less random (lower held-out accuracy on the Debian sections; see BENCHMARKS.md).") var groupByLength = false
    @Flag(help: "Train the head only.") var freezeBase = false
    @Flag(help: "Weight classes inversely to their frequency.") var classWeights = false
    @Option(help: "Stop after this many epochs without a better dev macro-F1.") var patience: Int = 2
    @Option(help: "Seed for the head's initialisation and the data order.") var seed: UInt64 = 1337
    @Option(help: "Learning rates over the run: constant, or linear (a warm-up over the first 6% of the steps, then a fall to zero at the last epoch's end, as BERT fine-tuning and the Hugging Face Trainer).") var schedule: String = "linear"
    @Option(name: [.short, .long], help: "Threads for matrix products.") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    var poolingKind: Classifier.Pooling? {
        switch pooling {
        case "last": return .lastToken
        case "mean-max": return .meanMax
        default: return Classifier.Pooling(rawValue: pooling)
        }
    }

    /// `--task` is the kind unless, with --db, it names the labelling task.
    var kind: String { db != nil && !["classify", "sft"].contains(task) ? "classify" : task }

    func validate() throws {
        guard kind == "classify" || kind == "sft" else { throw ValidationError("--task must be classify or sft") }
        if poolingKind == nil { throw ValidationError("--pooling must be last, mean or mean-max") }
        if FineTuneSchedule(rawValue: schedule) == nil { throw ValidationError("--schedule must be constant or linear") }
        if let dropout, !(dropout >= 0 && dropout < 1) { throw ValidationError("--dropout must be in [0, 1)") }
        if !(tokenDropout >= 0 && tokenDropout < 1) { throw ValidationError("--token-dropout must be in [0, 1) (0 is off; 0.1 leaves out one token in ten)") }
        if !(ema >= 0 && ema < 1) { throw ValidationError("--ema must be in [0, 1) (0 is off; 0.999 averages about the last 1,000 steps)") }
        if kind == "sft" && (tokenDropout != 0 || ema != 0) { throw ValidationError("--token-dropout and --ema apply to --task classify only") }
        if !(layerDecay > 0 && layerDecay <= 1) { throw ValidationError("--layer-decay must be in (0, 1] (1 is off; 0.8 is a usual choice)") }
        if kind == "sft" && layerDecay != 1 { throw ValidationError("--layer-decay applies to --task classify only") }
        if !(lmWeight >= 0 && lmWeight.isFinite) { throw ValidationError("--lm-weight must be 0 or more (0 is off; GPT-1 used 0.5)") }
        if kind == "sft" && lmWeight != 0 { throw ValidationError("--lm-weight applies to --task classify only (sft's loss is already next-token)") }
        if freezeBase && lmWeight != 0 { throw ValidationError("--lm-weight trains the model, so it cannot go with --freeze-base") }
        if db == nil && train == nil { throw ValidationError("give --train FILE, or --db PATH with --task NAME (a labelling task)") }
        if db != nil && train == nil && ["classify", "sft"].contains(task) { throw ValidationError("with --db, name the labelling task: --task NAME (or --train NAME)") }
        guard epochs >= 1, batch >= 1, (lr ?? 1) > 0, headLr > 0, patience >= 1, jobs >= 1 else { throw ValidationError("--epochs, --batch, --patience, --jobs ≥ 1 and learning rates > 0") }
    }

    func run() throws {
        if kind == "sft" { return try runSFT() }
        let (model, tokenizer) = try loadStartingModel()
        let encoder = BPEEncoder(model: tokenizer)
        var labels: [String] = []
        let data = try dataFiles(format: .jsonl)
        defer { data.removeTemporary() }
        let (trainFile, devFile) = (data.train, data.dev)
        var read = try runReporting {
            try readLabelled(trainFile, encoder: encoder, limit: model.config.nPositions, labels: &labels, fixedLabels: false,
                             holdingOut: devFile == nil)
        }
        guard !read.kept.isEmpty || !read.heldOut.isEmpty else { printError("error: no labelled examples to train on"); throw ExitCode(1) }
        if let dev = devFile {
            read.heldOut = try runReporting { try readLabelled(dev, encoder: encoder, limit: model.config.nPositions, labels: &labels, fixedLabels: false) }
        } else {
            try read.balance(file: trainFile)
        }
        let (trainSet, devSet) = (read.kept, read.heldOut)
        guard labels.count >= 2 else { printError("error: the training set has fewer than two labels"); throw ExitCode(1) }
        try prepareOutput(refusingIfExists: "labels.json")
        var options = FineTuneOptions()
        options.epochs = epochs
        options.batch = batch
        options.learningRate = lr ?? options.learningRate
        options.headLearningRate = headLr
        options.layerDecay = layerDecay
        options.languageModelWeight = lmWeight
        options.weightDecay = weightDecay
        options.freezeBase = freezeBase
        options.classWeights = classWeights
        options.patience = patience
        options.seed = seed
        options.groupByLength = groupByLength
        options.schedule = FineTuneSchedule(rawValue: schedule) ?? .constant
        options.tokenDropout = tokenDropout
        options.averageDecay = ema
        let classifier = Classifier(model: model, labels: labels, seed: seed, pooling: poolingKind ?? .lastToken)
        let tuner = FineTuner(classifier: classifier, options: options, directory: out)
        let progress = ProgressLine(label: "finetune", totalBytes: 0)
        tuner.onBatch = { done, total in progress.update(bytes: 0, items: done, total: total) }
        tuner.onEpoch = { epoch, loss, report in
            progress.finish()
            printError(String(format: "epoch %d: train loss %.4f, dev accuracy %.4f, dev macro-F1 %.4f", epoch, loss, report.accuracy, report.macroF1))
        }
        let best = try runReporting { try tuner.run(train: trainSet, dev: devSet, endOfTextID: tokenizer.id(of: "<|endoftext|>")) }
        printError(String(format: "best dev macro-F1 %.4f (accuracy %.4f); saved in %@", best.macroF1, best.accuracy, out))
        if devFile == nil {
            // Which examples were held out, and how the kept model did on each: the split is
            // reproducible, but only quarry computes it.
            try runReporting { try writePredictions(devSet, tuner.bestDevProbabilities, labels: labels, to: out + "/held-out-predictions.jsonl") }
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a fine-tuned classifier (accuracy, macro-F1, per class, confusion) or a language model (loss, perplexity).",
        discussion: """
        Examples:
          quarry eval --model run2 --data data/test.jsonl --json
          quarry eval --model run2 --data data/test.jsonl --predictions run2/test-predictions.jsonl
          quarry eval --model run1 --data shards/          # loss and perplexity on the val split
        """)
    @Option(help: "A fine-tuned classifier, or a language model for shard data.") var model: String
    @Option(help: "Labelled JSONL, or a `quarry ingest` directory.") var data: String
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Windows of this many tokens (language models).") var context: Int = 256
    @Option(help: "Batches to average (language models).") var batches: Int = 16
    @Option(help: "Also write each example's prediction to this JSONL file ({\"id\", \"label\", \"predicted\", \"probabilities\"}; schemas/prediction.schema.json), for reading the errors or averaging several models.") var predictions: String?

    func run() throws {
        try runReporting { try BLAS.load() }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory), isDirectory.boolValue {
            let gpt = try runReporting { try Checkpoint.load(from: model) }
            let split = try runReporting { try TokenWindows.split("val", of: data) ?? TokenWindows.split("train", of: data) }
            guard let (windows, manifest) = split else { printError("error: \(data) has no shards"); throw ExitCode(1) }
            guard manifest.tokenizer.vocabSize <= gpt.config.vocabSize else {
                printError("error: the shards' vocabulary (\(manifest.tokenizer.vocabSize)) is larger than the model's (\(gpt.config.vocabSize))")
                throw ExitCode(1)
            }
            try checkShardsMatchTokenizer(of: model, manifest: manifest, data: data)
            var options = PretrainOptions()
            options.context = min(context, gpt.config.nPositions)
            options.batch = 8
            options.validationBatches = batches
            let loss = try runReporting { try Pretrainer(model: gpt, options: options, train: windows, validation: nil, directory: model).evaluate(windows) }
            if json { print(String(format: "{\"loss\":%.6f,\"perplexity\":%.4f}", loss, Foundation.exp(loss))) }
            else { print(String(format: "loss %.4f, perplexity %.2f (%d windows of %d tokens)", loss, Foundation.exp(loss), batches * 8, options.context)) }
            return
        }
        let classifier = try runReporting { try Classifier.load(from: model) }
        let tokenizer = try loadTokenizer(model + "/tokenizer.json")
        var labels = classifier.labels
        let examples = try runReporting { try readLabelled(data, encoder: BPEEncoder(model: tokenizer), limit: classifier.model.config.nPositions, labels: &labels, fixedLabels: true) }
        guard !examples.isEmpty else { printError("error: \(data) has no examples"); throw ExitCode(1) }
        var options = FineTuneOptions()
        options.batch = 16
        let tuner = FineTuner(classifier: classifier, options: options, directory: model)
        let probabilities = try runReporting { try tuner.probabilities(of: examples) }
        let report = tuner.report(examples, probabilities: probabilities)
        if let predictions {
            try runReporting { try writePredictions(examples, probabilities, labels: labels, to: predictions) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.table(), terminator: "")
        }
    }
}

/// One JSON line per example: its id, true and predicted labels and every label's probability.
func writePredictions(_ examples: [LabelledExample], _ probabilities: [[Float]], labels: [String], to path: String) throws {
    let file = try OutputFile(path: path)
    for (example, p) in zip(examples, probabilities) {
        let record = JSONValue.object([
            ("id", .string(example.id ?? "")),
            ("label", .string(labels[example.label])),
            ("predicted", .string(labels[Classifier.mostLikely(p)])),
            ("probabilities", .object(zip(labels, p).map { ($0, .number(Double($1))) })),
        ])
        try file.write(Array((record.serialized + "\n").utf8))
    }
    try file.commit()
}

/// `quarry gradients`: loss and parameter gradients for one batch, as safetensors in the
/// Hugging Face names (a cross-check aid for scripts/crosscheck-gradients).
struct Gradients: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's loss and gradients for one batch (for comparing with PyTorch).",
        shouldDisplay: false)
    @Option(help: "A model directory.") var model: String
    @Option(help: "Comma-separated token ids, B×(T+1) row by row.") var tokens: String
    @Option(help: "Sequences in the batch.") var batch: Int = 1
    @Option(name: [.short, .long], help: "Output safetensors file.") var out: String
    @Option(help: "Comma-separated target positions (row-major in B×T) that carry no loss, as sft's prompt tokens.") var ignore: String = ""

    func run() throws {
        try runReporting { try BLAS.load() }
        let gpt = try runReporting { try Checkpoint.load(from: model) }
        let ids = tokens.split(separator: ",").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        guard batch >= 1, ids.count % batch == 0, ids.count / batch >= 2 else {
            printError("error: --tokens must hold --batch rows of at least 2 ids")
            throw ExitCode(1)
        }
        let width = ids.count / batch, n = width - 1
        var inputs: [Int32] = [], targets: [Int32] = []
        for b in 0..<batch {
            inputs += ids[(b * width)..<(b * width + n)]
            targets += ids[(b * width + 1)..<(b * width + width)]
        }
        for position in ignore.split(separator: ",").compactMap({ Int($0) }) where targets.indices.contains(position) {
            targets[position] = -1
        }
        gpt.zeroGradients()
        let loss = try runReporting { try gpt.trainingForward(tokens: inputs, targets: targets, B: batch, T: n) }
        try runReporting { try gpt.backward() }
        try runReporting { try Checkpoint.saveGradients(gpt, to: out) }
        print(String(format: "%.9g", loss))
    }
}

extension Finetune {
    /// The checkpoint to start from and its tokenizer, whose vocabulary must fit the model.
    func loadStartingModel() throws -> (GPT<Float>, BPEModel) {
        try runReporting { try BLAS.load(threads: jobs) }
        let model = try runReporting { try Checkpoint.load(from: from) }
        if let dropout { try runReporting { try model.setDropout(dropout) } }
        let tokenizer = try loadTokenizer(from + "/tokenizer.json")
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            printError("error: the tokenizer's vocabulary (\(tokenizer.vocabularySize)) is larger than the model's (\(model.config.vocabSize))")
            throw ExitCode(1)
        }
        return (model, tokenizer)
    }

    /// The training and dev files: the given ones, or with --db the task exported (in `format`)
    /// to a temporary directory, which the caller removes.
    struct DataFiles {
        var train: String
        var dev: String?
        var temporary: String?
        func removeTemporary() { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
    }

    func dataFiles(format: Exporter.Format) throws -> DataFiles {
        guard let db else {
            var isDirectory: ObjCBool = false
            let trainPath = train ?? ""
            guard FileManager.default.fileExists(atPath: trainPath, isDirectory: &isDirectory), isDirectory.boolValue else {
                return DataFiles(train: trainPath, dev: dev)
            }
            // An export in shards: its documents read back as records of the kind this task reads.
            let directory = NSTemporaryDirectory() + "quarry-finetune-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let tokenizer = try loadTokenizer(from + "/tokenizer.json")
            let trainFile = try runReporting { try exportedShardsAsRecords(trainPath, split: "train", tokenizer: tokenizer, format: format, into: directory) }
            var devFile = dev
            if let dev, FileManager.default.fileExists(atPath: dev, isDirectory: &isDirectory), isDirectory.boolValue {
                devFile = try runReporting { try exportedShardsAsRecords(dev, split: "dev", tokenizer: tokenizer, format: format, into: directory) }
            }
            return DataFiles(train: trainFile, dev: devFile, temporary: directory)
        }
        let directory = NSTemporaryDirectory() + "quarry-finetune-" + UUID().uuidString
        let name = ["classify", "sft"].contains(task) ? (train ?? "") : task
        let files = try runReporting { try exportLabelled(db: db, task: name, to: directory, holdOutDev: dev == nil, format: format) }
        return DataFiles(train: files.train, dev: files.dev ?? dev, temporary: directory)
    }

    /// --out, refused when it already holds a fine-tuned model (`marker`), with the tokenizer copied in.
    func prepareOutput(refusingIfExists marker: String) throws {
        if FileManager.default.fileExists(atPath: out + "/" + marker) {
            printError("error: \(out) already holds a fine-tuned model: choose another --out")
            throw ExitCode(1)
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: from + "/tokenizer.json", toPath: out + "/tokenizer.json")
    }

    /// `--task sft`: the assistant-only next-token loss on chat records; the result is a plain
    /// language model (what `generate --chat` and `transformers` load).
    func runSFT() throws {
        let (model, tokenizer) = try loadStartingModel()
        guard let endOfText = tokenizer.id(of: "<|endoftext|>") else {
            printError("error: the tokenizer has no <|endoftext|> token, which ends every assistant turn in sft")
            throw ExitCode(1)
        }
        let encoder = BPEEncoder(model: tokenizer)
        let data = try dataFiles(format: .chat)
        defer { data.removeTemporary() }
        let (trainFile, devFile) = (data.train, data.dev)
        let limit = model.config.nPositions
        var (read, tooLong) = try runReporting {
            try readChats(trainFile, encoder: encoder, endOfText: endOfText, limit: limit, holdingOut: devFile == nil)
        }
        guard !read.kept.isEmpty || !read.heldOut.isEmpty else { printError("error: no chat with an assistant turn to train on in \(trainFile)"); throw ExitCode(1) }
        if let devFile {
            let dev = try runReporting { try readChats(devFile, encoder: encoder, endOfText: endOfText, limit: limit, holdingOut: false) }
            read.heldOut = dev.chats.kept
            tooLong += dev.tooLong
        } else {
            try read.balance(file: trainFile)
        }
        let (trainSet, devSet) = (read.kept, read.heldOut)
        guard !trainSet.isEmpty, !devSet.isEmpty else {
            printError("error: too few chats to hold out a dev set: give at least two, or --dev FILE")
            throw ExitCode(1)
        }
        if tooLong > 0 { printError("warning: \(tooLong) chat(s) left out: their prompt fills the model's context of \(limit) tokens") }
        try prepareOutput(refusingIfExists: "model.safetensors")
        var options = SFTOptions()
        options.epochs = epochs
        options.batch = batch
        options.learningRate = lr ?? options.learningRate
        options.weightDecay = weightDecay
        options.patience = patience
        options.seed = seed
        options.groupByLength = groupByLength
        let trainer = SFTTrainer(model: model, options: options, directory: out)
        printError("sft: \(trainSet.count) train chats, \(devSet.count) dev chats; loss on assistant tokens only")
        let before = try runReporting { try trainer.loss(devSet) }
        printError(String(format: "before: dev loss %.4f", before))
        let progress = ProgressLine(label: "sft", totalBytes: 0)
        trainer.onBatch = { done, total in progress.update(bytes: 0, items: done, total: total) }
        trainer.onEpoch = { epoch, loss, devLoss in
            progress.finish()
            printError(String(format: "epoch %d: train loss %.4f, dev loss %.4f (perplexity %.2f)", epoch, loss, devLoss, Foundation.exp(devLoss)))
        }
        let best = try runReporting { try trainer.run(train: trainSet, dev: devSet, endOfTextID: endOfText) }
        printError(String(format: "best dev loss %.4f; saved in %@ (try: quarry generate --model %@ --chat \"…\")", best, out, out))
    }
}

/// Chat records for `finetune --task sft`: `{"messages": [{"role", "content"}, …]}` (`quarry export
/// --format chat`), or `{"text", "response"}` (a response task's `--format jsonl` export) as one
/// user turn and its answer. Chats with nothing to train inside the context are counted, not kept.
func readChats(_ path: String, encoder: BPEEncoder, endOfText: Int32, limit: Int,
               holdingOut: Bool) throws -> (chats: HeldOutTenth.Split<ChatExample>, tooLong: Int) {
    var examples: [ChatExample] = []
    var texts: [String] = []
    var tooLong = 0
    try forEachJSONLine(path) { json, place in
        var messages: [ChatMessage] = []
        if let list = json["messages"]?.array {
            for item in list {
                guard let roleName = item["role"]?.string, let role = ChatMessage.Role(rawValue: roleName),
                      let content = item["content"]?.string else {
                    throw QuarryError("\(place): each message needs a \"role\" (system, user or assistant) and a string \"content\"")
                }
                messages.append(ChatMessage(role: role, content: content))
            }
        } else if let text = json["text"]?.string, let response = json["response"]?.string {
            messages = [ChatMessage(role: .user, content: text), ChatMessage(role: .assistant, content: response)]
        } else {
            throw QuarryError("\(place): no \"messages\" list (or \"text\" and \"response\"): sft reads chat records, `quarry export --format chat`")
        }
        guard messages.contains(where: { $0.role == .assistant }) else {
            throw QuarryError("\(place): no assistant message: nothing to learn from this chat")
        }
        if let example = ChatExample(messages, encoder: encoder, endOfText: endOfText, limit: limit) {
            examples.append(example)
            texts.append(messages.map(\.content).joined(separator: "\n"))
        } else {
            tooLong += 1
        }
    }
    return (HeldOutTenth.Split(examples, texts: texts, holdingOut: holdingOut), tooLong)
}

/// A `quarry export --format shards` split (each example rendered `TEXT\n\nlabel: LABEL` or
/// `TEXT\n\nresponse: …`) turned back into `{"text", "label"}` or chat records in `directory`.
/// The shards must have been tokenized with the model's tokenizer.
func exportedShardsAsRecords(_ shards: String, split: String, tokenizer: BPEModel, format: Exporter.Format, into directory: String) throws -> String {
    guard let manifest = try Manifest.load(directory: shards) else { throw QuarryError("\(shards)/manifest.json not found: give a JSONL file or a `quarry export --format shards` directory") }
    guard manifest.tokenizer.vocabSize == tokenizer.vocabularySize else {
        throw QuarryError("\(shards) was tokenized with another tokenizer (\(manifest.tokenizer.vocabSize) tokens) than the model's (\(tokenizer.vocabularySize)): export it with --tokenizer RUN/tokenizer.json")
    }
    let documents = try ShardTools.megatronDocuments(directory: shards, split: split)
    guard !documents.isEmpty else { throw QuarryError("\(shards) has no \(split) split") }
    let path = directory + "/\(split)-from-shards.jsonl"
    let file = try OutputFile(path: path)
    for (number, ids) in documents.enumerated() {
        var text = try tokenizer.decode(ids)
        if text.hasSuffix("<|endoftext|>") { text.removeLast("<|endoftext|>".count) }
        let record: JSONValue
        if let cut = text.range(of: "\n\nlabel: ", options: .backwards) {
            let (body, answer) = (String(text[..<cut.lowerBound]), String(text[cut.upperBound...]))
            record = format == .chat
                ? .object([("messages", .array([.object([("role", .string("user")), ("content", .string(body))]),
                                                .object([("role", .string("assistant")), ("content", .string(answer))])]))])
                : .object([("text", .string(body)), ("label", .string(answer))])
        } else if let cut = text.range(of: "\n\nresponse: ", options: .backwards) {
            record = .object([("text", .string(String(text[..<cut.lowerBound]))), ("response", .string(String(text[cut.upperBound...])))])
        } else {
            throw QuarryError("\(shards): \(split) document \(number + 1) has no \"label:\" or \"response:\" part: not a `quarry export --format shards` directory")
        }
        try file.write(Array((record.serialized + "\n").utf8))
    }
    try file.commit()
    return path
}

/// A labelling task's answers as fine-tuning files: `{"text", "label"}` JSONL for classification
/// (single-label tasks only), chat records for sft (any task: the answer is the assistant's turn);
/// train.jsonl in `directory`, and dev.jsonl (a hash-chosen tenth) when `holdOutDev`.
func exportLabelled(db: String, task name: String, to directory: String, holdOutDev: Bool, format: Exporter.Format) throws -> (train: String, dev: String?) {
    guard FileManager.default.fileExists(atPath: db) else { throw QuarryError("\(db) does not exist: give the labels database with --db") }
    let store = try LabelStore(path: db)
    var exporter = Exporter(store: store, task: try store.task(named: name))
    guard format == .chat || (exporter.task.task.kind == .classify && !exporter.task.task.multiLabel) else {
        throw QuarryError("task \"\(name)\" is not a single-label classification task: --task classify needs one label per example")
    }
    exporter.format = format
    exporter.splits = holdOutDev ? [("train", 0.9), ("dev", 0.1)] : [("train", 1), ("unused", 0)]
    let report = try exporter.export(to: directory)
    printError("task \(name): " + report.written.sorted { $0.key > $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
               + (report.disagreements > 0 ? ", \(report.disagreements) left out (annotators disagree; adjudicate with `quarry review`)" : ""))
    let devPath = directory + "/dev.jsonl"
    return (directory + "/train.jsonl", holdOutDev && FileManager.default.fileExists(atPath: devPath) ? devPath : nil)
}
