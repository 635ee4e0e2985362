import Foundation
import Testing
@testable import QuarryCore
@testable import QuarryShards

func scratchDirectory() -> String {
    let path = NSTemporaryDirectory() + "quarry-shards-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

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
