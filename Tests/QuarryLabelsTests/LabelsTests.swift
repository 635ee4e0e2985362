import Foundation
import Testing
import QuarryTestSupport
@testable import QuarryCore
@testable import QuarryLabels

func scratch() -> String { scratchDirectory() }

@Suite struct AgreementTests {
    @Test func cohensKappaKnownAnswer() {
        // 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 → p_o 0.7, p_e 0.5, κ 0.4.
        var pairs: [(String, String)] = []
        pairs += Array(repeating: ("yes", "yes"), count: 20)
        pairs += Array(repeating: ("yes", "no"), count: 5)
        pairs += Array(repeating: ("no", "yes"), count: 10)
        pairs += Array(repeating: ("no", "no"), count: 15)
        #expect(abs((Agreement.cohensKappa(pairs) ?? 0) - 0.4) < 1e-9)
        #expect(Agreement.cohensKappa(Array(repeating: ("a", "a"), count: 5)) == nil) // all one label: undefined
    }

    @Test func krippendorffsAlphaKnownAnswer() {
        // Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example:
        // 4 coders, 12 units, missing values; α = 0.743.
        let a: [Int?] = [1, 2, 3, 3, 2, 1, 4, 1, 2, nil, nil, nil]
        let b: [Int?] = [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nil, 3]
        let c: [Int?] = [nil, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nil]
        let d: [Int?] = [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nil]
        let units = (0..<12).map { i in [a[i], b[i], c[i], d[i]].compactMap { $0.map(String.init) } }
        #expect(abs((Agreement.krippendorffsAlpha(units) ?? 0) - 0.743) < 0.0005)
        // Perfect agreement is 1.
        #expect(Agreement.krippendorffsAlpha([["x", "x"], ["y", "y", "y"]]) == 1)
    }
}

@Suite struct SafeTextTests {
    @Test func escapesAndBidiAreMadeVisible() {
        let hostile = "ok\u{1B}[2J\u{7}\u{202E}txt\u{85}end\ttab"
        let shown = SafeText.visible(hostile)
        #expect(!shown.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E || $0.value == 0x85 })
        #expect(shown == "ok\u{241B}[2J\u{2407}<U+202E>txt<U+85>end    tab")
        #expect(SafeText.wrap("aaaa bbbb cccc", width: 10) == ["aaaa bbbb", "cccc"])
    }
}

@Suite struct StoreTests {
    @Test func importDeduplicatesAndKeepsLabels() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LabelStore(path: dir + "/q.db")
        let task = try store.createTask(LabelTask(name: "t", labels: ["pos", "neg"]))
        write(dir + "/a.jsonl", """
            {"id": "1", "text": "good stone", "label": "pos", "meta": {"k": 1}}
            {"text": "bad stone", "label": "neg"}
            {"text": "good stone", "label": "pos"}
            not json
            {"text": "odd", "label": "other"}
            """)
        write(dir + "/b.csv", "id,text,label,extra\n7,\"quoted, with comma\",neg,x\n8,\"two\nlines\",,y\n")
        let importer = Importer(store: store, task: task)
        let a = try importer.importFile(dir + "/a.jsonl")
        #expect(a.imported == 3 && a.duplicates == 1 && a.labelled == 2 && a.problems.count == 2)
        let b = try importer.importFile(dir + "/b.csv")
        #expect(b.imported == 2 && b.labelled == 1)
        let stats = try TaskStatistics.compute(store: store, task: task)
        #expect(stats.examples == 5 && stats.labels == ["pos": 1, "neg": 2])
        let tsv = dir + "/c.tsv"
        write(tsv, "label\tno_text_column\nx\ty\n")
        #expect { try importer.importFile(tsv) } throws: { "\($0)".contains("no \"text\" column") }
    }

    @Test func sessionAnswersSkipsUndoesAndResumes() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LabelStore(path: dir + "/q.db")
        let task = try store.createTask(LabelTask(name: "t", labels: ["a", "b"]))
        write(dir + "/x.jsonl", (0..<5).map { "{\"text\": \"example \($0)\"}" }.joined(separator: "\n"))
        _ = try Importer(store: store, task: task).importFile(dir + "/x.jsonl")
        let session = try TaggingSession(store: store, task: task, annotator: "ann")
        let e0 = try #require(try session.next())
        #expect(e0.text == "example 0")
        try session.answer(e0, with: .label("a"))
        let e1 = try #require(try session.next())
        session.skip(e1)
        let e2 = try #require(try session.next())
        #expect(e2.text == "example 2")
        try session.answer(e2, with: .label("b"))
        #expect(try session.undo()?.text == "example 2")
        #expect(try session.next()?.text == "example 2")
        #expect(throws: QuarryError.self) { try session.answer(e2, with: .label("zzz")) }
        #expect(session.done == 1)
        // A new session (a restart) resumes at the first unanswered example: the skipped one.
        let again = try TaggingSession(store: store, task: task, annotator: "ann")
        #expect(try again.next()?.text == "example 1")
        #expect(again.done == 1)
        // Random order visits every example once.
        let random = try TaggingSession(store: store, task: task, annotator: "rnd", order: .random)
        var seen: [String] = []
        while let e = try random.next() { seen.append(e.text); try random.answer(e, with: .label("a")) }
        #expect(Set(seen).count == 5 && seen.count == 5)
        // --unlabelled: only examples nobody has answered (example 0 by ann, every one by rnd → none).
        let fresh = try TaggingSession(store: store, task: task, annotator: "new", unlabelledOnly: true)
        #expect(try fresh.next() == nil)
        let mine = try TaggingSession(store: store, task: task, annotator: "new")
        #expect(try mine.next()?.text == "example 0")
    }

    @Test func unlabelledOnlySkipsImportedLabels() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LabelStore(path: dir + "/q.db")
        let task = try store.createTask(LabelTask(name: "t", labels: ["a", "b"]))
        write(dir + "/x.jsonl", "{\"text\": \"one\", \"label\": \"a\"}\n{\"text\": \"two\"}\n{\"text\": \"three\", \"label\": \"b\"}\n{\"text\": \"four\"}")
        _ = try Importer(store: store, task: task).importFile(dir + "/x.jsonl")
        let session = try TaggingSession(store: store, task: task, annotator: "ann", unlabelledOnly: true)
        var served: [String] = []
        while let e = try session.next() { served.append(e.text); try session.answer(e, with: .label("a")) }
        #expect(served == ["two", "four"])
    }

    @Test func foreignCorruptAndReadOnlyFilesAreRefused() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write(dir + "/text.db", "this is not a database at all, just text")
        #expect { try LabelStore(path: dir + "/text.db") } throws: { "\($0)".contains("not an SQLite file") }
        // An SQLite file of another program.
        let other = dir + "/other.db"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import sqlite3; c=sqlite3.connect('\(other)'); c.execute('create table t(x)'); c.commit()"]
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus == 0 {
            #expect { try LabelStore(path: other) } throws: { "\($0)".contains("another program") }
        }
        // A quarry file made read-only (the check does not rely on permissions, which root ignores).
        let readOnly = dir + "/ro.db"
        _ = try LabelStore(path: readOnly)
        chmod(readOnly, 0o444)
        if getuid() != 0 {
            #expect { try LabelStore(path: readOnly) } throws: { "\($0)".contains("read-only") }
        }
        chmod(readOnly, 0o644)
        // A truncated database file.
        let good = dir + "/good.db"
        let store = try LabelStore(path: good)
        _ = try store.createTask(LabelTask(name: "t", labels: ["a"]))
        _ = try store.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        let data = try #require(FileManager.default.contents(atPath: good))
        write(dir + "/cut.db", String(decoding: data.prefix(100), as: UTF8.self))
        #expect(throws: QuarryError.self) { _ = try LabelStore(path: dir + "/cut.db").task(named: "t") }
        // A file written by a newer quarry (a schema migration this build does not know).
        let newer = dir + "/newer.db"
        try LabelStore(path: newer).pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        #expect { try LabelStore(path: newer) } throws: { "\($0)".contains("newer quarry") }
    }

    @Test func exportFormatsAndDeterministicSplits() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LabelStore(path: dir + "/q.db")
        let task = try store.createTask(LabelTask(name: "t", labels: ["a", "b"], instructions: "Pick one"))
        write(dir + "/x.jsonl", (0..<200).map { "{\"text\": \"item \($0)\", \"label\": \"\($0 % 2 == 0 ? "a" : "b")\"}" }.joined(separator: "\n"))
        _ = try Importer(store: store, task: task).importFile(dir + "/x.jsonl")
        var exporter = Exporter(store: store, task: task)
        exporter.splits = try Exporter.parseSplits("train=0.8,dev=0.1,test=0.1")
        let first = try exporter.export(to: dir + "/e1")
        let second = try exporter.export(to: dir + "/e2")
        #expect(first.written.values.reduce(0, +) == 200 && second.written == first.written)
        #expect(FileManager.default.contents(atPath: dir + "/e1/dev.jsonl") == FileManager.default.contents(atPath: dir + "/e2/dev.jsonl"))
        let train = first.written["train"] ?? 0
        #expect(train > 130 && train < 190)
        let line = try #require(String(decoding: FileManager.default.contents(atPath: dir + "/e1/train.jsonl") ?? Data(), as: UTF8.self).split(separator: "\n").first)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(record["text"]?.hasPrefix("item ") == true && ["a", "b"].contains(record["label"] ?? ""))
        exporter.format = .chat
        exporter.splits = [("train", 1)]
        _ = try exporter.export(to: dir + "/chat.jsonl")
        let chat = String(decoding: FileManager.default.contents(atPath: dir + "/chat.jsonl") ?? Data(), as: UTF8.self)
        #expect(chat.hasPrefix(#"{"messages":[{"role":"system","content":"Pick one"},{"role":"user","content":"item 0"},{"role":"assistant","content":"a"}]}"#))
        #expect(throws: QuarryError.self) { try Exporter.parseSplits("train=0.5,dev=0.1") }
    }
}

@Suite struct NearDuplicateGroupsTests {
    /// 60 families of 4 texts sharing a 30-word paragraph (Jaccard ≈ 0.65 between members over
    /// word 5-grams), each member with its own sentence, and 100 unrelated texts.
    static let families = (0..<60).map { family in
        let shared = (0..<30).map { "f\(family)w\($0)" }.joined(separator: " ")
        return (0..<4).map { "\(shared)\nMember \($0) of family \(family) adds this one sentence." }
    }
    static let loners = (0..<100).map { loner in (0..<12).map { "l\(loner)w\($0)" }.joined(separator: " ") }

    @Test func exportSplitsKeepFamiliesTogether() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LabelStore(path: dir + "/q.db")
        let task = try store.createTask(LabelTask(name: "t", labels: ["a", "b"], instructions: ""))
        let records = Self.families.enumerated().flatMap { f, family in
            family.map { JSONValue.object([("text", .string($0)), ("label", .string(f % 2 == 0 ? "a" : "b"))]).serialized }
        }
        write(dir + "/x.jsonl", records.joined(separator: "\n"))
        _ = try Importer(store: store, task: task).importFile(dir + "/x.jsonl")
        var exporter = Exporter(store: store, task: task)
        exporter.splits = try Exporter.parseSplits("train=0.5,dev=0.5")
        let report = try exporter.export(to: dir + "/e")
        #expect(report.written["train", default: 0] > 0 && report.written["dev", default: 0] > 0, "\(report.written)")
        let dev = Set(String(decoding: FileManager.default.contents(atPath: dir + "/e/dev.jsonl") ?? Data(), as: UTF8.self)
            .split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }.compactMap { $0["text"] })
        for family in Self.families {
            let inDev = family.map(dev.contains)
            #expect(Set(inDev).count == 1, "a family split across train and dev: \(inDev)")
        }
    }
}

@Suite struct FullDiskTests {
    @Test func aFullDiskIsAClearErrorAndLosesNothingCommitted() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LabelStore(path: dir + "/q.db")
        let task = try store.createTask(LabelTask(name: "t", labels: ["a"]))
        write(dir + "/small.jsonl", (0..<10).map { "{\"text\": \"small \($0)\", \"label\": \"a\"}" }.joined(separator: "\n"))
        _ = try Importer(store: store, task: task).importFile(dir + "/small.jsonl")
        // SQLite reports SQLITE_FULL when the file may not grow: the same error a full disk gives.
        let pages = try store.pool.read { try Int.fetchOne($0, sql: "PRAGMA page_count") } ?? 0
        try store.pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA max_page_count = \(pages + 2)") }
        let big = String(repeating: "x", count: 2000)
        write(dir + "/big.jsonl", (0..<2000).map { "{\"text\": \"\(big) \($0)\"}" }.joined(separator: "\n"))
        #expect { try Importer(store: store, task: task).importFile(dir + "/big.jsonl") } throws: {
            "\($0)".contains("the disk is full")
        }
        let stats = try TaskStatistics.compute(store: store, task: task)
        #expect(stats.examples == 10 && stats.labels["a"] == 10)
        let integrity = try store.pool.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }
}

@Suite struct PredictionTests {
    struct Interrupted: Error {}

    @Test func computedPredictionsResumeAndDriveUncertainOrder() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LabelStore(path: dir + "/q.db")
        let task = try store.createTask(LabelTask(name: "t", labels: ["pos", "neg"]))
        write(dir + "/in.jsonl", (1...5).map { "{\"text\": \"example \($0)\"}" }.joined(separator: "\n"))
        _ = try Importer(store: store, task: task).importFile(dir + "/in.jsonl")
        // Confidence falls with the example's number, so "example 5" is the least certain.
        func predict(_ texts: [String]) -> [(label: String, confidence: Double)] {
            texts.map { text in
                let n = Double(text.split(separator: " ").last.flatMap { Double($0) } ?? 0)
                return (n.truncatingRemainder(dividingBy: 2) == 0 ? "pos" : "neg", 1 - n / 10)
            }
        }
        // Interrupted after the first batch: that batch stays committed.
        var calls = 0
        #expect(throws: Interrupted.self) {
            _ = try store.storePredictions(task: task, model: "m", batchSize: 2) { texts in
                calls += 1
                if calls == 2 { throw Interrupted() }
                return predict(texts)
            }
        }
        // The rerun asks only for the three examples still unpredicted.
        var asked: [String] = []
        let stored = try store.storePredictions(task: task, model: "m", batchSize: 2) { texts in
            asked += texts
            return predict(texts)
        }
        #expect(stored == 3)
        #expect(asked == ["example 3", "example 4", "example 5"])

        let session = try TaggingSession(store: store, task: task, annotator: "ann", order: .uncertain, model: "m")
        let first = try #require(try session.next())
        #expect(first.text == "example 5")
        #expect(first.suggestion?.label == "neg")
        #expect(abs((first.suggestion?.confidence ?? 0) - 0.5) < 1e-9)
        // A predictor that answers the wrong number of examples is an error, not a silent gap.
        #expect(throws: QuarryError.self) {
            _ = try store.storePredictions(task: task, model: "other", batchSize: 4) { _ in [] }
        }
    }
}

@Suite struct ReviewTests {
    @Test func typedAnswersReadLabelsHotkeysSpansAndResponses() {
        let single = LabelTask(name: "s", labels: ["admin", "games"])
        #expect(single.answer(typed: "games") == .label("games"))
        #expect(single.answer(typed: "1") == .label("admin"))
        #expect(single.answer(typed: "admin, games") == nil, "one label per example")
        #expect(single.answer(typed: "nosuch") == nil)
        let multi = LabelTask(name: "m", labels: ["a", "b", "c"], multiLabel: true)
        #expect(multi.answer(typed: "a, 3") == .labels(["a", "c"]))
        let spans = LabelTask(name: "p", kind: .span, labels: ["x", "y"])
        #expect(spans.answer(typed: "0-2:x 5:2") == .spans([Answer.Span(start: 0, end: 3, label: "x"), Answer.Span(start: 5, end: 6, label: "y")]))
        #expect(spans.answer(typed: "-") == .spans([]))
        #expect(LabelTask(name: "r", kind: .response, labels: []).answer(typed: "free text") == .response("free text"))
    }

    @Test func reviewAdjudicatesDisagreementsAndSkipsWhatIsNoAnswer() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LabelStore(path: dir + "/q.db")
        let task = try store.createTask(LabelTask(name: "t", labels: ["a", "b"]))
        write(dir + "/x.jsonl", (0..<3).map { "{\"text\": \"example \($0)\"}" }.joined(separator: "\n"))
        _ = try Importer(store: store, task: task).importFile(dir + "/x.jsonl")
        for (annotator, answers) in [("x", ["a", "a", "b"]), ("y", ["b", "a", "a"])] {
            let session = try TaggingSession(store: store, task: task, annotator: annotator)
            for answer in answers { try session.answer(try #require(try session.next()), with: .label(answer)) }
        }
        // Two disagreements (examples 0 and 2): the first gets "zzz" (no label: skipped), then "2".
        var typed = ["zzz", "2"]
        var warnings: [String] = []
        var screens: [String] = []
        var loop = ReviewLoop(queue: ReviewQueue(store: store, task: task), task: task.task, adjudicator: "z")
        loop.nextLine = { typed.isEmpty ? nil : typed.removeFirst() }
        loop.warn = { warnings.append($0) }
        loop.show = { screens.append($0) }
        #expect(try loop.run() == 1)
        #expect(warnings.count == 1 && warnings[0].contains("zzz"))
        #expect(screens.contains("example 2") && screens.contains("  x: {\"label\":\"b\"}"))
        var exporter = Exporter(store: store, task: task)
        exporter.source = .adjudicated
        var adjudicated: [Answer] = []
        _ = try exporter.forEachRecord { adjudicated.append($0.answer) }
        #expect(adjudicated == [.label("b")])
    }
}
