import Foundation
import Testing
import QuarryCore
import QuarryTokenizer
import QuarryTraining

/// `generate`, `logits` and `tokenizer encode` on GGUF models.
struct ModelCommandTests {
    /// A random Llama GGUF with a byte-level tokenizer (eos: byte "!"), written by the test.
    static func tinyModel(in scratch: ScratchDirectory, pre: String = "smollm") throws -> String {
        var writer = GGUFWriter()
        let tokens = (0..<256).map { String(ByteLevelAlphabet.characters[$0]) }
        writer.set("general.architecture", .string("llama"))
        for (key, value) in [("block_count", 1), ("context_length", 64), ("embedding_length", 8), ("feed_forward_length", 12),
                             ("attention.head_count", 2), ("attention.head_count_kv", 1)] {
            writer.set("llama.\(key)", .unsigned(UInt64(value)))
        }
        writer.set("tokenizer.ggml.model", .string("gpt2"))
        writer.set("tokenizer.ggml.pre", .string(pre))
        writer.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
        writer.set("tokenizer.ggml.merges", .array([]))
        writer.set("tokenizer.ggml.eos_token_id", .unsigned(33))
        let config = LlamaConfig(vocabSize: 256, nLayer: 1, nHead: 2, nKVHead: 1, nEmbd: 8, intermediateSize: 12, nPositions: 64)
        var rng = SplitMix64(seed: 3)
        for (tensor, layer, shape, _) in config.namedTensors {
            writer.add(tensor.ggufName(layer: layer), shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in Float(rng.uniform() * 2 - 1) })
        }
        let path = scratch.path + "/tiny-\(pre).gguf"
        try writer.write(to: path)
        return path
    }

    @Test func generateIdsFromAGGUFModelAreItsGreedyTokens() throws {
        let scratch = ScratchDirectory()
        let model = try Self.tinyModel(in: scratch)
        let run = try quarry(["generate", "--model", model, "--prompt", "ab", "--temperature", "0", "--max-tokens", "6", "--ids"])
        #expect(run.status == 0, "\(run.err)")
        let ids = run.out.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        // The same model in this process, fed the prompt and then each greedy choice.
        try BLAS.load(threads: 1)
        let generator = LlamaGenerator(model: try LlamaGGUF.load(GGUFFile(path: model)))
        var expected: [Int32] = []
        for id: Int32 in [0x61, 0x62] { try generator.feed(id) }   // "a", "b": token i is byte i
        var rng = SplitMix64(seed: 1)
        while expected.count < 6 {
            let next = generator.sample(temperature: 0, topK: 0, rng: &rng)
            if next == 33 { break }
            expected.append(next)
            try generator.feed(next)
        }
        #expect(ids == expected)
        let logits = try quarry(["logits", "--model", model, "--tokens", "64,65"])
        #expect(logits.status == 0 && logits.out.split(separator: ",").count == 2 * 256)
    }

    /// ORG/NAME from the Hugging Face cache (HF_HUB_CACHE), resolved through refs/main.
    @Test func aModelNamedByItsHubNameIsFoundInTheCache() throws {
        let scratch = ScratchDirectory()
        let model = try Self.tinyModel(in: scratch)
        let commit = String(repeating: "ab", count: 20)
        let repository = scratch.path + "/hub/models--Org--Tiny"
        try FileManager.default.createDirectory(atPath: repository + "/snapshots/" + commit, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repository + "/refs", withIntermediateDirectories: true)
        _ = scratch.write("hub/models--Org--Tiny/refs/main", commit + "\n")
        try FileManager.default.createSymbolicLink(atPath: repository + "/snapshots/\(commit)/tiny.gguf", withDestinationPath: model)
        let direct = try quarry(["generate", "--model", model, "--prompt", "ab", "--temperature", "0", "--max-tokens", "3", "--ids"])
        let named = try quarry(["generate", "--model", "Org/Tiny", "--prompt", "ab", "--temperature", "0", "--max-tokens", "3", "--ids"],
                               environment: ["HF_HUB_CACHE": scratch.path + "/hub"])
        #expect(named.status == 0 && named.out == direct.out, "\(named.err)")
        let missing = try quarry(["generate", "--model", "Org/Absent", "--prompt", "ab"], environment: ["HF_HUB_CACHE": scratch.path + "/hub"])
        #expect(missing.status == 1 && missing.err.contains("no such model in the Hugging Face cache") && missing.err.contains("quarry pull Org/Absent"))
        // pull, offline: the cached snapshot, or why there is none.
        let offline = ["HF_HUB_CACHE": scratch.path + "/hub", "HF_HUB_OFFLINE": "1"]
        let cached = try quarry(["pull", "Org/Tiny"], environment: offline)
        #expect(cached.status == 0 && cached.out == repository + "/snapshots/\(commit)\n", "\(cached.err)")
        let absent = try quarry(["pull", "Org/Absent"], environment: offline)
        #expect(absent.status == 1 && absent.err.contains("HF_HUB_OFFLINE is set"))
    }

    /// pretrain continues a pre-trained Llama (here a GGUF) on shards made with its tokenizer,
    /// into a run generate reads; shards of another tokenizer are refused; llama-tiny starts anew.
    @Test func pretrainContinuesAGGUFModelOnShardsOfItsTokenizer() throws {
        let scratch = ScratchDirectory()
        let model = try Self.tinyModel(in: scratch)
        let ingest = try quarry(["ingest", TestPaths.sample("text"), "--tokenizer", model, "--no-quality-filter", "--val-fraction", "0.1",
                                 "--out", scratch.path + "/shards", "-q"])
        #expect(ingest.status == 0, "\(ingest.err)")
        let steps = ["--steps", "2", "--batch", "2", "--context", "32", "--val-every", "0", "-q"]
        let run = try quarry(["pretrain", "--data", scratch.path + "/shards", "--init-from", model, "--out", scratch.path + "/run"] + steps)
        #expect(run.status == 0, "\(run.err)")
        let generated = try quarry(["generate", "--model", scratch.path + "/run", "--prompt", "ab", "--temperature", "0", "--max-tokens", "3", "--ids"])
        #expect(generated.status == 0 && !generated.out.isEmpty, "\(generated.err)")
        let config = try String(contentsOfFile: scratch.path + "/run/config.json", encoding: .utf8)
        #expect(config.contains("LlamaForCausalLM") && config.contains("\"num_key_value_heads\": 1"))

        // The same vocabulary split differently (GPT-2's pattern keeps digits together): other ids.
        let otherTokenizer = try Self.tinyModel(in: scratch, pre: "gpt-2")
        let other = try quarry(["ingest", TestPaths.sample("text"), "--tokenizer", otherTokenizer, "--no-quality-filter", "--out", scratch.path + "/other", "-q"])
        #expect(other.status == 0, "\(other.err)")
        let refused = try quarry(["pretrain", "--data", scratch.path + "/other", "--init-from", model, "--out", scratch.path + "/run2"] + steps)
        #expect(refused.status == 1 && refused.err.contains("re-ingest them with --tokenizer"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/run2/model.safetensors"))

        let fresh = try quarry(["pretrain", "--data", scratch.path + "/other", "--preset", "llama-tiny", "--out", scratch.path + "/run3"] + steps)
        #expect(fresh.status == 0, "\(fresh.err)")
        #expect(try String(contentsOfFile: scratch.path + "/run3/config.json", encoding: .utf8).contains("\"hidden_size\": 256"))

        // --random-weights: the model's shape and tokenizer, new weights drawn from the seed.
        let noSteps = ["--steps", "0", "--batch", "2", "--context", "32", "--val-every", "0", "-q"]
        for (name, extra) in [("copy", [String]()), ("random-a", ["--random-weights"]), ("random-b", ["--random-weights"])] {
            let made = try quarry(["pretrain", "--data", scratch.path + "/shards", "--init-from", model, "--out", scratch.path + "/" + name] + extra + noSteps)
            #expect(made.status == 0, "\(made.err)")
        }
        let file = { (run: String, name: String) in FileManager.default.contents(atPath: scratch.path + "/\(run)/\(name)") }
        #expect(file("random-a", "config.json") != nil && file("random-a", "config.json") == file("copy", "config.json"))
        #expect(file("random-a", "tokenizer.json") != nil && file("random-a", "tokenizer.json") == file("copy", "tokenizer.json"))
        #expect(file("random-a", "model.safetensors") != file("copy", "model.safetensors"))
        #expect(file("random-a", "model.safetensors") == file("random-b", "model.safetensors"), "the same seed draws the same weights")
        let unnamed = try quarry(["pretrain", "--data", scratch.path + "/shards", "--random-weights", "--out", scratch.path + "/run4"] + noSteps)
        #expect(unnamed.status != 0 && unnamed.err.contains("--init-from"), "\(unnamed.err)")
    }

    /// finetune starts from a pre-trained Llama (here a GGUF): a classifier and a chat model,
    /// each a run directory that eval and generate read.
    @Test func finetuneStartsFromAGGUFModel() throws {
        let scratch = ScratchDirectory()
        let model = try Self.tinyModel(in: scratch)
        let labelled = (0..<24).map { "{\"text\": \"\($0 % 2 == 0 ? "granite and basalt" : "the old quarry road") \($0)\", \"label\": \"\($0 % 2 == 0 ? "rock" : "place")\"}" }
        let train = scratch.write("train.jsonl", labelled.joined(separator: "\n") + "\n")
        let classify = try quarry(["finetune", "--from", model, "--train", train, "--out", scratch.path + "/cls", "--epochs", "2", "--batch", "4"])
        #expect(classify.status == 0, "\(classify.err)")
        let evaluated = try quarry(["eval", "--model", scratch.path + "/cls", "--data", train])
        #expect(evaluated.status == 0 && evaluated.out.contains("accuracy"), "\(evaluated.err)")
        #expect(FileManager.default.fileExists(atPath: scratch.path + "/cls/tokenizer.json"))

        let chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"ab\"}, {\"role\": \"assistant\", \"content\": \"cd\"}]}"
        let chats = scratch.write("chats.jsonl", [String](repeating: chat, count: 12).joined(separator: "\n") + "\n")
        let sft = try quarry(["finetune", "--task", "sft", "--from", model, "--train", chats, "--out", scratch.path + "/sft", "--epochs", "1", "--batch", "4"])
        #expect(sft.status == 0, "\(sft.err)")
        let answer = try quarry(["generate", "--model", scratch.path + "/sft", "--chat", "--prompt", "ab", "--max-tokens", "3", "--temperature", "0"])
        #expect(answer.status == 0 && !answer.err.contains("warning"), "\(answer.err)")
        let dropout = try quarry(["finetune", "--from", model, "--train", train, "--out", scratch.path + "/d", "--dropout", "0.1"])
        #expect(dropout.status == 1 && dropout.err.contains("no dropout"))
    }

    /// finetune --lora: adapters in PEFT's layout on a frozen GGUF base; eval and generate take the
    /// adapter run (its base from adapter_config.json); a missing base is refused.
    @Test func loraFineTunesAFrozenBase() throws {
        let scratch = ScratchDirectory()
        let model = try Self.tinyModel(in: scratch)
        let labelled = (0..<24).map { "{\"text\": \"\($0 % 2 == 0 ? "granite and basalt" : "the old quarry road") \($0)\", \"label\": \"\($0 % 2 == 0 ? "rock" : "place")\"}" }
        let train = scratch.write("train.jsonl", labelled.joined(separator: "\n") + "\n")
        let run = try quarry(["finetune", "--from", model, "--lora", "4", "--lora-targets", "q,v,down", "--train", train, "--out", scratch.path + "/cls",
                              "--epochs", "2", "--batch", "4"])
        #expect(run.status == 0, "\(run.err)")
        let files = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cls")
        #expect(files.contains("adapter_config.json") && files.contains("adapter_model.safetensors") && !files.contains("model.safetensors"))
        let config = try String(contentsOfFile: scratch.path + "/cls/adapter_config.json", encoding: .utf8)
        #expect(config.contains("\"peft_type\":\"LORA\"") && config.contains("\"r\":4") && config.contains("down_proj") && config.contains(model))
        let evaluated = try quarry(["eval", "--model", scratch.path + "/cls", "--data", train])
        #expect(evaluated.status == 0 && evaluated.out.contains("accuracy"), "\(evaluated.err)")

        let chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"ab\"}, {\"role\": \"assistant\", \"content\": \"cd\"}]}"
        let chats = scratch.write("chats.jsonl", [String](repeating: chat, count: 12).joined(separator: "\n") + "\n")
        let sft = try quarry(["finetune", "--task", "sft", "--from", model, "--lora", "4", "--train", chats, "--out", scratch.path + "/sft", "--epochs", "1", "--batch", "4", "--merge"])
        #expect(sft.status == 0, "\(sft.err)")
        #expect(FileManager.default.fileExists(atPath: scratch.path + "/sft/merged/model.safetensors"))
        let answer = try quarry(["generate", "--model", scratch.path + "/sft", "--prompt", "ab", "--max-tokens", "3", "--temperature", "0", "--ids"])
        #expect(answer.status == 0 && !answer.out.isEmpty, "\(answer.err)")
        // Folded in (convert, as --merge does): a plain model with the adapted model's logits.
        let converted = try quarry(["convert", scratch.path + "/sft", "--to", "hf", "--out", scratch.path + "/merged"])
        #expect(converted.status == 0, "\(converted.err)")
        let adapted = try quarry(["logits", "--model", scratch.path + "/sft", "--tokens", "97,98,99"])
        let plain = try quarry(["logits", "--model", scratch.path + "/merged", "--tokens", "97,98,99"])
        let a = adapted.out.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "[] \n"))) }
        let b = plain.out.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "[] \n"))) }
        #expect(a.count == 3 * 256 && b.count == a.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-4 }, "\(plain.err)")

        let gpt = try quarry(["finetune", "--from", scratch.path + "/nowhere", "--lora", "4", "--train", train, "--out", scratch.path + "/x"])
        #expect(gpt.status == 1)
        let badTarget = try quarry(["finetune", "--from", model, "--lora", "4", "--lora-targets", "q,z", "--train", train, "--out", scratch.path + "/y"])
        #expect(badTarget.status != 0 && badTarget.err.contains("lora-targets"))
    }

    /// --freeze-base: features computed once and kept beside the run; a rerun with another --out
    /// reads them all back and trains the same head.
    @Test func aFrozenBaseComputesEachTextsFeaturesOnce() throws {
        let scratch = ScratchDirectory()
        let model = try Self.tinyModel(in: scratch)
        let labelled = (0..<24).map { "{\"text\": \"\($0 % 2 == 0 ? "granite and basalt" : "the old quarry road") \($0)\", \"label\": \"\($0 % 2 == 0 ? "rock" : "place")\"}" }
        let train = scratch.write("train.jsonl", labelled.joined(separator: "\n") + "\n")
        let flags = ["finetune", "--from", model, "--freeze-base", "--train", train, "--epochs", "3", "--batch", "4", "--head-lr", "1e-2"]
        let first = try quarry(flags + ["--out", scratch.path + "/runs/a"])
        #expect(first.status == 0 && first.err.contains("features of 24 texts computed, 0 read"), "\(first.err)")
        let second = try quarry(flags + ["--out", scratch.path + "/runs/b"])
        #expect(second.status == 0 && second.err.contains("features of 0 texts computed, 24 read"), "\(second.err)")
        let metrics = { (run: String) in try String(contentsOfFile: scratch.path + "/runs/\(run)/metrics.jsonl", encoding: .utf8) }
        #expect(try metrics("a") == metrics("b"))
        // Another block and a token limit: other features, computed (cut to 6 byte tokens, the 24
        // texts are two: "granit" and "the ol"), kept with the run for eval.
        let probe = try quarry(flags + ["--layer", "1", "--max-tokens", "6", "--out", scratch.path + "/runs/c"])
        #expect(probe.status == 0 && probe.err.contains("features of 2 texts computed, 22 read"), "\(probe.err)")
        let metadata = try SafeTensors.metadata(scratch.path + "/runs/c/classifier.safetensors")
        #expect(metadata["layer"] == "1" && metadata["max_tokens"] == "6")
        #expect(try quarry(["eval", "--model", scratch.path + "/runs/c", "--data", train]).status == 0)
        let beyond = try quarry(flags + ["--layer", "2", "--out", scratch.path + "/runs/d"])
        #expect(beyond.status == 1 && beyond.err.contains("blocks 1…1"))
        let unfrozen = try quarry(["finetune", "--from", model, "--layer", "1", "--train", train, "--out", scratch.path + "/runs/e"])
        #expect(unfrozen.status != 0 && unfrozen.err.contains("--freeze-base"))
    }

    @Test func tokenizerEncodeTakesAGGUFFile() throws {
        let scratch = ScratchDirectory()
        let model = try Self.tinyModel(in: scratch)
        let run = try quarry(["tokenizer", "encode", "--tokenizer", model], stdin: "a1\n")
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "97 49\n")
    }

    @Test func aBrokenGGUFIsOneLine() throws {
        let scratch = ScratchDirectory()
        let model = try Self.tinyModel(in: scratch)
        let bytes = try #require(FileManager.default.contents(atPath: model))
        let cut = scratch.write("cut.gguf", Array(bytes.prefix(bytes.count - 100)))
        let run = try quarry(["generate", "--model", cut, "--prompt", "ab"])
        #expect(run.status == 1)
        #expect(run.err.contains("truncated or damaged") || run.err.contains("not within the file"))
        #expect(run.err.split(separator: "\n").count == 1)
    }

    /// The real SmolLM2-135M-Instruct (skipped unless `scripts/fetch-models` fetched it):
    /// transformers' greedy answer in the model's own chat template, stopping at <|im_end|>.
    @Test func smolLM2AnswersLikeTransformers() throws {
        guard let path = TestPaths.model(TestPaths.smolLM2) else { return }
        let run = try quarry(["generate", "--model", path, "--chat", "--prompt", "What is the capital of France?",
                              "--temperature", "0", "--max-tokens", "30"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "The capital of France is Paris.\n")
    }
}

/// `quarry convert`: a GGUF model as a Hugging Face directory that quarry (and transformers,
/// scripts/crosscheck-llama-checkpoints) reads with the same logits.
struct ConvertCommandTests {
    @Test func aGGUFModelBecomesAHuggingFaceDirectoryWithTheSameLogits() throws {
        let scratch = ScratchDirectory()
        let model = try ModelCommandTests.tinyModel(in: scratch)
        let out = scratch.path + "/hf"
        let run = try quarry(["convert", model, "--to", "hf", "--out", out])
        #expect(run.status == 0, "\(run.err)")
        for file in ["config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        let fromGGUF = try quarry(["logits", "--model", model, "--tokens", "97,98,99"]).out
        let fromDirectory = try quarry(["logits", "--model", out, "--tokens", "97,98,99"]).out
        #expect(!fromGGUF.isEmpty && fromGGUF == fromDirectory)
        let generated = try quarry(["generate", "--model", out, "--prompt", "ab", "--temperature", "0", "--max-tokens", "4", "--ids"])
        let original = try quarry(["generate", "--model", model, "--prompt", "ab", "--temperature", "0", "--max-tokens", "4", "--ids"])
        #expect(generated.status == 0 && generated.out == original.out)
        // Back to GGUF: F32 is the same model, Q8_0 within its rounding; llama.cpp's Q/K layout
        // is written back (the logits would differ otherwise).
        let f32 = scratch.path + "/back.gguf", q8 = scratch.path + "/back-q8.gguf"
        #expect(try quarry(["convert", out, "--to", "gguf", "--out", f32]).status == 0)
        #expect(try quarry(["logits", "--model", f32, "--tokens", "97,98,99"]).out == fromGGUF)
        #expect(try quarry(["convert", out, "--to", "gguf", "--dtype", "q8_0", "--out", q8]).status == 0)
        let exact = try JSONValue.parse(Array(fromGGUF.utf8)).array?.compactMap(\.number) ?? []
        let rounded = try JSONValue.parse(Array(try quarry(["logits", "--model", q8, "--tokens", "97,98,99"]).out.utf8)).array?.compactMap(\.number) ?? []
        #expect(exact.count == rounded.count && !exact.isEmpty)
        #expect(zip(exact, rounded).allSatisfy { abs($0 - $1) < 0.05 * max(1, abs($0)) })
        // The directory exists now: refused, and nothing in it is touched.
        let again = try quarry(["convert", model, "--to", "hf", "--out", out])
        #expect(again.status == 1 && again.err.contains("already exists"))
        let wrong = try quarry(["convert", model, "--to", "onnx", "--out", scratch.path + "/x"])
        #expect(wrong.status != 0 && wrong.err.contains("--to onnx is not supported"))
        let dtype = try quarry(["convert", model, "--to", "gguf", "--dtype", "bf16", "--out", scratch.path + "/x.gguf"])
        #expect(dtype.status != 0 && dtype.err.contains("--dtype bf16 is not supported with --to gguf"))
    }
}
