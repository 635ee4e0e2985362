import Foundation
import Testing
import QuarryTestSupport
@testable import QuarryCore
@testable import QuarryShards


func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    var out: [UInt8] = []
    for v in values { out.appendLittleEndian(v) }
    return out
}

func writer(_ format: ShardFormat, _ dir: String, shardTokens: Int = 1000, width: TokenWidth = .uint16) -> SplitWriter {
    SplitWriter(split: "train", format: format, width: width, directory: dir, namePrefix: "", shardTokens: shardTokens,
                endOfText: 0, resumingAfter: [], resume: ResumePoint(documents: 0, skipTokens: 0))
}

@Suite struct ShardFormatTests {
    @Test func megatronLayoutByteForByte() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = writer(.megatron, dir)
        try w.add([5, 6])
        try w.add([7])
        try w.finish()
        #expect(bytes(dir + "/train-00000.bin") == le([UInt16(5), 6, 0, 7, 0]))
        var idx: [UInt8] = Array("MMIDIDX".utf8) + [0, 0]
        idx += le([UInt64(1)]) + [8] + le([UInt64(2), UInt64(3)])
        idx += le([Int32(3), 2]) + le([Int64(0), 6]) + le([Int64(0), 1, 2])
        #expect(bytes(dir + "/train-00000.idx") == idx)
        let shard = try #require(w.finished.first)
        #expect(shard.tokens == 5 && shard.documents == 2 && shard.bytes == 10)
        var hasher = SHA256()
        hasher.update(bytes(dir + "/train-00000.bin"))
        #expect(shard.sha256 == hasher.hexDigest())
        let read = try MegatronIndex(path: dir + "/train-00000.idx")
        #expect(read.lengths == [3, 2] && read.pointers == [0, 6] && read.documentIndices == [0, 1, 2])
    }

    @Test func megatronWideVocabularyUsesInt32() throws {
        #expect(try TokenWidth.forFormat(.megatron, vocabularySize: 65_499) == .uint16)
        #expect(try TokenWidth.forFormat(.megatron, vocabularySize: 65_500) == .int32)
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = writer(.megatron, dir, width: .int32)
        try w.add([70_000])
        try w.finish()
        #expect(bytes(dir + "/train-00000.bin") == le([Int32(70_000), 0]))
        #expect(bytes(dir + "/train-00000.idx")[17] == 4)
    }

    @Test func llmcShardsAreExactlyFullAndSplitDocuments() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = writer(.llmc, dir, shardTokens: 4)
        try w.add([1, 2, 3])
        try w.add([4, 5])
        try w.finish()
        func header(_ count: Int32) -> [UInt8] { le([Int32(20240520), 1, count]) + [UInt8](repeating: 0, count: 1012) }
        #expect(bytes(dir + "/train-00000.bin") == header(4) + le([UInt16(0), 1, 2, 3]))
        #expect(bytes(dir + "/train-00001.bin") == header(3) + le([UInt16(0), 4, 5]))
        #expect(w.finished.map(\.tokens) == [4, 3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["train-00000.bin", "train-00001.bin"])
        #expect(try TokenWidth.forFormat(.llmc, vocabularySize: 100_000) == .uint32)
    }

    @Test func nanoGPTIsOneRawFilePerSplit() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = writer(.nanogpt, dir, shardTokens: 2)
        try w.add([1, 2])
        try w.add([3])
        try w.finish()
        #expect(bytes(dir + "/train.bin") == le([UInt16(1), 2, 0, 3, 0]))
        #expect(throws: QuarryError.self) { try TokenWidth.forFormat(.nanogpt, vocabularySize: 70_000) }
    }
}

@Suite struct WideLLMCTests {
    @Test func uint32ShardsUseLlama3Header() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = writer(.llmc, dir, width: .uint32)
        try w.add([100_000])
        try w.finish()
        let data = bytes(dir + "/train-00000.bin")
        #expect(Array(data.prefix(12)) == le([Int32(20240801), 7, 2]))
        #expect(Array(data.suffix(8)) == le([UInt32(0), 100_000]))
        let reader = try ShardReader(path: dir + "/train-00000.bin", format: .llmc, width: .uint32)
        #expect(reader.llmcHeaderProblem(expectedTokens: 2) == nil)
        #expect(reader.llmcHeaderProblem(expectedTokens: 3) == "header says 2 tokens, the manifest 3")
        #expect(reader.tokenCount == 2 && reader.token(0) == 0 && reader.token(1) == 100_000)
        // Read as uint16 the same bytes are another layout: the header says so.
        #expect(try ShardReader(path: dir + "/train-00000.bin", format: .llmc, width: .uint16).llmcHeaderProblem(expectedTokens: 2) == "bad llm.c magic 20240801")
    }
}

/// Issue 22, R3, R14 and the verify gaps of R20: what a shard directory's files say is checked.
@Suite struct HostileShardTests {
    @Test func indexCountsPastTheFileAreCorruptNotACrash() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = writer(.megatron, dir)
        try w.add([1, 2, 3])
        try w.finish()
        let path = dir + "/train-00000.idx"
        let good = bytes(path)
        #expect(try MegatronIndex(path: path).sequenceCount == 1)
        for offset in [18, 26] {
            var bad = good
            for i in offset..<(offset + 8) { bad[i] = 0xFF }
            precondition(FileManager.default.createFile(atPath: path, contents: Data(bad)), "cannot write a test file")
            #expect(performing: { try MegatronIndex(path: path) }, throws: { "\($0)".contains("do not fit") })
        }
    }

    /// A manifest whose shard paths leave its directory, or that lists impossible settings.
    @Test func manifestPathsAreConfinedAndSettingsChecked() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = writer(.megatron, dir)
        try w.add([1, 2, 3])
        try w.add([9000])                       // outside a vocabulary of 100
        try w.finish()
        let tokenizer = Manifest.Tokenizer(path: "t.json", sha256: "x", vocabSize: 100, endOfTextID: 0)
        var manifest = try Manifest.finished(shards: w.finished, tokenizer: tokenizer, format: .megatron, source: "test", documents: 2)
        try manifest.save(directory: dir)
        #expect(try ShardTools.verify(directory: dir) == ["train-00000.bin: 1 token id(s) outside the vocabulary of 100"])
        manifest.shards.append(manifest.shards[0])
        manifest.tokenizer.vocabSize = 0
        try manifest.save(directory: dir)
        let problems = try ShardTools.verify(directory: dir)
        #expect(problems.contains { $0.contains("vocab_size 0") } && problems.contains { $0.contains("listed twice") })
        for hostile in ["../../outside.bin", "/etc/passwd", ".hidden", ""] {
            manifest.shards[0].path = hostile
            try manifest.save(directory: dir)
            #expect("\(hostile)", performing: { try Manifest.load(directory: dir) }, throws: { "\($0)".contains("not a file of") })
            #expect(throws: QuarryError.self) { try ShardTools.verify(directory: dir) }
            #expect(throws: QuarryError.self) { try ShardTools.merge([dir], into: dir + "/merged") }
        }
    }
}
