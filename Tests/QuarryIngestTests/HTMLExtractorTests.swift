import Foundation
import Testing
@testable import QuarryIngest
import QuarryCore

@Suite struct HTMLExtractorTests {
    @Test func samplePageKeepsArticleDropsBoilerplate() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: TestPaths.sample("web/quarrying-news.html"))))
        let page = try #require(HTMLExtractor.extract(bytes))
        #expect(page.title == "New slate quarry opens in the valley | Stone Weekly")
        for kept in ["A new slate quarry opened on Monday", "Concerns about traffic", "Some residents worry about lorries",
                     "Visitor centre planned for next year"] {
            #expect(page.text.contains(kept), "missing: \(kept)")
        }
        for dropped in ["window.tracker", "font-family", "About us", "We use cookies", "Related stories",
                        "Granite prices", "All rights reserved", "Share on social", "2 comments"] {
            #expect(!page.text.contains(dropped), "boilerplate kept: \(dropped)")
        }
        // Comment posts are text, kept after the article (as trafilatura does by default), without their heading.
        if let comment = page.text.range(of: "Great news for the valley"), let article = page.text.range(of: "Visitor centre planned") {
            #expect(comment.lowerBound > article.upperBound)
        }
        // Blocks are lines: the heading stands alone.
        #expect(page.text.split(separator: "\n").contains("Concerns about traffic"))
    }

    @Test func declaredCharsetIsHonoured() throws {
        let body = "<p>Caf\u{E9} cr\u{E8}me br\u{FB}l\u{E9}e, na\u{EF}ve fa\u{E7}ade and \u{201C}quotes\u{201D} in a paragraph long enough to count as prose.</p>"
        let expected = "Caf\u{E9} cr\u{E8}me br\u{FB}l\u{E9}e, na\u{EF}ve fa\u{E7}ade and \u{201C}quotes\u{201D} in a paragraph long enough to count as prose."
        // windows-1252 via <meta>
        let cp1252 = try #require(("<html><head><meta charset=\"windows-1252\"><title>T</title></head><body>" + body + "</body></html>")
            .data(using: .windowsCP1252))
        #expect(HTMLExtractor.extract(Array(cp1252))?.text == expected)
        // ISO-8859-1 declared only in the HTTP header (read as windows-1252, as browsers do)
        let latin1 = try #require(("<html><body>" + body.replacingOccurrences(of: "\u{201C}", with: "\"").replacingOccurrences(of: "\u{201D}", with: "\"") + "</body></html>").data(using: .isoLatin1))
        #expect(HTMLExtractor.extract(Array(latin1), declaredCharset: "ISO-8859-1")?.text.hasPrefix("Caf\u{E9} cr\u{E8}me") == true)
        // UTF-16 with a BOM
        var utf16: [UInt8] = [0xFF, 0xFE]
        for unit in ("<html><body>" + body + "</body></html>").utf16 { utf16 += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        #expect(HTMLExtractor.extract(utf16)?.text == expected)
    }

    @Test func brokenHTMLIsRecovered() {
        let broken = "<html><body><div><p>Unclosed paragraph with enough words to be the main content of this page<p>Second <b>bold <i>nested</b> text</div></span></body>"
        let page = HTMLExtractor.extract(Array(broken.utf8))
        #expect(page?.text.contains("Unclosed paragraph with enough words") == true)
        #expect(page?.text.contains("Second bold nested text") == true)
    }

    /// Class, id, role and style values decide what is furniture: words split at punctuation and
    /// camelCase humps, whole whitespace tokens, ASCII case ignored; a token inside a longer
    /// name ("label-hidden") is not the token.
    @Test func classAndStyleNamesPruneBoilerplate() throws {
        func prose(_ marker: String) -> String {
            "\(marker) stands in a sentence long enough to be prose, with commas, clauses and a full stop."
        }
        let article = (1...12).map { "<p>\(prose("BODY\($0)"))</p>" }.joined()
        let page = """
            <html><head><title>T</title></head><body><div class="Article-Body">\(article)
            <div class="siteShareBar"><p>\(prose("CAMELSHARE"))</p></div>
            <div class="x SR-ONLY y"><p>\(prose("SRONLY"))</p></div>
            <div class="label-hidden"><p>\(prose("LABELHIDDEN"))</p></div>
            <div style="DISPLAY : none"><p>\(prose("STYLENONE"))</p></div>
            <div aria-hidden="true"><p>\(prose("ARIAHIDDEN"))</p></div>
            <div aria-hidden="false"><p>\(prose("ARIAVISIBLE"))</p></div>
            <div role="Navigation"><p>\(prose("ROLENAV"))</p></div>
            <div id="comment_list-2"><p>\(prose("COMMENTS"))</p></div>
            </div></body></html>
            """
        let text = try #require(HTMLExtractor.extract(Array(page.utf8))).text
        for kept in ["BODY1", "BODY12", "LABELHIDDEN", "ARIAVISIBLE"] { #expect(text.contains(kept), "dropped: \(kept)") }
        for dropped in ["CAMELSHARE", "SRONLY", "STYLENONE", "ARIAHIDDEN", "ROLENAV"] {
            #expect(!text.contains(dropped), "kept: \(dropped)")
        }
        // A comment section (id "comment_list") is no part of the article: it may follow it, never precede it.
        if let comments = text.range(of: "COMMENTS"), let body = text.range(of: "BODY12") {
            #expect(comments.lowerBound > body.upperBound)
        }
    }

    /// libxml2 allocates each page's DOM from a per-thread arena dropped after the page: pages
    /// parsed one after another on several threads, broken ones (libxml2 records errors) among
    /// them, small nodes and text nodes over the arena's large-block limit, all give the same
    /// text as when each is parsed alone.
    @Test func pagesParsedBackToBackOnThreadsMatchSingleParses() throws {
        let longParagraph = String(repeating: "Stone, slate and granite were cut here for a century. ", count: 2_000)
        let pages: [String] = [
            "<html><head><title>One</title></head><body><article><p>\(longParagraph)</p></article></body></html>",
            "<html><body><div><p>Unclosed paragraph with enough words to be the main content of this page<p>Second <b>bold <i>nested</b> text</div></span></body>",
            "<html><body>" + (1...300).map { "<div class=\"c\($0)\"><p>Item \($0), a sentence long enough to count as prose for the filter.</p></div>" }.joined() + "</body></html>",
            "<!DOCTYPE html><html><body><p>&bogus; &#xD800; <unknown-tag a=b>entities and unknown tags, still a paragraph of text.</p></body></html>",
            "<html><body><table><tr><td>cell one with a long enough sentence of text in it</td><td>\(longParagraph.prefix(90_000))</td></tr></table></body></html>",
        ]
        let expected = pages.map { HTMLExtractor.extract(Array($0.utf8))?.text }
        #expect(expected.allSatisfy { $0?.isEmpty == false })
        let rounds = 40
        let results = ResultBox(count: 2 * rounds * pages.count)
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            for round in 0..<rounds {
                for (i, page) in pages.enumerated() {
                    results.set((thread * rounds + round) * pages.count + i, HTMLExtractor.extract(Array(page.utf8))?.text)
                }
            }
        }
        for slot in 0..<results.count { #expect(results.get(slot) == expected[slot % pages.count], "page \(slot % pages.count)") }
    }

    /// The content-class prefilter assumes every marker holds one of its stems.
    @Test func everyContentClassMarkerHoldsAStem() {
        for marker in PageAnalysis.contentClassMarkerBytes {
            #expect(PageAnalysis.contentClassMarkerStems.contains { bytesContain(marker, $0) },
                    "\(String(decoding: marker, as: UTF8.self)) has none of the stems")
        }
    }

    @Test func charsetSniffing() {
        #expect(CharsetSniffer.charset(of: Array("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-15\">".utf8), declared: nil) == "ISO-8859-15")
        #expect(CharsetSniffer.charset(of: Array("plain".utf8), declared: "utf8") == "UTF-8")
        #expect(CharsetSniffer.charset(of: [0x61, 0xE9, 0x62], declared: nil) == "windows-1252")
        #expect(CharsetSniffer.charsetParameter(ofContentType: "text/html; charset=\"UTF-8\"") == "utf-8")
        // The first <meta> without a charset is passed over; case does not matter.
        let twoMetas = "<html><head><meta name=\"viewport\" content=\"width=device-width\"><META CHARSET=\"KOI8-R\"></head>"
        #expect(CharsetSniffer.charset(of: Array(twoMetas.utf8), declared: nil) == "KOI8-R")
    }

    @Test func byteSearch() {
        let hay = Array("abcabcd".utf8)
        #expect(firstOccurrence(of: Array("abc".utf8), in: hay) == 0)
        #expect(firstOccurrence(of: Array("abc".utf8), in: hay, from: 1) == 3)
        #expect(firstOccurrence(of: Array("cd".utf8), in: hay) == 5)
        #expect(firstOccurrence(of: Array("abd".utf8), in: hay) == nil)
        #expect(firstOccurrence(of: Array("abcabcde".utf8), in: hay) == nil)
        #expect(firstOccurrence(of: [], in: hay, from: 2) == 2)
        #expect(firstOccurrence(of: Array("d".utf8), in: hay, from: 7) == nil)
        #expect(bytesContain(hay, Array("bca".utf8)) && !bytesContain(hay, Array("dd".utf8)))
    }
}

/// Results written by concurrent test threads at distinct indices.
private final class ResultBox: @unchecked Sendable {
    private var values: [String?]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    var count: Int { values.count }
    func set(_ i: Int, _ value: String?) { lock.lock(); values[i] = value; lock.unlock() }
    func get(_ i: Int) -> String? { lock.lock(); defer { lock.unlock() }; return values[i] }
}
