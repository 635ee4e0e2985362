import Foundation
import Testing
@testable import QuarryIngest

/// The filters datatrove runs, with datatrove's decisions: every expected verdict and word list
/// below is what datatrove 0.10.1 (with spaCy 3's English tokenizer) gives for the same text.
@Suite struct CleaningFilterTests {
    static func words(_ text: String) -> [String] {
        WordSplitter.words(Array(text.unicodeScalars)).map { String(String.UnicodeScalarView($0)) }
    }

    @Test func wordsAsSpaCySplitsThem() {
        #expect(Self.words("Mr. Smith didn't go to Washington, D.C. today.")
                == ["Mr.", "Smith", "did", "n't", "go", "to", "Washington", ",", "D.C.", "today", "."])
        #expect(Self.words("Hello world.Next one") == ["Hello", "world", ".", "Next", "one"])
        #expect(Self.words("see www.example.com.") == ["see", "www.example.com", "."])
        #expect(Self.words("wie z.B. verschiedene") == ["wie", "z.", "B.", "verschiedene"])
        #expect(Self.words("vektorer etc. mellem") == ["vektorer", "etc", ".", "mellem"])
        #expect(Self.words("a well-known (and \"quoted\") state-of-the-art idea...")
                == ["a", "well", "-", "known", "(", "and", "\"", "quoted", "\"", ")", "state", "-", "of", "-", "the", "-", "art", "idea", "..."])
        #expect(Self.words("It costs $5.50, or 20%! Really?! Yes.")
                == ["It", "costs", "$", "5.50", ",", "or", "20", "%", "!", "Really", "?", "!", "Yes", "."])
        #expect(Self.words("한국어 문장입니다. 두 번째 문장.") == ["한국어", "문장입니다", ".", "두", "번째", "문장", "."])
        #expect(Self.words("Visit https://example.org/a-b_c?x=1, then e-mail me@host.com; ok")
                == ["Visit", "https://example.org/a-b_c?x=1", ",", "then", "e", "-", "mail", "me@host.com", ";", "ok"])
    }

    @Test func sentencesAsTheSentencizerCountsThem() {
        func count(_ s: String) -> Int { WordSplitter.sentenceCount(Array(s.unicodeScalars)) }
        #expect(count("Mr. Smith didn't go to Washington, D.C. today.") == 1)
        #expect(count("Hello world.Next one") == 2)
        #expect(count("vektorer etc. mellem") == 2)
        #expect(count("It costs $5.50, or 20%! Really?! Yes.") == 3)
        #expect(count("한국어 문장입니다. 두 번째 문장.") == 2)
        // Whitespace beyond a word's one trailing space is a token, and starts a sentence after a period.
        #expect(count("p   .   .   . x") == 4)
        #expect(count("a .\tb") == 2)
        #expect(count("Hello.  World.  Again") == 3)
        #expect(count("a.  b") == 1)
    }

    @Test func gopherRepetition() {
        let filter = RepetitionFilter()
        func reason(_ text: String) -> DropReason? { filter.apply(text, language: nil).dropReason }
        #expect(filter.apply("alpha beta\ngamma delta\nalpha beta\nalpha beta", language: nil) == .drop(.duplicateLineFraction, value: 0.5))
        #expect(reason("one two three\n\none two three\n\nfour five six") == .duplicateParagraphFraction)
        #expect(reason("the cat sat on the mat and the cat ran to the cat and the cat") == .top2Gram)
        // A short text: its first 4-gram alone covers over 16% of it (datatrove drops it too).
        #expect(reason("The quick brown fox jumps over the lazy dog. It was not amused, and said so at length to anyone who would listen.") == .top4Gram)
        let unique = (0..<120).map { "w" + String(1000 + $0).dropFirst() + "x" }
        let phrase = "alpha beta gamma delta epsilon"
        #expect(reason(unique.joined(separator: " ") + " " + Array(repeating: phrase, count: 6).joined(separator: " ")) == .duplicated8NGrams)
        #expect(reason(unique.prefix(90).joined(separator: " ") + " " + Array(repeating: phrase, count: 3).joined(separator: " ")) == nil)
        #expect(reason(unique.prefix(60).joined(separator: " ") + " " + Array(repeating: phrase, count: 3).joined(separator: " ")) == .duplicated10NGrams)
        #expect(reason("") == .empty)
    }

    @Test func finewebQuality() {
        let filter = FineWebQualityFilter()
        func reason(_ text: String) -> DropReason? { filter.apply(text, language: nil).dropReason }
        #expect(reason("first line without end\nsecond line without end\nthird line that ends.\nfourth line no\nfifth\nsixth\nseventh\neighth\nninth a b\n") == .linePunctuationRatio)
        #expect(reason("Short one.\nAnother short.\nA third short line.\nThis line is quite a bit longer than thirty characters in total.") == .shortLineRatio)
        #expect(reason("This line repeats and is fairly long for the test.\nThis line repeats and is fairly long for the test.\nSomething else entirely that is also long enough here.") == .characterDuplicateRatio)
        #expect(reason(["Incomprehensibilitiesnotwithstanding.", "Counterrevolutionarieseverywheretonight.", "Internationalizationconsiderations.",
                        "Uncharacteristicallystraightforward.", "Electroencephalographseverywheretoday."].joined(separator: "\n")) == .listRatio)
        #expect(reason("This is a normal paragraph of text that ends properly.\nAnd another line follows it, also ending with a period.") == nil)
        #expect(reason(" \n\n") == .empty)
    }

    @Test func c4EditsTheTextAndDropsWholeDocuments() {
        let filter = C4Filter()
        let page = "Title without punctuation\nThis is the first sentence. This is the second one[1]. And a third!\nEnable javascript to see this page.\nShort line.\nWe use cookies, see our privacy policy.\nThe fourth sentence is here. And the fifth one is here too.\n"
        #expect(filter.apply(page, language: nil) == .keep(text: "This is the first sentence. This is the second one. And a third!\nThe fourth sentence is here. And the fifth one is here too."))
        #expect(filter.apply("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\nMore text here, one two three.", language: nil).dropReason == .loremIpsum)
        #expect(filter.apply("This is fine. It has sentences. Many of them.\nBut this line has a { brace in it.\nAnd two more. Three more.", language: nil).dropReason == .curlyBracket)
        #expect(filter.apply("Only one sentence here, sadly.\nAnd another single one.", language: nil) == .drop(.tooFewSentences, value: 2))
        let unchanged = "One sentence here. Two sentences here. Three sentences here.\nFour sentences now. Five sentences now."
        #expect(filter.apply(unchanged, language: nil) == .kept)
    }

    @Test func chainRunsInOrderOnTheEditedText() throws {
        let chain = try FilterChain(parsing: "c4,fineweb")
        #expect(chain.names == [.c4, .fineweb])
        let page = "Menu\nHome\nAbout\nContact\nNews\nThis is the first sentence. This is the second one. And a third!\nThe fourth sentence is here. And the fifth one is here too."
        // Alone, FineWeb drops the page for its short lines; after C4 removed them it passes.
        #expect(FineWebQualityFilter().apply(page, language: nil).dropReason == .shortLineRatio)
        #expect(chain.apply(page, language: nil) == .keep(text: "This is the first sentence. This is the second one. And a third!\nThe fourth sentence is here. And the fifth one is here too."))
        #expect(throws: (any Error).self) { try FilterChain(parsing: "c4,gopher") }
        #expect(DropReason.top3Gram.filter == "gopher-repetition" && DropReason.listRatio.filter == "fineweb" && DropReason.stopWords.filter == "gopher-quality")
    }

    @Test func piiAsDatatroveReplacesIt() {
        // One formatter over the texts in order: the replacements' turn goes on from text to text.
        var pii = PIIFormatter()
        #expect(pii.format("Write to jane.doe@mail.example.net or bob@host.co.uk.") == "Write to email@example.com or firstname.lastname@example.org.")
        // Public addresses only; the regex has no word boundaries; a leading zero is not an address.
        #expect(pii.format("Server 8.8.8.8, gateway 192.168.1.1, odd 1234.5.6.7 and 1.2.3.456 and 01.2.3.4.")
                == "Server 22.214.171.124, gateway 192.168.1.1, odd 1126.96.36.199 and 188.8.131.526 and 01.2.3.4.")
        #expect(pii.format("no@dots and a@b.c- end") == "no@dots and email@example.com- end")
        #expect(pii.format("user+tag@sub-domain.example.com, again x@y.org") == "firstname.lastname@example.org, again email@example.com")
        #expect(pii.format("nothing to see") == "nothing to see")
    }

    @Test func decontaminationMatchesThirteenWordRuns() {
        let set = Decontaminator(texts: ["The quick brown fox jumps over the lazy dog near the river bank today, said Ann.",
                                         "Granite is a very coarse-grained igneous rock.", // 8 words: matched whole
                                         "Too short to count."])                           // ignored
        #expect(set.textsUsed == 2)
        let copy = "Notes. THE quick brown fox -- jumps over the lazy dog, near the river bank: more text follows"
        #expect(set.apply(copy, language: nil) == .drop(.contaminated, value: 13))
        #expect(set.apply("the quick brown fox jumps over the lazy dog near the river", language: nil) == .kept)   // 12 words
        #expect(set.apply("We saw that granite is a very coarse grained igneous rock indeed.", language: nil) == .drop(.contaminated, value: 8))
        #expect(set.apply("too short to count and nothing else", language: nil) == .kept)
        #expect(DropReason.contaminated.filter == "decontaminate")
    }

    @Test func urlBlocklistAsDatatroveChecksIt() throws {
        // Expected reasons: datatrove's URLFilter with the same lists (its integrated lists off).
        let list = try URLBlocklist(parsing: "# domains\nexample.com\nsub.other.org\nbbc.co.uk\nhttps://good.net/exact/page\ncasino\nsoft:free\nsoft:bonus\nsubword:xxbadxx\n")
        let expected: [(String, DropReason?)] = [
            ("https://www.example.com/a", .blockedDomain), ("https://example.com", .blockedDomain),
            ("http://sub.other.org/x", .blockedSubdomain), ("http://other.org/x", nil), ("http://news.bbc.co.uk/y", .blockedDomain),
            ("https://good.net/exact/page", .blockedURL), ("https://good.net/exact/page2", nil),
            ("https://x.net/casino-night", .bannedWord), ("https://x.net/CASINO", nil),      // words keep their case, as datatrove's
            ("https://x.net/free-bonus", .softBannedWords), ("https://x.net/free", nil), ("https://x.net/a-XXBADXX-b", .bannedSubword),
            // Host names are case-insensitive here (datatrove compares them as written).
            ("https://user@Www.Example.COM:8080/p", .blockedDomain),
        ]
        for (url, reason) in expected { #expect(list.reason(for: url) == reason, "\(url)") }
        var chain = FilterChain(names: [])
        chain.urlBlocklist = list
        #expect(chain.apply("any text", language: nil, url: "https://example.com/") == .drop(.blockedDomain, value: 1))
        #expect(chain.apply("any text", language: nil) == .kept)
        #expect(throws: (any Error).self) { try URLBlocklist(parsing: "two words\n") }
        #expect(throws: (any Error).self) { try URLBlocklist(parsing: "# nothing\n\n") }
        #expect(DropReason.bannedSubword.filter == "url-blocklist")
    }

    @Test func qualityModelKeepsWhatTheClassifierScoresHighEnough() throws {
        // The tiny softmax model of FastTextModelTests: "rock" gives label b e^-1.125 / (e^1.75 + e^-1.125)
        // ≈ 0.053, "road" e^0.875 / (e^2.25 + e^0.875) ≈ 0.202 (each + 1e-5, as fastText reports).
        let model = try FastTextModel(bytes: FastTextModelTests.tinyModel(loss: 3), name: "tiny.bin")
        let filter = try QualityModelFilter(model: model, label: "b", threshold: 0.1)
        let rock = 1 / (1 + exp(2.875)) + 1e-5, road = 1 / (1 + exp(1.375)) + 1e-5
        guard case .drop(.qualityModel, let value) = filter.apply("rock", language: nil) else { Issue.record("rock kept"); return }
        #expect(abs(value - rock) < 1e-6)
        #expect(filter.apply("road", language: nil) == .kept)
        #expect(abs(Double(filter.score("ro\nad")) - road) < 1e-6, "newlines removed: 'ro\\nad' is the word road")
        #expect(throws: (any Error).self) { try QualityModelFilter(model: model, label: "c", threshold: 0.5) }
        #expect(DropReason.qualityModel.filter == "quality-model")
    }
}
