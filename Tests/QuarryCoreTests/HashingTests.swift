import Foundation
import Testing
@testable import QuarryCore

@Suite struct HashingTests {
    @Test func sha256KnownAnswers() {
        // FIPS 180-4 examples, and a file read in chunks gives the digest of its bytes.
        var empty = SHA256()
        empty.update([UInt8]())
        #expect(empty.hexDigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var abc = SHA256()
        abc.update(Array("abc".utf8))
        #expect(abc.hexDigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let path = NSTemporaryDirectory() + "quarry-sha-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        FileManager.default.createFile(atPath: path, contents: Data(million))
        #expect(SHA256.digest(ofFile: path)?.hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        #expect(SHA256.digest(ofFile: path)?.bytes == 1_000_000)
        #expect(SHA256.digest(ofFile: path + "-missing") == nil)
        #expect(throws: QuarryError.self) { try SHA256.hexDigest(ofFile: path + "-missing") }
    }

    @Test func fnv1aAndSplitMixKnownAnswers() {
        // FNV-1a 64 of "a" (the reference vectors), SplitMix64's first outputs for seed 0
        // (Vigna's reference implementation).
        #expect(FNV1a.hash("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(stableID("a") == "af63dc4c8601ec8c")
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xe220_a839_7b1d_cdaf)
        #expect(rng.next() == 0x6e78_9e6a_a1b9_65f4)
        #expect(contentHash("a") == Int64(bitPattern: SplitMix64.finalise(0xaf63_dc4c_8601_ec8c)))
    }

    @Test func minHashEstimatesJaccardSimilarity() {
        let words = (0..<400).map { "w\($0)" }
        let a = words.joined(separator: " ")
        // The same words, a tenth replaced: the shingle sets overlap less than the words.
        let b = words.enumerated().map { $0.offset % 10 == 0 ? "x\($0.offset)" : $0.element }.joined(separator: " ")
        let (sa, sb) = (MinHash.signature(a), MinHash.signature(b))
        #expect(sa.count == MinHash.hashCount)
        #expect(MinHash.signature(a.uppercased()) == sa, "ASCII letters are case-folded")
        // Shingles of 5 words: 396 each, 196 unchanged in common, Jaccard 196 / 596 ≈ 0.33.
        let agreement = Double(zip(sa, sb).filter { $0 == $1 }.count) / Double(sa.count)
        #expect(abs(agreement - 196.0 / 596.0) < 0.15)
        #expect(MinHash.bandKeys(sa, rowsPerBand: 8).count == 14)
    }

    @Test func jsonLinesKindAndPlaces() throws {
        #expect(JSONLines.kind(ofHead: Array("  \n{\"text\": 1}".utf8)) == .jsonl)
        #expect(JSONLines.kind(ofHead: Array("plain text".utf8)) == .plain)
        #expect(JSONLines.kind(ofHead: Array("   ".utf8)) == .plain)
        let path = NSTemporaryDirectory() + "quarry-jsonl-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        FileManager.default.createFile(atPath: path, contents: Data("{\"text\": \"a\"}\n\n{broken\n".utf8))
        var seen: [String] = []
        #expect(throws: QuarryError.self) {
            try JSONLines.forEachRecord(in: path) { json, place in seen.append((json["text"]?.string ?? "") + "@" + place) }
        }
        #expect(seen == ["a@\(path):1"])
    }
}
