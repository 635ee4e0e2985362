import Foundation
import GRDB
import Testing
import QuarryCore
@testable import QuarryLabels

func prepareTask(_ dir: String, examples: Int) throws -> String {
    let db = dir + "/q.db"
    let store = try LabelStore(path: db)
    let task = try store.createTask(LabelTask(name: "t", labels: ["a", "b", "c"]))
    write(dir + "/x.jsonl", (0..<examples).map { "{\"text\": \"example number \($0)\"}" }.joined(separator: "\n"))
    _ = try Importer(store: store, task: task).importFile(dir + "/x.jsonl")
    return db
}

func answers(_ db: String, annotator: String) throws -> Int {
    try DatabaseQueue(path: db).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM annotation WHERE annotator = ?", arguments: [annotator]) ?? 0 }
}

@Suite(.serialized) struct TagReliabilityTests {
    @Test func killNineLosesNoAnsweredExample() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try prepareTask(dir, examples: 50)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: QuarryBinary.path)
        process.arguments = ["tag", "t", "--db", db, "--annotator", "alice"]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for i in 1...7 {
            input.fileHandleForWriting.write(Data("\(i % 3 + 1)\n".utf8))
            // The answer is committed before the next example is drawn: wait until it is visible.
            let deadline = Date().addingTimeInterval(10)
            while try answers(db, annotator: "alice") < i && Date() < deadline { usleep(5_000) }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(try answers(db, annotator: "alice") == 7)
        let integrity = try DatabaseQueue(path: db).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
        // The next session resumes at the eighth example.
        let store = try LabelStore(path: db)
        let session = try TaggingSession(store: store, task: try store.task(named: "t"), annotator: "alice")
        #expect(try session.next()?.text == "example number 7")
    }

    @Test func twoAnnotatorsAtOnceLoseNothing() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try prepareTask(dir, examples: 300)
        var runs: [(Process, Pipe)] = []
        for annotator in ["alice", "bob"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: QuarryBinary.path)
            process.arguments = ["tag", "t", "--db", db, "--annotator", annotator]
            let input = Pipe(), errors = Pipe()
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            input.fileHandleForWriting.write(Data(String(repeating: "2\n", count: 300).utf8))
            try input.fileHandleForWriting.close()
            runs.append((process, errors))
        }
        for (process, errors) in runs {
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            #expect(!stderr.contains("locked"), "\(stderr)")
        }
        #expect(try answers(db, annotator: "alice") == 300)
        #expect(try answers(db, annotator: "bob") == 300)
        let duplicates = try DatabaseQueue(path: db).read {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM (SELECT example_id, annotator FROM annotation GROUP BY 1, 2 HAVING count(*) > 1)")
        }
        #expect(duplicates == 0)
    }

    @Test func statsJSONAndExportThroughTheCLI() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try prepareTask(dir, examples: 20)
        _ = try quarry(["tag", "t", "--db", db, "--annotator", "x"], stdin: String(repeating: "1\n", count: 20))
        _ = try quarry(["tag", "t", "--db", db, "--annotator", "y"], stdin: String(repeating: "1\n", count: 10) + String(repeating: "b\n", count: 10))
        let (status, json, _) = try quarry(["stats", "t", "--db", db, "--json"])
        #expect(status == 0)
        let stats = try JSONDecoder().decode(TaskStatistics.self, from: Data(json.utf8))
        #expect(stats.annotated == 20 && stats.disagreements == 10 && stats.agreement?.method == "cohens_kappa")
        #expect(stats.labels == ["a": 30, "b": 10])
        let (adjudicated, _, _) = try quarry(["review", "t", "--db", db, "--adjudicator", "z"], stdin: String(repeating: "c\n", count: 10))
        #expect(adjudicated == 0)
        let (exported, _, _) = try quarry(["export", "t", "--db", db, "--out", dir + "/out.jsonl"])
        #expect(exported == 0)
        let lines = String(decoding: FileManager.default.contents(atPath: dir + "/out.jsonl") ?? Data(), as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 20)
        #expect(lines.filter { $0.contains("\"label\":\"c\"") }.count == 10)   // adjudications win
        let (missing, _, _) = try quarry(["stats", "nope", "--db", db])
        #expect(missing != 0)
    }

    /// Fine-tune straight from the store, then tag with the run's suggestions.
    @Test func modelInTheLoopThroughTheCLI() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/q.db"
        let store = try LabelStore(path: db)
        let task = try store.createTask(LabelTask(name: "t", labels: ["a", "b"]))
        let rows = (0..<40).map { i in i % 2 == 0 ? "{\"text\": \"apples and pears \(i)\", \"label\": \"a\"}" : "{\"text\": \"rivers and lakes \(i)\", \"label\": \"b\"}" }
        write(dir + "/x.jsonl", rows.joined(separator: "\n"))
        _ = try Importer(store: store, task: task).importFile(dir + "/x.jsonl")
        #expect(try quarry(["ingest", dir + "/x.jsonl", "--out", dir + "/shards", "--vocab-size", "300", "--no-quality-filter"]).status == 0)
        #expect(try quarry(["pretrain", "--data", dir + "/shards", "--out", dir + "/run1", "--preset", "tiny", "--steps", "0"]).status == 0)

        #expect(try quarry(["finetune", "--from", dir + "/run1", "--db", db, "--task", "nosuch", "--out", dir + "/bad"]).status != 0)
        let (status, _, _) = try quarry(["finetune", "--from", dir + "/run1", "--db", db, "--task", "t", "--out", dir + "/run2",
                                   "--epochs", "1", "--batch", "8", "--freeze-base"])
        #expect(status == 0)
        let labels = try #require(FileManager.default.contents(atPath: dir + "/run2/labels.json"))
        #expect(Set((try JSONSerialization.jsonObject(with: labels) as? [String]) ?? []) == ["a", "b"])

        // tag --model RUN computes the run's predictions, then enter accepts the suggestion.
        let (tagStatus, shown, _) = try quarry(["tag", "t", "--db", db, "--model", dir + "/run2", "--annotator", "z", "--order", "uncertain"], stdin: "\nq\n")
        #expect(tagStatus == 0)
        #expect(shown.contains("[suggested: "))
        let (predictions, agreeing) = try DatabaseQueue(path: db).read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM prediction WHERE model = 'run2'") ?? 0,
             try Int.fetchOne(db, sql: """
                SELECT count(*) FROM annotation a JOIN prediction p ON p.example_id = a.example_id AND p.model = 'run2'
                WHERE a.annotator = 'z' AND a.label = p.label
                """) ?? 0)
        }
        #expect(predictions == 40)
        #expect(agreeing == 1)

        // sft from the same task: each example becomes a chat whose answer is its label.
        #expect(try quarry(["finetune", "--from", dir + "/run1", "--db", db, "--task", "sft", "--train", "t", "--out", dir + "/run3",
                         "--epochs", "1", "--batch", "8"]).status == 0)
        let (chatStatus, answer, _) = try quarry(["generate", "--model", dir + "/run3", "--chat", "--prompt", "apples and pears 2",
                                            "--max-tokens", "4", "--temperature", "0"])
        #expect(chatStatus == 0 && !answer.contains("User:"))
        #expect(try quarry(["generate", "--model", dir + "/run3", "--system", "x", "--prompt", "y"]).status != 0)
        // An export in shards reads back as the labelled records it was rendered from.
        #expect(try quarry(["export", "t", "--db", db, "--format", "shards", "--tokenizer", dir + "/run1/tokenizer.json",
                         "--split", "train=0.8,dev=0.2", "--out", dir + "/exported"]).status == 0)
        #expect(try quarry(["finetune", "--from", dir + "/run1", "--train", dir + "/exported", "--dev", dir + "/exported",
                         "--out", dir + "/run5", "--epochs", "1", "--batch", "8", "--freeze-base"]).status == 0)
        let shardLabels = try #require(FileManager.default.contents(atPath: dir + "/run5/labels.json"))
        #expect(Set((try JSONSerialization.jsonObject(with: shardLabels) as? [String]) ?? []) == ["a", "b"])
        #expect(try quarry(["finetune", "--from", dir + "/run1", "--train", dir + "/shards", "--out", dir + "/run6"]).status != 0)
        write(dir + "/nochat.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}")
        #expect(try quarry(["finetune", "--from", dir + "/run1", "--task", "sft", "--train", dir + "/nochat.jsonl", "--out", dir + "/run4"]).status != 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/run4/model.safetensors"))
    }

    /// Issue 22, R12-d: a second session of the same annotator on the same task is refused while
    /// the first is alive (both would serve the same examples and overwrite each other's answers).
    @Test func oneSessionPerAnnotatorAndTask() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try prepareTask(dir, examples: 20)
        let first = Process()
        first.executableURL = URL(fileURLWithPath: QuarryBinary.path)
        first.arguments = ["tag", "t", "--db", db, "--annotator", "alice"]
        let input = Pipe()
        first.standardInput = input
        first.standardOutput = FileHandle.nullDevice
        try first.run()
        input.fileHandleForWriting.write(Data("1\n".utf8))
        // The first session is open once its answer is in.
        for _ in 0..<250 where try answers(db, annotator: "alice") == 0 { usleep(20_000) }
        let second = try quarry(["tag", "t", "--db", db, "--annotator", "alice"], stdin: "1\nq\n")
        #expect(second.status == 1 && second.err.contains("already tagging"), "\(second.err)")
        #expect(try quarry(["tag", "t", "--db", db, "--annotator", "bob"], stdin: "1\nq\n").status == 0)
        // Killed, the first session's process is gone: a new session goes ahead.
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let again = try quarry(["tag", "t", "--db", db, "--annotator", "alice"], stdin: "2\nq\n")
        #expect(again.status == 0, "\(again.err)")
        #expect(try answers(db, annotator: "alice") == 2)
    }
}
