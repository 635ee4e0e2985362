import ArgumentParser
import Foundation
import QuarryCore
import QuarryPipeline
import QuarryTraining

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
        `quarry export --format chat` writes them, or {"text", "response"}), each rendered in the \
        model's own chat template (ChatML for SmolLM2 and Qwen2, Llama 3's headers), or in \
        `SYSTEM\\n\\nUser: …\\n\\nAssistant: …<|endoftext|>` for a model without one. The epoch with \
        the best dev loss is kept in --out: `quarry generate --model RUN2 --chat --prompt "…"` asks it.

        --lora R trains low-rank adapters on a frozen model, Llama family or GPT-2 (classify or sft), and \
        saves them in PEFT's layout; every command that takes a run takes the adapter run.

        With --db and --labels-task NAME, the examples come straight from a labelling task (its \
        adjudicated answers, else the annotators' agreed ones, as `quarry export` takes them), \
        read in memory. Without --dev, a tenth of the \
        examples is held out for it, chosen by hash with near-duplicate texts kept together (not \
        the file's last tenth: a file sorted by name or label ends unlike the rest; its examples and \
        predictions go to held-out-predictions.jsonl); with --db, the split `quarry export \
        --split` makes.

        Examples:
          quarry export sections --format jsonl --split train=0.8,dev=0.1,test=0.1 --out data/
          quarry finetune --from run1 --train data/train.jsonl --dev data/dev.jsonl --out run2 --epochs 3
          quarry finetune --from run1 --db quarry.db --labels-task sections --out run2
          quarry finetune --from run1 --task sft --train chats.jsonl --out run3 --lr 3e-4
          quarry finetune --from SmolLM2-135M-Instruct.Q4_1.gguf --lora 8 --train data/train.jsonl --out run4
        """)
    @Option(help: "The model to start from: a quarry run, a Hugging Face GPT-2 or Llama-family directory, a .gguf file, or ORG/NAME in the Hugging Face cache.") var from: String
    @Option(parsing: .unconditional, help: "Classify: pool the residual stream after this block (1…layers) instead of the final states, on a frozen Llama-family base (--freeze-base); the second-to-last blocks often probe better.") var layer: Int?
    @Option(parsing: .unconditional, help: "Classify: cut each text to this many tokens (default: the model's context); eval and predictions cut the same.") var maxTokens: Int?
    @Option(parsing: .unconditional, help: "Train low-rank adapters of this rank (LoRA) on the frozen model (Llama family or GPT-2) instead of the whole model; saved in PEFT's layout (adapter_config.json, adapter_model.safetensors). 8 is usual.") var lora: Int?
    @Option(parsing: .unconditional, help: "LoRA's alpha: the adapters are scaled by alpha / rank.") var loraAlpha: Double = 16
    @Option(parsing: .unconditional, help: "Dropout on the adapters' inputs while training.") var loraDropout: Double = 0.05
    @Option(help: "The projections that get adapters: any of q,k,v,o,gate,up,down (GPT-2: q,k,v together are its fused c_attn; no gate).") var loraTargets: String = "q,k,v,o"
    @Flag(help: "With --lora: also write the adapted model with the adapters folded into its weights (OUT/merged, a plain Hugging Face directory); `quarry convert RUN --to hf|gguf` does the same later.") var merge = false
    @Option(help: "Labelled JSONL ({\"text\", \"label\"}; for sft chat records), or a `quarry export --format shards` directory (its train.jsonl records).") var train: String?
    @Option(name: [.short, .long], help: "Where the fine-tuned model goes.") var out: String
    @Option(help: "classify or sft.") var task: String = "classify"
    @Option(help: "Read the labelled examples from this labels database (SQLite), with --labels-task.") var db: String?
    @Option(help: "With --db: the labelling task whose answers to train on.") var labelsTask: String?
    @Option(help: "Dev JSONL, or an export directory whose dev split is used (default: a tenth of the training examples, chosen by hash, near-duplicates kept together).") var dev: String?
    @Option(parsing: .unconditional, help: "Epochs at most.") var epochs: Int = 3
    @Option(parsing: .unconditional, help: "Examples per batch.") var batch: Int = 16
    @Option(parsing: .unconditional, help: "Learning rate of the model (default: 3e-4 for classify, 1e-4 for sft).") var lr: Double?
    @Option(parsing: .unconditional, help: "Learning rate of the head.") var headLr: Double = 1e-3
    @Option(parsing: .unconditional, help: "Layer-wise learning-rate decay (classify), in (0, 1]: block i of L learns at lr × F^(L−i), the embeddings at lr × F^(L+1), so the features nearest the input move least (ELECTRA, BEiT). 1 is off.") var layerDecay: Double = 1
    @Option(parsing: .unconditional, help: "Weight λ of an auxiliary next-token loss on the training texts (classify), added to the classification loss as in GPT-1 (λ = 0.5 there). 0 is off.") var lmWeight: Double = 0
    @Option(parsing: .unconditional, help: "AdamW weight decay.") var weightDecay: Double = 0.01
    @Option(parsing: .unconditional, help: "Dropout while training (default: the model's own, from its config.json).") var dropout: Double?
    @Option(parsing: .unconditional, help: "Word dropout (classify): each token of a training text is left out with this probability, a new choice every epoch, so the classifier cannot rest on a few memorised tokens. 0 is off.") var tokenDropout: Double = 0
    @Option(parsing: .unconditional, help: "Measure and keep an exponential moving average of the weights with this decay (classify; e.g. 0.999, about the last 1,000 steps' weights), not the weights as trained. 0 is off.") var ema: Double = 0
    @Option(help: "How a text's hidden states reach the head: mean (averaged over the text), last (the last token's, as GPT2ForSequenceClassification) or mean-max (the mean and each feature's largest value).") var pooling: String = "mean"
    @Flag(help: "Batch texts of similar lengths together (Hugging Face's group_by_length). Batches are packed without padding, so this no longer saves time; it makes batches less random (lower held-out accuracy on the Debian sections; see reports/journal/2026-11-29-issue6-finetuning-variants.md).") var groupByLength = false
    @Flag(help: "Train the head only.") var freezeBase = false
    @Flag(help: "Weight classes inversely to their frequency.") var classWeights = false
    @Option(parsing: .unconditional, help: "Stop after this many epochs without a better dev macro-F1.") var patience: Int = 2
    @Option(parsing: .unconditional, help: "Seed for the head's initialisation and the data order.") var seed: UInt64 = 1337
    @Option(help: "Learning rates over the run: constant, or linear (a warm-up over the first 6% of the steps, then a fall to zero at the last epoch's end, as BERT fine-tuning and the Hugging Face Trainer).") var schedule: String = "linear"
    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for matrix products.") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    var poolingKind: Classifier.Pooling? {
        switch pooling {
        case "last": return .lastToken
        case "mean-max": return .meanMax
        default: return Classifier.Pooling(rawValue: pooling)
        }
    }

    /// The objective: --task, unless --task holds a labelling task's name (the spelling before
    /// --labels-task: `--db DB --task NAME`), which trains a classifier.
    var kind: String { ["classify", "sft"].contains(task) || db == nil ? task : "classify" }

    /// The labelling task's name with --db: --labels-task, or the older spellings --task NAME and --train NAME.
    var labelsTaskName: String? {
        guard db != nil else { return nil }
        return labelsTask ?? (["classify", "sft"].contains(task) ? train : task)
    }

    var source: FineTuningSource {
        if let db, let name = labelsTaskName { return .labelsTask(db: db, name: name, dev: dev) }
        return .files(train: train ?? "", dev: dev)
    }

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
        if labelsTask != nil && db == nil { throw ValidationError("--labels-task goes with --db PATH (the labels database)") }
        if db == nil && train == nil { throw ValidationError("give --train FILE, or --db PATH with --labels-task NAME (a labelling task)") }
        if db != nil && labelsTaskName == nil { throw ValidationError("with --db, name the labelling task: --labels-task NAME") }
        guard epochs >= 1, batch >= 1, (lr ?? 1) > 0, headLr > 0, patience >= 1, jobs >= 1 else { throw ValidationError("--epochs, --batch, --patience, --jobs ≥ 1 and learning rates > 0") }
        if layer != nil && (!freezeBase || kind != "classify") { throw ValidationError("--layer pools an intermediate block for --task classify on a frozen base: add --freeze-base") }
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if merge && lora == nil { throw ValidationError("--merge folds LoRA adapters into the model: it goes with --lora") }
        if lora != nil {
            do { try loraConfig?.validate() } catch { throw ValidationError("\(error)") }
            if loraConfig == nil { throw ValidationError("--lora-targets takes q,k,v,o,gate,up,down (comma-separated)") }
        }
        guard (lr ?? 1).isFinite, headLr.isFinite, weightDecay.isFinite && weightDecay >= 0 else {
            throw ValidationError("learning rates and --weight-decay (≥ 0) must be finite numbers")
        }
    }

    var loraConfig: LoRAConfig? {
        guard let lora else { return nil }
        let targets = loraTargets.split(separator: ",").map { LoRATarget(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased()) }
        guard targets.allSatisfy({ $0 != nil }) else { return nil }
        return LoRAConfig(rank: lora, alpha: loraAlpha, dropout: loraDropout, targets: targets.compactMap { $0 })
    }

    var classifyOptions: FineTuneOptions {
        var options = FineTuneOptions()
        options.epochs = epochs
        options.batch = batch
        options.learningRate = lr ?? options.learningRate
        options.headLearningRate = headLr
        options.layerDecay = layerDecay
        options.languageModelWeight = lmWeight
        options.weightDecay = weightDecay
        options.freezeBase = freezeBase
        // Beside the run: reruns with another --out (other head settings) reuse the features.
        options.featureCacheDirectory = (((out as NSString).deletingLastPathComponent as String).isEmpty ? "." : (out as NSString).deletingLastPathComponent) + "/.quarry-features"
        options.classWeights = classWeights
        options.patience = patience
        options.seed = seed
        options.groupByLength = groupByLength
        options.schedule = FineTuneSchedule(rawValue: schedule) ?? .constant
        options.tokenDropout = tokenDropout
        options.averageDecay = ema
        return options
    }

    func run() throws {
        if db != nil, labelsTask == nil, let name = labelsTaskName {
            printError("note: the labelling task is named with --labels-task \(name) (--task means classify or sft)")
        }
        try runReporting { try BLAS.load(threads: jobs) }
        let start = try runReporting { try StartingModel(directory: from, dropout: dropout, lora: loraConfig, seed: seed) }
        if kind == "sft" { return try runSFT(start) }
        let limit = min(start.model.contextLength, maxTokens ?? Int.max)
        if let layer, layer > start.model.layerCount || layer < 1 { printError("error: --layer \(layer): the model has blocks 1…\(start.model.layerCount)"); throw ExitCode(1) }
        let (data, labels) = try runReporting { try source.classification(encoder: start.encoder, limit: limit) }
        for note in data.notes { printError(note) }
        try runReporting { try start.prepareOutput(out, refusingIfExists: "labels.json") }
        let classifier = Classifier(model: start.model, labels: labels, seed: seed, pooling: poolingKind ?? .lastToken)
        classifier.layer = layer
        classifier.maxTokens = maxTokens
        let tuner = FineTuner(classifier: classifier, options: classifyOptions, directory: out)
        let progress = ProgressLine(label: "finetune", enabled: progressEnabled())
        tuner.onBatch = { progress.update(done: $0, of: $1) }
        tuner.onNote = { printError($0) }
        let featureProgress = ProgressLine(label: "frozen features (texts)", enabled: progressEnabled())
        tuner.onFeatures = { done, total in
            featureProgress.update(done: done, of: total)
            if done == total { featureProgress.finish() }
        }
        tuner.onEpoch = { epoch, loss, report in
            progress.finish()
            printError(String(format: "epoch %d: train loss %.4f, dev accuracy %.4f, dev macro-F1 %.4f", epoch, loss, report.accuracy, report.macroF1))
        }
        let best = try runReporting { try tuner.run(train: data.train, dev: data.dev, endOfTextID: start.endOfText) }
        printError(String(format: "best dev macro-F1 %.4f (accuracy %.4f); saved in %@", best.macroF1, best.accuracy, out))
        try writeMerged()
        if data.devWasHeldOut {
            // Which examples were held out, and how the kept model did on each: the split is
            // reproducible, but only quarry computes it.
            try runReporting { try PredictionsFile.write(data.dev, tuner.bestDevProbabilities, labels: labels, to: out + "/held-out-predictions.jsonl") }
        }
    }
}
