import Foundation
import Testing

/// `quarry finetune` from a labelling task: --labels-task, the older spellings, and the shards
/// export read back with its exact labels.
@Suite(.serialized) struct FinetuneCommandTests {
    /// A labels database with task "t" (two labels, 40 labelled examples) and a 0-step model.
    static func prepare(_ dir: String) throws {
        let rows = (0..<40).map { i in i % 2 == 0 ? "{\"text\": \"apples and pears \(i)\", \"label\": \"a\"}" : "{\"text\": \"rivers and lakes \(i)\", \"label\": \"b\"}" }
        write(dir + "/x.jsonl", rows.joined(separator: "\n"))
        for args in [["task", "create", "t", "--labels", "a,b", "--db", dir + "/q.db"],
                     ["import", "t", dir + "/x.jsonl", "--db", dir + "/q.db"],
                     ["ingest", dir + "/x.jsonl", "--out", dir + "/shards", "--vocab-size", "300", "--no-quality-filter", "--quiet"],
                     ["pretrain", "--data", dir + "/shards", "--out", dir + "/run1", "--steps", "0", "--quiet"]] {
            let result = try quarry(args)
            try #require(result.status == 0, "quarry \(args.joined(separator: " ")): \(result.err)")
        }
    }

    @Test func labelsTaskNamesTheTaskAndTheOldSpellingStillWorks() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.prepare(dir)
        let common = ["--from", dir + "/run1", "--db", dir + "/q.db", "--epochs", "1", "--batch", "8", "--freeze-base"]
        let named = try quarry(["finetune"] + common + ["--labels-task", "t", "--out", dir + "/a"])
        #expect(named.status == 0, "\(named.err)")
        #expect(named.err.contains("task t: ") && !named.err.contains("note:"))
        let old = try quarry(["finetune"] + common + ["--task", "t", "--out", dir + "/b"])
        #expect(old.status == 0 && old.err.contains("note: the labelling task is named with --labels-task t"))
        // The same examples, split the same way, train the same head.
        #expect(FileManager.default.contents(atPath: dir + "/a/classifier.safetensors") == FileManager.default.contents(atPath: dir + "/b/classifier.safetensors"))
        let orphan = try quarry(["finetune", "--from", dir + "/run1", "--labels-task", "t", "--out", dir + "/c"])
        #expect(orphan.status != 0 && orphan.err.contains("--labels-task goes with --db"))
        let missing = try quarry(["finetune"] + common + ["--labels-task", "nosuch", "--out", dir + "/d"])
        #expect(missing.status == 1 && missing.err.contains("nosuch"))
    }

    /// finetune --lora on a GPT-2 run: adapters on its fused c_attn and c_proj in PEFT's layout
    /// (fan_in_fan_out, as PEFT sets for Conv1D); eval reads the adapter run; sft with --merge
    /// writes a plain model whose logits are the adapted model's; a gate projection is refused.
    @Test func loraFineTunesAFrozenGPT2() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.prepare(dir)
        let run = try quarry(["finetune", "--from", dir + "/run1", "--train", dir + "/x.jsonl", "--lora", "4", "--out", dir + "/cls", "--epochs", "2", "--batch", "8"])
        #expect(run.status == 0, "\(run.err)")
        let config = try String(contentsOfFile: dir + "/cls/adapter_config.json", encoding: .utf8)
        #expect(config.contains("\"c_attn\"") && config.contains("\"attn.c_proj\"") && config.contains("\"fan_in_fan_out\":true"), "\(config)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/cls/model.safetensors"))
        let evaluated = try quarry(["eval", "--model", dir + "/cls", "--data", dir + "/x.jsonl", "--json"])
        #expect(evaluated.status == 0 && evaluated.out.contains("accuracy"), "\(evaluated.err)")

        let chats = (0..<12).map { "{\"messages\": [{\"role\": \"user\", \"content\": \"apples \($0)\"}, {\"role\": \"assistant\", \"content\": \"pears\"}]}" }
        write(dir + "/chats.jsonl", chats.joined(separator: "\n"))
        let sft = try quarry(["finetune", "--task", "sft", "--from", dir + "/run1", "--train", dir + "/chats.jsonl", "--lora", "4",
                              "--lora-targets", "q,k,v,o,up,down", "--lora-alpha", "64", "--lr", "0.05", "--out", dir + "/sft", "--epochs", "1", "--batch", "4", "--merge"])
        #expect(sft.status == 0, "\(sft.err)")
        let adapted = try quarry(["logits", "--model", dir + "/sft", "--tokens", "5,6,7"])
        let merged = try quarry(["logits", "--model", dir + "/sft/merged", "--tokens", "5,6,7"])
        let base = try quarry(["logits", "--model", dir + "/run1", "--tokens", "5,6,7"])
        let numbers = { (out: String) in out.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "[] \n"))) } }
        let (a, m, b) = (numbers(adapted.out), numbers(merged.out), numbers(base.out))
        #expect(!a.isEmpty && a.count == m.count && zip(a, m).allSatisfy { abs($0 - $1) < 1e-4 }, "\(adapted.err) \(merged.err)")
        #expect(a.count == b.count && zip(a, b).contains { abs($0 - $1) > 1e-4 }, "the adapters changed the model")
        let gate = try quarry(["finetune", "--from", dir + "/run1", "--train", dir + "/x.jsonl", "--lora", "4", "--lora-targets", "gate", "--out", dir + "/g"])
        #expect(gate.status == 1 && gate.err.contains("no gate"), "\(gate.err)")
    }

    @Test func aShardsExportFineTunesWithItsRecordsLabels() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.prepare(dir)
        let export = try quarry(["export", "t", "--db", dir + "/q.db", "--format", "shards", "--tokenizer", dir + "/run1/tokenizer.json",
                                           "--split", "train=0.8,dev=0.2", "--out", dir + "/exported"])
        #expect(export.status == 0, "\(export.err)")
        for split in ["train", "dev"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/exported/\(split).jsonl"), "the records of \(split) beside its shards")
        }
        #expect(try quarry(["shards", "verify", dir + "/exported"]).status == 0)
        let tuned = try quarry(["finetune", "--from", dir + "/run1", "--train", dir + "/exported", "--dev", dir + "/exported",
                                          "--out", dir + "/run2", "--epochs", "1", "--batch", "8", "--freeze-base"])
        #expect(tuned.status == 0, "\(tuned.err)")
        // An ingest directory is not an export: refused with a message that says what to give.
        let ingest = try quarry(["finetune", "--from", dir + "/run1", "--train", dir + "/shards", "--out", dir + "/run3"])
        #expect(ingest.status == 1 && ingest.err.contains("not a `quarry export --format shards` directory"))
    }
}
