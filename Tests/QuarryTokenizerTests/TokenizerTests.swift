import Foundation
import Testing
@testable import QuarryCore
@testable import QuarryTokenizer

enum Shared {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let data = repository.deletingLastPathComponent().appendingPathComponent("shared/data").path
    static var present: Bool { FileManager.default.fileExists(atPath: data) }
    static let tokenizer8192 = data + "/tokenizers/hf-bytelevel-bpe-8192.json"
}

/// A vocabulary with a few merges, written by hand: the byte alphabet, then l+o, lo+w, Ġ+low.
func tinyModel(mergesAsStrings: Bool = false, extra: String = "") throws -> BPEModel {
    var vocab: [String] = ["<|endoftext|>"]
    vocab += (0..<256).map { String(ByteLevelAlphabet.characters[$0]) }.sorted { $0.unicodeScalars.first!.value < $1.unicodeScalars.first!.value }
    vocab += ["lo", "low", "Ġlow"]
    var json = "{\"added_tokens\":[{\"id\":0,\"content\":\"<|endoftext|>\",\"special\":true}],\"normalizer\":null,"
    json += "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}\(extra),"
    json += "\"model\":{\"type\":\"BPE\",\"vocab\":{"
    json += vocab.enumerated().map { "\(JSONText.quoted($0.element)):\($0.offset)" }.joined(separator: ",")
    let merges = [("l", "o"), ("lo", "w"), ("Ġ", "low")]
    json += "},\"merges\":[" + merges.map { mergesAsStrings ? JSONText.quoted("\($0.0) \($0.1)") : "[\(JSONText.quoted($0.0)),\(JSONText.quoted($0.1))]" }.joined(separator: ",") + "]}}"
    return try TokenizerFile.parse(Data(json.utf8))
}

@Suite struct TokenizerFileTests {
    @Test func bothMergeFormatsLoadAlike() throws {
        let pairs = try tinyModel(), strings = try tinyModel(mergesAsStrings: true)
        let text = "low lower slow<|endoftext|>low"
        #expect(BPEEncoder(model: pairs).encode(text) == BPEEncoder(model: strings).encode(text))
        let ids = BPEEncoder(model: pairs).encode(text)
        #expect(ids.contains(0))                              // the special token, matched in the text
        #expect(try pairs.decode(ids) == text)
        #expect(ids.first == Int32(pairs.tokenStrings.firstIndex(of: "low")!))
    }

    @Test func writtenFileReadsBackIdentically() throws {
        let model = try tinyModel()
        let text = TokenizerFile.serialise(model)
        let again = try TokenizerFile.parse(Data(text.utf8))
        #expect(again.tokenStrings == model.tokenStrings)
        #expect(again.merges.map { [$0.left, $0.right, $0.result] } == model.merges.map { [$0.left, $0.right, $0.result] })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let merges = try #require((object["model"] as? [String: Any])?["merges"] as? [[String]])
        #expect(merges.first == ["l", "o"])                  // the pair form
    }

    @Test func otherTokenizerKindsAreRefusedClearly() throws {
        let wordPiece = #"{"model":{"type":"WordPiece","vocab":{"a":0}},"pre_tokenizer":{"type":"BertPreTokenizer"}}"#
        #expect { try TokenizerFile.parse(Data(wordPiece.utf8)) } throws: { "\($0)".contains("WordPiece tokenizer") }
        #expect { try TokenizerFile.parse(Data("[1,2]".utf8)) } throws: { "\($0)".contains("not a JSON object") }
        let metaspace = #"{"model":{"type":"BPE","vocab":{},"merges":[]},"normalizer":null,"pre_tokenizer":{"type":"Metaspace"}}"#
        #expect { try TokenizerFile.parse(Data(metaspace.utf8)) } throws: { "\($0)".contains("Metaspace") }
    }

    /// Issue 22, R4, R7, R12-c: ids and contents from a downloaded tokenizer.json are checked
    /// before they size a table or reach the encoder (each case failed by a trap, a 32 GB
    /// allocation, an endless loop or silently wrong shards before).
    @Test func hostileIdsAndContentsAreRefused() throws {
        func tokenizer(added: String, extraVocab: String = "", merges: String = "[]") -> Data {
            let vocab = (0..<256).map { "\(JSONText.quoted(String(ByteLevelAlphabet.characters[$0]))):\($0 + 1)" }.joined(separator: ",")
            return Data(("{\"added_tokens\":[{\"id\":0,\"content\":\"<|endoftext|>\",\"special\":true}\(added)],\"normalizer\":null,"
                + "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
                + "\"model\":{\"type\":\"BPE\",\"vocab\":{\"<|endoftext|>\":0,\(vocab)\(extraVocab)},\"merges\":\(merges)}}").utf8)
        }
        #expect(try TokenizerFile.parse(tokenizer(added: "")).vocabularySize == 257)
        let cases: [(String, Data, String)] = [
            ("id ≥ 2^31", tokenizer(added: #",{"id":3000000000,"content":"<big>","special":true}"#), "outside"),
            ("id 2·10^9", tokenizer(added: #",{"id":2000000000,"content":"<big>","special":true}"#), "not contiguous"),
            ("vocab id 2·10^9", tokenizer(added: "", extraVocab: #","far":2000000000"#), "not contiguous"),
            ("negative id", tokenizer(added: #",{"id":-5,"content":"<neg>","special":true}"#), "outside"),
            ("empty content", tokenizer(added: #",{"id":257,"content":"","special":true}"#), "empty content"),
            ("merges of the wrong type", tokenizer(added: "", merges: "{}"), "not a list"),
        ]
        for (name, data, message) in cases {
            #expect("\(name)", performing: { try TokenizerFile.parse(data) }, throws: { "\($0)".contains(message) })
        }
    }

    @Test func decodeRejectsUnknownIds() throws {
        let model = try tinyModel()
        #expect(throws: QuarryError.self) { try model.decode([1, 999_999]) }
    }
}

@Suite struct EncodeTests {
    @Test func roundTripOnAnyValidUTF8() throws {
        let model = try tinyModel()
        let encoder = BPEEncoder(model: model)
        var samples = ["", " ", "\n\n", "lowest low-low 12345", "日本語 🪨 \u{301}e", "tab\tand\r\n", String(repeating: "low", count: 2000)]
        var seed: UInt64 = 99
        for _ in 0..<50 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<40 {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1
                let v = UInt32(truncatingIfNeeded: seed >> 33) % 0x3000
                if let s = Unicode.Scalar(v) { scalars.append(s) }
            }
            samples.append(String(scalars))
        }
        for text in samples { #expect(try model.decode(encoder.encode(text)) == text) }
    }

    @Test func longPiecesUseTheHeapAndAgreeWithTheScan() throws {
        let model = try tinyModel()
        let encoder = BPEEncoder(model: model)
        // One letter run of 3000 bytes goes through the heap path; its parts through the scan.
        let long = String(repeating: "lowl", count: 750)
        let short = encoder.encode("lowl")
        #expect(encoder.encode(long) == Array([[Int32]](repeating: short, count: 750).joined()))
    }

    @Test(.enabled(if: Shared.present, "../shared/data is not present"))
    func sameIdsAsHuggingFaceOnTheSharedTokenizer() throws {
        // Sentences written for this test; ids from HF tokenizers 0.23 with the same file.
        let sentences = [
            "The quarry opened in 1887; by 1900 it employed 312 workers.",
            "Slate splits into thin sheets — ideal for roofing, isn't it?",
            "  Indented line with trailing spaces   ",
            "Gneiss, schist & marble: metamorphic rocks!<|endoftext|>Next document.",
            "Ünïcödé wörds, 日本語のテキスト, and emoji 🪨🪨.",
            "tabs\tand\r\nwindows newlines\n\n\nblank lines",
        ]
        let expected: [[Int32]] = [
            [455, 832, 3965, 4530, 292, 419, 2183, 23, 27, 392, 1507, 371, 366, 8146, 278, 556, 981, 833, 427, 14],
            [51, 5125, 269, 489, 793, 846, 310, 261, 765, 1582, 5532, 243, 3011, 287, 333, 1264, 914, 285, 12, 3384, 761, 366, 31],
            [221, 4479, 313, 278, 992, 385, 6637, 6327, 322],
            [39, 713, 985, 12, 269, 350, 415, 1743, 289, 294, 1223, 26, 1857, 325, 271, 1034, 303, 1264, 414, 83, 1, 0, 46, 599, 1112, 14],
            [128, 251, 78, 128, 108, 67, 128, 115, 68, 7625, 281, 128, 115, 4359, 83, 12, 221, 163, 246, 99, 163, 251, 106, 165, 104,
             253, 5022, 107, 160, 226, 229, 160, 225, 256, 160, 225, 118, 160, 226, 231, 12, 308, 1123, 79, 74, 73, 221, 173, 254,
             104, 102, 173, 254, 104, 102, 14],
            [84, 4770, 198, 393, 202, 199, 87, 1919, 721, 3819, 199, 199, 199, 2981, 3125, 2087],
        ]
        let model = try TokenizerFile.load(path: Shared.tokenizer8192)
        let encoder = BPEEncoder(model: model)
        for (sentence, ids) in zip(sentences, expected) {
            #expect(encoder.encode(sentence) == ids)
            #expect(try model.decode(ids) == sentence)
        }
    }
}

@Suite struct ParallelEncodeTests {
    /// Many blocks and chunks (about 0.5 MB of input, more chunks than the queue holds), written by the writer thread: the ids
    /// are the one-thread encoding of every line, in input order.
    @Test func filesEncodeInOrderAcrossBlocksAndThreads() throws {
        var state: UInt64 = 21
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        let words = ["quarry", "granite", " slate", "marble's", "42", "tonnes", "über", "naïve", "—", "\u{1F600}", "cut", "stone"]
        let lines = (0..<6000).map { _ in (0..<(1 + Int(next() % 24))).map { _ in words[Int(next() % UInt64(words.count))] }.joined(separator: " ") }
        let trainer = BPETrainer(options: .init(vocabularySize: 300, minimumFrequency: 2, jobs: 1))
        trainer.add(lines.map { $0 + "\n" })
        let model = try trainer.train()
        let dir = NSTemporaryDirectory() + "quarry-penc-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.txt"
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: input))
        let serial = BPEEncoder(model: model)
        let expected = lines.map { serial.encode($0).map(String.init).joined(separator: " ") + "\n" }.joined()
        // The copy each extra worker encodes with is the same model.
        let copy = model.unshared()
        #expect(copy.encodesLike(model))
        #expect(lines.prefix(200).allSatisfy { BPEEncoder(model: copy).encode($0) == serial.encode($0) })
        for jobs in [1, 2] {
            let output = try OutputFile(path: dir + "/ids-\(jobs).txt")
            let skipped = try ParallelEncoder(model: model, jobs: jobs).encodeFiles([input], to: output, blockSize: 16 << 10, chunkSize: 2 << 10)
            try output.commit()
            #expect(skipped == 0)
            #expect(try String(contentsOfFile: dir + "/ids-\(jobs).txt", encoding: .utf8) == expected, "--jobs \(jobs)")
        }
        // A full disk: the write error comes back (the workers stop; nothing hangs).
        if FileManager.default.fileExists(atPath: "/dev/full") {
            let full = try OutputFile(path: "/dev/full")
            #expect(throws: QuarryError.self) {
                _ = try ParallelEncoder(model: model, jobs: 2).encodeFiles([input], to: full, blockSize: 16 << 10, chunkSize: 2 << 10)
                try full.flush()
            }
        }
    }
}

@Suite struct TrainerTests {
    @Test func sameMergesAsHuggingFaceOnATinyCorpus() throws {
        // HF tokenizers 0.23 BpeTrainer(vocab_size=280, min_frequency=2, byte alphabet, <|endoftext|>)
        // on these lines (each with its newline, as HF reads files) gave exactly these merges.
        let lines = ["low lower lowest low low\n", "newer newest new new\n", "wider widest wide\n", "low new wide lower newer\n"]
        let trainer = BPETrainer(options: .init(vocabularySize: 280, minimumFrequency: 2, jobs: 2))
        trainer.add(Array([[String]](repeating: lines, count: 3).joined()))
        let model = try trainer.train()
        let expected: [(String, String)] = [
            ("l", "o"), ("lo", "w"), ("e", "w"), ("n", "ew"), ("e", "r"), ("Ġ", "low"), ("Ġ", "new"), ("i", "d"), ("w", "id"),
            ("e", "s"), ("Ġ", "wid"), ("es", "t"), ("Ġlow", "er"), ("Ġwid", "e"), ("new", "er"), ("Ġlow", "est"), ("Ġnew", "er"),
            ("Ġnew", "est"), ("wid", "er"), ("Ġwid", "est"),
        ]
        let merges = model.merges.map { (model.tokenStrings[Int($0.left)], model.tokenStrings[Int($0.right)]) }
        #expect(merges.map { [$0.0, $0.1] } == expected.map { [$0.0, $0.1] })
        #expect(model.vocabularySize == 277) // stops early: no pair left with frequency >= 2
        #expect(model.tokenStrings[0] == "<|endoftext|>" && model.tokenStrings[1] == "!")
    }

    @Test func vocabularyTooSmallIsAnError() throws {
        let trainer = BPETrainer(options: .init(vocabularySize: 100))
        trainer.add(["some text"])
        #expect(throws: QuarryError.self) { try trainer.train() }
    }

    @Test func countingIsTheSameWhateverTheThreads() throws {
        let lines = (0..<500).map { "line \($0 % 37) with words \($0 % 11) and more words\n" }
        func train(jobs: Int) throws -> [String] {
            let trainer = BPETrainer(options: .init(vocabularySize: 320, minimumFrequency: 1, jobs: jobs))
            trainer.add(lines)
            return try trainer.train().tokenStrings
        }
        #expect(try train(jobs: 1) == train(jobs: 2))
    }
}
