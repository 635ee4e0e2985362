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
