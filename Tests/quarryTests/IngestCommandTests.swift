import Foundation
import Testing
import QuarryShards


/// A corpus written for the tests: English-like documents from a small vocabulary, with exact
/// and near duplicates and documents the quality rules drop.
func writeCorpus(_ dir: String, documents: Int = 240) -> String {
    let words = ["the", "quarry", "stone", "of", "and", "granite", "slate", "to", "with", "workers", "that", "have",
                 "valley", "river", "cut", "blocks", "rail", "village", "masons", "built", "walls", "bridge", "hard", "grey"]
    var seed: UInt64 = 2024
    func next() -> Int { seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return Int(seed >> 33) }
    var lines: [String] = []
    for i in 0..<documents {
        let text = (0..<(60 + next() % 80)).map { _ in words[next() % words.count] }.joined(separator: " ") + "."
        lines.append(text)
        if i % 40 == 5 { lines.append(text) }                                              // exact duplicate
        if i % 40 == 9 { lines.append(String(text.dropLast()) + " once again.") }              // near duplicate
        if i % 50 == 0 { lines.append("too short to keep") }
    }
    let path = dir + "/corpus.jsonl"
    let jsonl = lines.enumerated().map { "{\"id\": \"d\($0.offset)\", \"text\": \"\($0.element)\"}" }.joined(separator: "\n") + "\n"
    precondition(FileManager.default.createFile(atPath: path, contents: Data(jsonl.utf8)), "cannot write a test file")
    return path
}

func snapshot(_ dir: String) -> [String: [UInt8]] {
    var files: [String: [UInt8]] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
        files[name] = Array(FileManager.default.contents(atPath: dir + "/" + name) ?? Data())
    }
    return files
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json")), "../shared/data is not present"))
struct IngestCommandTests {
    @Test(arguments: ["megatron", "llmc", "nanogpt"])
    func killedRunResumesToTheSameResult(format: String) throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = writeCorpus(dir)
        let flags = ["ingest", corpus, "--tokenizer", TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json"), "--format", format, "--shard-tokens", "3000",
                     "--val-fraction", "0.1", "-q"]
        let reference = dir + "/reference", resumed = dir + "/resumed"
        #expect(try quarry(flags + ["--out", reference, "--jobs", "2"]).status == 0)
        let crash = try quarry(flags + ["--out", resumed, "--jobs", "1"], environment: ["QUARRY_TEST_CRASH_AFTER_SHARDS": "2"])
        if format != "nanogpt" {
            #expect(crash.status != 0) // died after two shards
            let partial = try #require(try Manifest.load(directory: resumed))
            #expect(!partial.complete && partial.shards.count == 2)
        }
        let rerun = try quarry(flags + ["--out", resumed, "--jobs", "2"])
        #expect(rerun.status == 0, "\(rerun.err)")
        #expect(snapshot(reference) == snapshot(resumed), "a resumed run must end byte-identical to an uninterrupted one")
        #expect(try quarry(["shards", "verify", resumed]).status == 0)
        let again = try quarry(flags + ["--out", resumed])   // complete: nothing to do
        #expect(again.status == 0)
    }

    @Test func filtersAndDedupAreCounted() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = writeCorpus(dir)
        #expect(try quarry(["ingest", corpus, "--tokenizer", TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json"), "--out", dir + "/near", "--dedup", "near", "-q"]).status == 0)
        #expect(try quarry(["ingest", corpus, "--tokenizer", TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json"), "--out", dir + "/exact", "-q"]).status == 0)
        let near = try #require(try Manifest.load(directory: dir + "/near"))
        let exact = try #require(try Manifest.load(directory: dir + "/exact"))
        #expect(exact.dropped["duplicate_exact"] == 6)
        #expect(near.dropped["duplicate_exact"] == 6 && near.dropped["duplicate_near"] == 6)
        #expect(exact.dropped["gopher_too_few_words"] == 5)
        #expect(exact.documentsKept == 240 + 6 && near.documentsKept == 240)
        #expect(exact.totals["train"]?.documents == exact.documentsKept)
    }

    @Test func corruptionIsFoundAndForeignDirectoriesRefused() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = writeCorpus(dir, documents: 60)
        let out = dir + "/out"
        #expect(try quarry(["ingest", corpus, "--tokenizer", TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json"), "--out", out, "-q"]).status == 0)
        var bin = Array(FileManager.default.contents(atPath: out + "/train-00000.bin") ?? Data())
        bin[10] ^= 0xFF
        precondition(FileManager.default.createFile(atPath: out + "/train-00000.bin", contents: Data(bin)), "cannot write a test file")
        let verify = try quarry(["shards", "verify", out])
        #expect(verify.status != 0 && verify.err.contains("SHA-256 differs"))
        let other = try quarry(["ingest", corpus, "--tokenizer", TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json"), "--out", out, "--format", "llmc", "-q"])
        #expect(other.status != 0 && other.err.contains("holds another run's shards"))
        let both = try quarry(["ingest", corpus, "--out", dir + "/x"])
        #expect(both.status != 0 && both.err.contains("exactly one of --tokenizer"))
    }

    @Test func partsMergeIntoTheWhole() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = writeCorpus(dir, documents: 120)
        let base = ["ingest", corpus, "--tokenizer", TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json"), "--dedup", "off", "-q"]
        #expect(try quarry(base + ["--out", dir + "/whole"]).status == 0)
        #expect(try quarry(base + ["--out", dir + "/p1", "--part", "1/2"]).status == 0)
        #expect(try quarry(base + ["--out", dir + "/p2", "--part", "2/2"]).status == 0)
        let merged = try quarry(["shards", "merge", dir + "/p1", dir + "/p2", "--out", dir + "/merged"])
        #expect(merged.status == 0, "\(merged.err)")
        let whole = try #require(try Manifest.load(directory: dir + "/whole"))
        let m = try #require(try Manifest.load(directory: dir + "/merged"))
        #expect(m.totals["train"]?.tokens == whole.totals["train"]?.tokens)
        #expect(m.documentsKept == whole.documentsKept)
        #expect(try quarry(["shards", "verify", dir + "/merged"]).status == 0)
        let stats = try quarry(["shards", "stats", dir + "/merged"])
        #expect(stats.out.contains("document length (tokens)"))
        // Parts are chosen by text, so exact duplicates meet in one part and are dropped there:
        // de-duplicated parts add up to the de-duplicated whole.
        let dedup = ["ingest", corpus, "--tokenizer", TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json"), "-q"]
        #expect(try quarry(dedup + ["--out", dir + "/dwhole"]).status == 0)
        #expect(try quarry(dedup + ["--out", dir + "/dp1", "--part", "1/2"]).status == 0)
        #expect(try quarry(dedup + ["--out", dir + "/dp2", "--part", "2/2"]).status == 0)
        let parts = try [dir + "/dp1", dir + "/dp2"].map { try #require(try Manifest.load(directory: $0)) }
        let dwhole = try #require(try Manifest.load(directory: dir + "/dwhole"))
        #expect(parts.map(\.documentsKept).reduce(0, +) == dwhole.documentsKept)
        #expect(parts.map { $0.dropped["duplicate_exact"] ?? 0 }.reduce(0, +) == dwhole.dropped["duplicate_exact"])
        #expect(parts.allSatisfy { $0.documentsKept > 0 })
    }

    /// The same file named by another path gives the same shards: the split does not hash the path.
    @Test func validationSplitDoesNotDependOnThePath() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = writeCorpus(dir, documents: 120)
        try FileManager.default.createSymbolicLink(atPath: dir + "/alias", withDestinationPath: dir)
        let flags = ["--tokenizer", TestPaths.shared("tokenizers/hf-bytelevel-bpe-8192.json"), "--val-fraction", "0.2", "-q"]
        #expect(try quarry(["ingest", corpus, "--out", dir + "/a"] + flags).status == 0)
        #expect(try quarry(["ingest", dir + "/alias/corpus.jsonl", "--out", dir + "/b"] + flags).status == 0)
        let a = snapshot(dir + "/a").filter { !$0.key.hasPrefix("manifest") }, b = snapshot(dir + "/b").filter { !$0.key.hasPrefix("manifest") }
        #expect(a == b && a["val-00000.bin"] != nil)
        let manifest = try #require(try Manifest.load(directory: dir + "/a"))
        let val = try #require(manifest.totals["val"]?.documents)
        #expect(val > 8 && val < 45, "about a fifth of ~126 kept documents: \(val)")
    }
}

