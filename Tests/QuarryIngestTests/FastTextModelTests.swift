import Foundation
import Testing
import QuarryCore
import QuarryTestSupport
@testable import QuarryIngest

/// fastText models read and run as fastText does: small models written here byte by byte, with
/// answers worked out by hand; the real lid.176 when the models cache has it; damaged files.
@Suite struct FastTextModelTests {
    /// A supervised model in fastText's format: words "</s>", "rock", "road", labels a and b,
    /// dimension 2, no subwords (maxn 0), no buckets; `loss` 1 (hierarchical softmax) or 3 (softmax).
    static func tinyModel(loss: Int32, version: Int32 = 12, labelCounts: (Int64, Int64) = (7, 3)) -> [UInt8] {
        var out: [UInt8] = []
        func int32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func int64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func float(_ v: Float) { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        int32(793_712_314); int32(version)
        // dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, t
        for v: Int32 in [2, 5, 5, 1, 5, 1, loss, 3, 0, 0, 0, 100] { int32(v) }
        withUnsafeBytes(of: (1e-4 as Double).bitPattern.littleEndian) { out += $0 }
        int32(5); int32(3); int32(2); int64(100); int64(-1)
        for (word, count, type) in [("</s>", 10, 0), ("rock", 5, 0), ("road", 5, 0), ("__label__a", labelCounts.0, 1), ("__label__b", labelCounts.1, 1)] as [(String, Int64, UInt8)] {
            out += Array(word.utf8) + [0]; int64(count); out.append(type)
        }
        out.append(0)   // input not quantised
        int64(3); int64(2)
        for v: Float in [0.5, -0.5, 2, 1, -1, 3] { float(v) }   // rows of </s>, rock, road
        out.append(0)   // output not quantised
        int64(2); int64(2)
        for v: Float in [1, 2, -1, 0.5] { float(v) }
        return out
    }

    @Test func softmaxOverTheMeanOfTheLinesRows() throws {
        let model = try FastTextModel(bytes: Self.tinyModel(loss: 3), name: "tiny.bin")
        // "rock" + "</s>": hidden = ((2, 1) + (0.5, -0.5)) / 2 = (1.25, 0.25); a label token and an
        // unknown word add nothing (no subwords, no buckets); newlines are spaces.
        let predicted = model.predict("rock granite\n__label__b", k: 2)
        let a = 1.25 * 1 + 0.25 * 2, b = 1.25 * -1 + 0.25 * 0.5
        let pa = exp(a) / (exp(a) + exp(b))
        #expect(predicted.map(\.label) == ["__label__a", "__label__b"])
        #expect(abs(Double(predicted[0].probability) - (pa + 1e-5)) < 1e-6, "fastText reports p + 1e-5")
        #expect(abs(Double(predicted[1].probability) - (1 - pa + 1e-5)) < 1e-6)
        #expect(model.predict("rock", k: 1).count == 1)
        #expect(model.predict("road", k: 2, threshold: 0.5).count == 1, "labels under the threshold are left out")
    }

    /// Two labels: the root's sigmoid f goes to the more frequent label (a), 1 − f to the other.
    @Test func hierarchicalSoftmaxWalksTheHuffmanTree() throws {
        let model = try FastTextModel(bytes: Self.tinyModel(loss: 1), name: "tiny.bin")
        let hidden = (x: (-1.0 + 0.5) / 2, y: (3.0 - 0.5) / 2)   // "road" + "</s>"
        let f = 1 / (1 + exp(-(hidden.x * 1 + hidden.y * 2)))
        let predicted = model.predict("road", k: 2)
        #expect(predicted.first?.label == (f >= 0.5 ? "__label__a" : "__label__b"))
        let pa = try #require(predicted.first { $0.label == "__label__a" }).probability
        #expect(abs(Double(pa) - (f + 1e-5)) < 1e-6)
    }

    /// A model whose output weights are NaN (found by the fuzzer: one-vs-all's table lookup
    /// converted the NaN score to an index and trapped) scores no label instead of crashing.
    @Test(arguments: [Int32(1), 3, 4]) func nanWeightsScoreNothing(loss: Int32) throws {
        var bytes = Self.tinyModel(loss: loss)
        let nan = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) }
        bytes.replaceSubrange((bytes.count - 16)..<bytes.count, with: nan + nan + nan + nan)
        let model = try FastTextModel(bytes: bytes, name: "nan.bin")
        #expect(model.predict("rock road", k: 2).isEmpty)
    }

    @Test func theHashIsFNV1aOverSignedBytes() {
        #expect(FastTextModel.hash([UInt8]()) == 2_166_136_261)
        #expect(FastTextModel.hash(Array("a".utf8)) == 0xe40c_292c)          // FNV-1a's published test vectors
        #expect(FastTextModel.hash(Array("foobar".utf8)) == 0xbf9c_f968)
        // A byte ≥ 0x80 is XORed sign-extended (0xFFFFFFC3), not as 0xC3.
        #expect(FastTextModel.hash([0xC3]) == (UInt32(2_166_136_261) ^ 0xFFFF_FFC3) &* 16_777_619)
    }

    @Test func damagedFilesAreOneLineErrors() throws {
        let good = Self.tinyModel(loss: 3)
        #expect(throws: QuarryError.self) { try FastTextModel(bytes: Array("not a model at all".utf8), name: "x") }
        #expect(throws: QuarryError.self) { try FastTextModel(bytes: Self.tinyModel(loss: 3, version: 13), name: "x") }
        #expect(throws: QuarryError.self) { try FastTextModel(bytes: Self.tinyModel(loss: 2), name: "x") }   // negative sampling: word vectors
        for cut in stride(from: 8, to: good.count, by: 7) {
            #expect(throws: QuarryError.self) { try FastTextModel(bytes: Array(good[..<cut]), name: "x") }
        }
        // Label counts past fastText's 10^15 placeholder make a node its own child: refused, not searched forever (fuzzer).
        #expect(throws: QuarryError.self) { try FastTextModel(bytes: Self.tinyModel(loss: 1, labelCounts: (1 << 53, 3)), name: "x") }
        #expect(throws: QuarryError.self) { try FastTextModel(bytes: Self.tinyModel(loss: 1, labelCounts: (1 << 53, 1 << 53)), name: "x") }
        #expect(throws: Never.self) { try FastTextModel(bytes: Self.tinyModel(loss: 3, labelCounts: (1 << 53, 3)), name: "x") }
        // A dictionary size the file cannot hold is refused before anything is allocated.
        var huge = good
        huge.replaceSubrange(64..<68, with: [0xFF, 0xFF, 0xFF, 0x7F])
        do { _ = try FastTextModel(bytes: huge, name: "huge.bin"); Issue.record("accepted") } catch let error as QuarryError {
            #expect("\(error)".contains("huge.bin"))
        }
    }

    /// lid.176 (fetched by scripts/fetch-models): fastText's own answers for three lines.
    @Test(.enabled(if: TestPaths.model("lid.176.ftz") != nil)) func lid176AnswersAsFastText() throws {
        let identifier = try LanguageIdentifier(modelPath: TestPaths.model("lid.176.ftz"))
        let german = identifier.identify("Das ist ein kleiner Test auf Deutsch", k: 3)
        #expect(german.map(\.language) == ["de", "pl", "es"])
        #expect(abs(german[0].score - 0.9999927282333374) < 1e-6)
        let russian = identifier.identify("Это тест на русском языке")
        #expect(russian.first?.language == "ru" && abs((russian.first?.score ?? 0) - 0.9746555089950562) < 1e-6)
        #expect(identifier.identify("").first?.language == "en", "an empty line is its end-of-line token alone, as in fastText")
    }
}
