import Testing
@testable import QuarryTokenizer
@Test func alphabetIsABijection() { #expect(Set(ByteLevelAlphabet.characters).count == 256) }
