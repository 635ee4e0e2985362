import Foundation
import Testing

/// End-to-end: the built `quarry` binary on files, as a user runs it.
@Suite struct ExtractCommandTests {
    func records(_ jsonl: String) throws -> [[String: Any]] {
        try jsonl.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test func samplesDirectoryEveryFormat() throws {
        let scratch = ScratchDirectory()
        let out = scratch.path + "/docs.jsonl"
        let result = try quarry(["extract", TestPaths.sample(""), "--out", out, "--jobs", "2"])
        #expect(result.status == 0, "\(result.err)")
        let docs = try records(String(contentsOfFile: out, encoding: .utf8))
        let titles = Set(docs.compactMap { $0["title"] as? String })
        #expect(titles.isSuperset(of: ["Granite", "Slate", "Sandstone", "Visiting the old quarry"]))
        for doc in docs {
            for key in ["id", "source", "text"] { #expect(doc[key] is String, "\(key) missing") }
        }
        #expect(docs.contains { ($0["url"] as? String) == "http://walks.example/walks/quarry" })
        #expect(result.err.contains("documents written"))
        // The same run with one job writes the same bytes (order never depends on threads).
        let single = try quarry(["extract", TestPaths.sample(""), "--jobs", "1", "-q"])
        #expect(single.out == (try String(contentsOfFile: out, encoding: .utf8)))
    }

    @Test func missingFileIsReportedAndTheRestProcessed() throws {
        let result = try quarry(["extract", "/nonexistent/dump.xml", TestPaths.sample("text/field-notes.txt"), "-q"])
        #expect(result.status == 0)
        #expect(result.err.contains("/nonexistent/dump.xml: no such file or directory"))
        #expect(try records(result.out).count == 1)
        let strict = try quarry(["extract", "/nonexistent/dump.xml", TestPaths.sample("text/field-notes.txt"), "-q", "--strict"])
        #expect(strict.status != 0)
    }

    @Test func nothingReadableExitsNonZero() throws {
        let result = try quarry(["extract", "/nonexistent/a.xml", "/nonexistent/b.warc", "-q"])
        #expect(result.status != 0)
        #expect(result.err.contains("no input files"))
    }

    @Test func truncatedBzip2KeepsEarlierPagesAndNamesTheFile() throws {
        let scratch = ScratchDirectory()
        // bzip2 -1 uses 100 kB blocks, so the first blocks decode before the cut.
        var xml = "<mediawiki>"
        var seed: UInt64 = 42
        for i in 1...400 {
            var words: [String] = []
            for _ in 0..<150 {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                words.append(String(seed >> 40, radix: 36))
            }
            xml += "<page><title>Page \(i)</title><ns>0</ns><id>\(i)</id><revision><text>Article \(i): \(words.joined(separator: " "))</text></revision></page>"
        }
        xml += "</mediawiki>"
        let bz = try compress(Array(xml.utf8), with: "bzip2 -1")
        let path = scratch.write("cut.xml.bz2", Array(bz.prefix(bz.count * 2 / 3)))
        let result = try quarry(["extract", path, "-q"])
        #expect(result.status == 0)
        #expect(result.err.contains("cut.xml.bz2: truncated bzip2 data"))
        let docs = try records(result.out)
        #expect(docs.count > 50 && docs.count < 400)
        #expect((docs.first?["title"] as? String) == "Page 1")
    }

    @Test func standardInputAndBinaryGarbage() throws {
        let html = Array("<html><head><title>Piped</title></head><body><p>A page read from standard input, with enough text in it.</p></body></html>".utf8)
        let piped = try quarry(["extract", "-", "-q"], input: html)
        #expect(piped.status == 0)
        #expect(try records(piped.out).first?["title"] as? String == "Piped")
        var garbage: [UInt8] = []
        var seed: UInt32 = 7
        for _ in 0..<20000 { seed = seed &* 1_103_515_245 &+ 12345; garbage.append(UInt8(truncatingIfNeeded: seed >> 16)) }
        let scratch = ScratchDirectory()
        let result = try quarry(["extract", scratch.write("noise.bin", garbage)])
        #expect(result.out.isEmpty)
        #expect(result.err.contains("invalid_utf8"))
    }

    @Test func failedRunLeavesNoOutputFile() throws {
        let scratch = ScratchDirectory()
        let result = try quarry(["extract", TestPaths.sample(""), "--out", scratch.path + "/missing-dir/out.jsonl"])
        #expect(result.status != 0)
        #expect(result.err.contains("cannot write"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    @Test func writingToADeviceWritesThroughIt() throws {
        let result = try quarry(["extract", TestPaths.sample("text"), "--out", "/dev/null", "-q"])
        #expect(result.status == 0)
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR, "/dev/null must stay a device")
    }

    @Test func plainTextSampledByParagraphOrLine() throws {
        let scratch = ScratchDirectory()
        let input = scratch.path + "/corpus.txt"
        try "\n\nFirst paragraph,\nstill the first.\n\n \n\nSecond one.\nThird line\n".write(toFile: input, atomically: true, encoding: .utf8)
        let paragraphs = try records(quarry(["extract", input, "--sample-by", "paragraph", "-q"]).out)
        #expect(paragraphs.map { $0["text"] as? String } == ["First paragraph,\nstill the first.", "Second one.\nThird line"])
        #expect(paragraphs.map { $0["source"] as? String } == [input + "#paragraph=1", input + "#paragraph=2"])
        let lines = try records(quarry(["extract", input, "--sample-by", "line", "-q"]).out)
        #expect(lines.map { $0["text"] as? String } == ["First paragraph,", "still the first.", "Second one.", "Third line"])
        let whole = try records(quarry(["extract", input, "-q"]).out)
        #expect(whole.count == 1)
        #expect(try quarry(["extract", input, "--sample-by", "sentence"]).status != 0)
    }

    @Test func everyCommandsHelpHasAnExample() throws {
        let commands = ["", "extract", "tokenizer", "tokenizer train", "tokenizer encode", "tokenizer decode", "ingest",
                        "shards", "shards verify", "shards stats", "shards merge", "task", "task create", "task list", "import",
                        "tag", "review", "stats", "export", "predictions", "predictions import", "predictions compute",
                        "pretrain", "finetune", "eval", "generate"]
        for command in commands {
            let help = try quarry(command.split(separator: " ").map(String.init) + ["--help"])
            #expect(help.status == 0 && help.out.contains("Example"), "quarry \(command) --help has no example")
        }
    }

    @Test func badFlagsAreRejected() throws {
        #expect(try quarry(["extract", "--jobs", "0", "x"]).status != 0)
        #expect(try quarry(["extract"]).status != 0)
        let help = try quarry(["extract", "--help"])
        #expect(help.out.contains("Examples:"))
    }
}
