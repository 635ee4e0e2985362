import Foundation
import Testing

/// End to end through the binary: train → encode → decode on the samples.
@Suite struct TokenizerCommandTests {
    @Test func trainEncodeDecodeRoundTrip() throws {
        let dir = NSTemporaryDirectory() + "quarry-tok-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tokenizer = dir + "/tokenizer.json"
        let samples = TestPaths.sample("")
        let train = try quarry(["tokenizer", "train", samples, "--vocab-size", "400", "--out", tokenizer, "-q"])
        #expect(train.status == 0, "\(train.err)")
        let text = "Granite is quarried.\nSlate splits, \"marble\" polishes: 42 tonnes!\n\nlast line"
        let encoded = try quarry(["tokenizer", "encode", "-t", tokenizer, "--jobs", "2"], stdin: text)
        #expect(encoded.status == 0)
        #expect(encoded.out.split(separator: "\n", omittingEmptySubsequences: false).count == 5) // 4 documents + final newline
        let decoded = try quarry(["tokenizer", "decode", "-t", tokenizer], stdin: encoded.out)
        #expect(decoded.out == text + "\n")
        // JSONL input: one id line per record with a "text".
        let jsonl = try quarry(["tokenizer", "encode", "-t", tokenizer], stdin: "{\"text\": \"line one\\nline two\"}\n{\"no_text\": 1}\n")
        #expect(jsonl.out.split(separator: "\n").count == 1)
        #expect(jsonl.err.contains("1 JSONL line(s)"))
    }

    @Test func badInputsFailWithOneLine() throws {
        let missing = try quarry(["tokenizer", "encode", "-t", "/nonexistent/tokenizer.json"], stdin: "x")
        #expect(missing.status != 0 && missing.err.contains("cannot read tokenizer file /nonexistent/tokenizer.json"))
        let tooSmall = try quarry(["tokenizer", "train", "x", "--vocab-size", "10", "--out", "/tmp/x.json"])
        #expect(tooSmall.status != 0 && tooSmall.err.contains("at least 257"))
    }
}
