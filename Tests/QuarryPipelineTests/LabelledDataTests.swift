import Foundation
import Testing
import QuarryTestSupport
import QuarryCore
import QuarryLabels
@testable import QuarryPipeline
import QuarryShards
import QuarryTokenizer
import QuarryTraining

func scratch() -> String { scratchDirectory() }

/// A byte-level BPE with <|endoftext|>, trained on a few sentences, saved at `path`.
func tinyTokenizer(at path: String) throws -> BPEModel {
    let trainer = BPETrainer(options: .init(vocabularySize: 300, jobs: 1))
    trainer.add((0..<50).map { "item \($0) is a short text about labels and tokens" })
    let model = try trainer.train()
    try TokenizerFile.save(model, to: path)
    return model
}

/// Counts encoded characters: a stand-in encoder for tests that look at data, not ids.
struct CharacterEncoder: TokenEncoder {
    func encode(_ text: String) -> [Int32] { text.unicodeScalars.map { Int32($0.value % 256) } }
}

/// A store with one task whose examples carry imported labels (`labels(n)` for example n).
func taskStore(_ dir: String, multiLabel: Bool = false, count: Int = 60, labels: (Int) -> String) throws -> (LabelStore, LabelStore.StoredTask) {
    let store = try LabelStore(path: dir + "/q.db")
    let task = try store.createTask(LabelTask(name: "t", labels: ["a", "b", "c"], multiLabel: multiLabel, instructions: "Pick"))
    write(dir + "/x.jsonl", (0..<count).map { "{\"text\": \"item \($0) text\", \"id\": \"e\($0)\", \"label\": \(labels($0))}" }.joined(separator: "\n"))
    _ = try Importer(store: store, task: task).importFile(dir + "/x.jsonl")
    return (store, task)
}

@Suite struct LabelledDataTests {
    @Test func theShardsExportIsReadBackWithItsExactLabels() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, task) = try taskStore(dir, multiLabel: true) { $0 % 3 == 0 ? "[\"a\", \"b\"]" : "[\"c\"]" }
        _ = try tinyTokenizer(at: dir + "/tok.json")
        var exporter = Exporter(store: store, task: task)
        exporter.splits = [("train", 0.8), ("dev", 0.2)]
        let report = try LabelledShardsExport(exporter: exporter, tokenizer: ShardTokenizer(path: dir + "/tok.json")).export(to: dir + "/shards")
        #expect(report.written.values.reduce(0, +) == 60)
        #expect(try ShardTools.verify(directory: dir + "/shards").isEmpty)
        // The records beside the shards are the jsonl export, byte for byte.
        exporter.format = .jsonl
        _ = try exporter.export(to: dir + "/jsonl")
        for split in ["train", "dev"] {
            #expect(FileManager.default.contents(atPath: dir + "/shards/\(split).jsonl") == FileManager.default.contents(atPath: dir + "/jsonl/\(split).jsonl"))
        }
        // A multi-label answer comes back as two labels (the sft turn "a, b"), never as one label "a, b".
        let chats = try FineTuningSource.files(train: dir + "/shards", dev: dir + "/shards").chats(encoder: CharacterEncoder(), endOfText: 0, limit: 512)
        #expect(chats.train.count == report.written["train"] && chats.dev.count == report.written["dev"])
        #expect(throws: QuarryError.self) { try FineTuningSource.files(train: dir + "/shards", dev: nil).classification(encoder: CharacterEncoder(), limit: 512) }
        let records = try String(contentsOfFile: dir + "/shards/train.jsonl", encoding: .utf8)
        #expect(records.contains(#""label":["a","b"]"#))
    }

    @Test func aTaskTrainsFromMemoryAsItsExportWould() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, task) = try taskStore(dir) { "\"\(["a", "b", "c"][$0 % 3])\"" }
        // The same task through a jsonl export with the split finetune --db makes.
        var exporter = Exporter(store: store, task: task)
        exporter.splits = [("train", 0.9), ("dev", 0.1)]
        _ = try exporter.export(to: dir + "/e")
        let fromFiles = try FineTuningSource.files(train: dir + "/e/train.jsonl", dev: dir + "/e/dev.jsonl")
            .classification(encoder: CharacterEncoder(), limit: 512)
        let inMemory = try FineTuningSource.labelsTask(db: dir + "/q.db", name: "t", dev: nil).classification(encoder: CharacterEncoder(), limit: 512)
        #expect(inMemory.labels == fromFiles.labels)
        #expect(inMemory.set.train.map(\.tokens) == fromFiles.set.train.map(\.tokens))
        #expect(inMemory.set.train.map(\.label) == fromFiles.set.train.map(\.label))
        #expect(inMemory.set.dev.map(\.tokens) == fromFiles.set.dev.map(\.tokens))
        #expect(inMemory.set.train.map(\.id) == fromFiles.set.train.map(\.id), "ids are the records' own")
        #expect(inMemory.set.notes.first?.hasPrefix("task t: ") == true)
        // A multi-label task cannot train a single-label classifier.
        let other = scratch()
        defer { try? FileManager.default.removeItem(atPath: other) }
        _ = try taskStore(other, multiLabel: true) { _ in "[\"a\"]" }
        #expect(throws: QuarryError.self) {
            try FineTuningSource.labelsTask(db: other + "/q.db", name: "t", dev: nil).classification(encoder: CharacterEncoder(), limit: 512)
        }
    }

    @Test func fineTuningsTenthCutsOtherBitsThanTheExportSplit() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, task) = try taskStore(dir, count: 200) { "\"\($0 % 2 == 0 ? "a" : "b")\"" }
        var exporter = Exporter(store: store, task: task)
        exporter.splits = try Exporter.parseSplits("train=0.8,dev=0.1,test=0.1")
        let report = try exporter.export(to: dir + "/e1")
        let train = report.written["train"] ?? 0
        // A train split still has about a tenth to hold out, spread over the file, not its end.
        let trainTexts = String(decoding: FileManager.default.contents(atPath: dir + "/e1/train.jsonl") ?? Data(), as: UTF8.self)
            .split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }.compactMap { $0["text"] }
        #expect(trainTexts.count == train)
        let heldOut = HeldOutTenth(trainTexts).isHeldOut.filter { $0 }
        #expect(heldOut.count >= train / 20 && heldOut.count <= train / 5, "\(heldOut.count) of \(train)")
        let documents = HeldOutTenth((0..<1000).map { "document \($0)" })
        let positions = (0..<1000).filter { documents.isHeldOut[$0] }
        #expect(positions.count > 70 && positions.count < 130 && (positions.first ?? 1000) < 100 && (positions.last ?? 0) > 900)
    }
}
