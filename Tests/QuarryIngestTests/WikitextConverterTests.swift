import Testing
@testable import QuarryIngest

@Suite struct WikitextConverterTests {
    let converter = WikitextConverter()
    func text(_ markup: String) -> String { TextCleaner.clean(converter.plainText(markup)) }

    @Test func keepsLinkLabelsAndTargets() {
        #expect(text("See [[Quartz]] and [[igneous rock|rocks]].") == "See Quartz and rocks.")
        #expect(text("[[Mohs scale]]s are common") == "Mohs scales are common")
        #expect(text("a [[:Category:Quarries|list]] here") == "a list here")
    }

    @Test func dropsNestedTemplatesTablesRefsAndComments() {
        let markup = """
        {{Infobox|name={{nowrap|X}}|y=1}}Granite<ref name="a">{{cite|t}}</ref> is hard.<!-- note -->
        {| class="wikitable"
        | a || {{x}}
        {| nested
        |}
        | b
        |}
        After.<ref name="b" />
        """
        #expect(text(markup) == "Granite is hard.\n\nAfter.")
    }

    @Test func tableMarkersCountOnlyAtLineStart() {
        #expect(text("Text with {| inside a line stays.\n  :{| indented table\n| cell\n|}\nAfter.") == "Text with {| inside a line stays.\n\nAfter.")
    }

    @Test func dropsFileAndCategoryLinksIncludingCaptionsWithLinks() {
        let markup = "Intro.\n[[File:A.jpg|thumb|A [[caption]] with\n{{t}}\nlines]]\nBody.\n[[Category:Rocks]]"
        #expect(text(markup) == "Intro.\n\nBody.")
    }

    @Test func localisedNamespacesFromSiteInfo() {
        let bg = WikitextConverter(siteInfo: WikiSiteInfo(droppedLinkPrefixes: ["файл", "категория"]))
        #expect(TextCleaner.clean(bg.plainText("Текст [[Файл:X.png|мини]] тук [[Категория:Скали]]")) == "Текст тук")
    }

    @Test func headingsListsQuotesAndEntities() {
        let markup = "'''Bold''' and ''italic''.\n\n== History ==\n* one\n# two &amp; three\n: four&nbsp;five &#8212; &#x41;"
        #expect(text(markup) == "Bold and italic.\n\nHistory\none\ntwo & three\nfour five — A")
    }

    @Test func headingWithEmptySectionIsDropped() {
        #expect(text("Body.\n\n== References ==\n{{reflist}}\n\n== External links ==\n* [http://x.org]") == "Body.")
    }

    @Test func emptiedParenthesesAreTidied() {
        #expect(text("Achilles ({{IPAc-en|ə|k}}; {{lang-grc|Ἀχιλλεύς}}, ''Akhilleus'', {{IPA|x}}) was a hero.") == "Achilles (Akhilleus) was a hero.")
        #expect(text("Albedo ({{IPAc-en|æ}}) or reflection (kept, really) here") == "Albedo or reflection (kept, really) here")
    }

    @Test func externalLinksKeepLabels() {
        #expect(text("Visit [https://example.org the museum] or [http://x.org].") == "Visit the museum or .")
    }

    @Test func unbalancedMarkupLeavesNoBrackets() {
        let out = text("Start {{unclosed template\nMore [[unclosed link and ]] stray }} end")
        #expect(!out.contains("{{") && !out.contains("[[") && !out.contains("]]") && !out.contains("}}"))
        #expect(out.hasPrefix("Start"))
    }
}
