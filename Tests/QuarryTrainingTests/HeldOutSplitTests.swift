import Foundation
import Testing
import QuarryCore
@testable import QuarryTraining

@Suite struct HeldOutSplitTests {
    /// 60 families of 4 texts sharing a 30-word paragraph (Jaccard ≈ 0.65 between members over
    /// word 5-grams), each member with its own sentence, and 100 unrelated texts.
    static let families = (0..<60).map { family in
        let shared = (0..<30).map { "f\(family)w\($0)" }.joined(separator: " ")
        return (0..<4).map { "\(shared)\nMember \($0) of family \(family) adds this one sentence." }
    }
    static let loners = (0..<100).map { loner in (0..<12).map { "l\(loner)w\($0)" }.joined(separator: " ") }

    @Test func nearDuplicatesAreHeldOutTogether() {
        let texts = Self.families.flatMap { $0 } + Self.loners
        let tenth = HeldOutTenth(texts)
        #expect(tenth.groupCount == 160)
        for (f, family) in Self.families.enumerated() {
            let flags = (0..<4).map { tenth.isHeldOut[f * 4 + $0] }
            #expect(Set(flags).count == 1, "family \(f) split: \(flags)")
        }
        // Binomial(60, 0.1) families: 1…14 holds with probability > 0.999 (the hash is fixed, so this never flakes).
        let heldFamilies = (0..<60).filter { tenth.isHeldOut[$0 * 4] }.count
        #expect(heldFamilies >= 1 && heldFamilies <= 14, "\(heldFamilies) families held out")
        // A text with no near-duplicate is held out exactly when its own content hash is 0 modulo 10.
        for (i, loner) in Self.loners.enumerated() {
            #expect(tenth.isHeldOut[240 + i] == (UInt64(bitPattern: contentHash(loner)) % 10 == 0))
        }
    }

    @Test func theChoiceDependsOnTheTextsNotTheirOrder() {
        let texts = Self.families.flatMap { $0 } + Self.loners
        var generator = SystemRandomNumberGenerator()
        let shuffled = texts.shuffled(using: &generator)
        let inOrder = Dictionary(uniqueKeysWithValues: zip(texts, HeldOutTenth(texts).isHeldOut))
        let again = HeldOutTenth(shuffled)
        #expect(again.groupCount == 160)
        #expect(zip(shuffled, again.isHeldOut).allSatisfy { inOrder[$0.0] == $0.1 })
        #expect(HeldOutTenth([]).groupCount == 0)
    }

    @Test func aSplitBalancesTinySetsAndRefusesOneExample() throws {
        var split = HeldOutTenth.Split(["a", "b"], texts: ["first text", "second text"])
        try split.balance(file: "f")
        #expect(split.kept.count == 1 && split.heldOut.count == 1)
        var one = HeldOutTenth.Split(["a"], texts: ["only text"])
        #expect(throws: QuarryError.self) { try one.balance(file: "f") }
    }
}
