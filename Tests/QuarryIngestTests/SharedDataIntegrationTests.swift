import Foundation
import Testing
@testable import QuarryIngest

/// Integration tests on the real data in ../shared/data; skipped when it is absent.
@Suite(.enabled(if: TestPaths.hasSharedData, "../shared/data is not present"))
struct SharedDataIntegrationTests {
    func extract(_ path: String) throws -> (docs: [Document], summary: ExtractionSummary) {
        var docs: [Document] = []
        let files = InputFiles.expand([path]).files
        let summary = try ExtractionRun(files: files, options: ExtractionOptions(jobs: 2, showProgress: false), report: { _ in })
            .run { docs.append($0) }
        return (docs, summary)
    }

    @Test func englishWikipediaDump() throws {
        let (docs, summary) = try extract(TestPaths.shared("wiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"))
        #expect(summary.errors.isEmpty)
        #expect(docs.count > 90)
        #expect(summary.dropped[.redirect, default: 0] > 50)
        let titles = Set(docs.compactMap(\.title))
        #expect(titles.contains("Anarchism") && titles.contains("Afghanistan"))
        for doc in docs {
            for marker in ["{{", "}}", "[[", "]]", "'''", "<ref", "</ref", "&nbsp;", "<!--", "{|", "thumb|"] {
                #expect(!doc.text.contains(marker), "\(marker) left in \(doc.title ?? "")")
            }
            #expect(doc.source.contains("#page="))
        }
        let anarchism = try #require(docs.first { $0.title == "Anarchism" })
        #expect(anarchism.text.hasPrefix("Anarchism is a political philosophy"))
    }

    @Test func utf16BulgarianDumpAndTableHeavyDump() throws {
        let (bg, bgSummary) = try extract(TestPaths.shared("wiki/bgwiki-latest-pages-articles-shortened.xml.bz2"))
        #expect(bgSummary.errors.isEmpty)
        #expect(!bg.isEmpty)
        #expect(bg.allSatisfy { $0.text.unicodeScalars.contains { (0x0400...0x04FF).contains($0.value) } })
        #expect(bg.allSatisfy { !$0.text.contains("[[") && !$0.text.contains("{{") })
        let (tables, _) = try extract(TestPaths.shared("wiki/enwiki-table-markup.xml.bz2"))
        #expect(!tables.isEmpty)
        #expect(tables.allSatisfy { !$0.text.contains("{|") && !$0.text.contains("|}") && !$0.text.contains("||") })
    }

    @Test func warcCapturesAndBrokenArchives() throws {
        let (all, summary) = try extract(TestPaths.shared("warc"))
        let docs = all.filter { $0.source.contains("#record=") }
        #expect(docs.count >= 20)
        #expect(docs.allSatisfy { $0.url?.hasPrefix("http") == true })
        #expect(docs.allSatisfy { !$0.text.lowercased().contains("<script") && !$0.text.contains("function(") })
        #expect(summary.errors.contains { $0.contains("bad.arc") })
        #expect(!summary.errors.contains { $0.contains("missing-status-text") })
    }
}
