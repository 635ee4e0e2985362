import Testing
@testable import QuarryIngest

@Suite struct FilterTests {
    @Test func gopherRules() {
        let filter = QualityFilter()
        let good = Array(repeating: "the masons cut grey granite blocks with care and patience", count: 8).joined(separator: " ")
        #expect(filter.check(good) == nil)
        #expect(filter.check("the stone and the valley") == .tooFewWords)
        #expect(filter.check(Array(repeating: "a i o u e y", count: 20).joined(separator: " ")) == .meanWordLength)
        #expect(filter.check(Array(repeating: "#tag the stone and wall", count: 15).joined(separator: " ")) == .symbolRatio)
        let bullets = (0..<20).map { _ in "- the stone and the granite wall of" }.joined(separator: "\n")
        #expect(filter.check(bullets) == .bulletLines)
        let ellipses = (0..<20).map { _ in "the stone and the granite wall of it..." }.joined(separator: "\n")
        #expect(filter.check(ellipses) == .symbolRatio || filter.check(ellipses) == .ellipsisLines)
        #expect(filter.check(Array(repeating: "123 456 789 the 000 111", count: 12).joined(separator: " ")) == .alphabeticWords)
        #expect(filter.check(Array(repeating: "granite slate basalt marble gneiss", count: 12).joined(separator: " ")) == .stopWords)
    }

    @Test func exactAndNearDuplicates() {
        let words = (0..<300).map { "word\($0 % 97)x\($0 % 13)" }
        let original = words.joined(separator: " ")
        var near = words
        near[150] = "changed"
        var different = words
        different.shuffle()
        var dedup = Deduplicator(mode: .near)
        #expect(dedup.judge(original) == .unique)
        #expect(dedup.judge("  " + original.uppercased() + " ") == .exactDuplicate) // normalised: case and spaces
        #expect(dedup.judge(near.joined(separator: " ")) == .nearDuplicate)
        #expect(dedup.judge("an entirely different document about rivers and bridges and the quarry workers there") == .unique)
        var exactOnly = Deduplicator(mode: .exact)
        #expect(exactOnly.judge(original) == .unique)
        #expect(exactOnly.judge(near.joined(separator: " ")) == .unique)
    }
}
