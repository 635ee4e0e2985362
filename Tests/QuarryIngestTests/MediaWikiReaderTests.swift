import Foundation
import Testing
@testable import QuarryIngest

@Suite struct MediaWikiReaderTests {
    func read(_ bytes: [UInt8], name: String = "dump.xml") throws -> (records: [RawRecord], error: Error?, skipped: [DropReason: Int]) {
        let reader = try MediaWikiReader(input: MemorySource(bytes), sourceName: name)
        let (records, error) = drain(reader)
        return (records, error, reader.skipped)
    }

    @Test func sampleDumpKeepsArticlesSkipsRedirectsAndOtherNamespaces() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: TestPaths.sample("wiki/quarrywiki-sample.xml"))))
        let (records, error, skipped) = try read(bytes)
        #expect(error == nil)
        #expect(records.map(\.title) == ["Granite", "Slate"])
        #expect(records.map(\.source) == ["dump.xml#page=1", "dump.xml#page=4"])
        #expect(skipped[.redirect] == 1 && skipped[.notMainNamespace] == 1)
        let docs = documents(from: records)
        #expect(docs[0].text.hasPrefix("Granite is a coarse-grained intrusive igneous rock composed mostly of quartz"))
        for doc in docs {
            for marker in ["{{", "[[", "'''", "<ref", "&amp;", "thumb|", "Category:", "hidden editor note"] {
                #expect(!doc.text.contains(marker), "\(marker) left in \(doc.title ?? "")")
            }
        }
    }

    @Test func utf16DumpWithByteOrderMark() throws {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><mediawiki><page><title>Гранит</title><ns>0</ns><id>7</id><revision><text>'''Гранитът''' е скала.</text></revision></page></mediawiki>"
        var bytes: [UInt8] = [0xFF, 0xFE]
        for unit in xml.utf16 { bytes += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        #expect(FormatSniffer.format(of: bytes) == .mediawiki)
        let (records, error, _) = try read(bytes)
        #expect(error == nil)
        #expect(records.first?.title == "Гранит")
        #expect(documents(from: records).first?.text == "Гранитът е скала.")
    }

    @Test func truncatedDumpKeepsEarlierPagesAndReportsError() throws {
        let page = "<page><title>A</title><ns>0</ns><id>1</id><revision><text>Alpha text.</text></revision></page>"
        let filler = String(repeating: "x", count: 5000)
        let xml = "<mediawiki>" + page.replacingOccurrences(of: "Alpha text.", with: "Alpha text. " + filler)
            + "<page><title>B</title><ns>0</ns><id>2</id><revision><text>Beta te"
        let (records, error, _) = try read(Array(xml.utf8))
        #expect(records.map(\.title) == ["A"])
        #expect(error != nil)
    }

    @Test func malformedXMLNamesTheLine() throws {
        // The first page is longer than libxml2's read-ahead, so it is complete before the error is seen.
        let long = String(repeating: "ok ", count: 30000)
        let xml = "<mediawiki>\n<page><title>A</title><ns>0</ns><id>1</id><revision><text>\(long)</text></revision></page>\n<page><title>B</oops></page></mediawiki>"
        let (records, error, _) = try read(Array(xml.utf8))
        #expect(records.count == 1)
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.contains("malformed XML at line 3"))
    }

    @Test func externalEntitiesAreNeverLoaded() throws {
        let scratch = ScratchDirectory()
        let secret = scratch.write("secret.txt", "TOP-SECRET-CONTENT")
        let xml = """
        <?xml version="1.0"?>
        <!DOCTYPE mediawiki [ <!ENTITY xxe SYSTEM "file://\(secret)"> ]>
        <mediawiki><page><title>X</title><ns>0</ns><id>1</id><revision><text>before &xxe; after</text></revision></page></mediawiki>
        """
        let (records, _, _) = try read(Array(xml.utf8))
        for record in records {
            guard case .wikitext(let bytes, _) = record.payload else { continue }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("TOP-SECRET"))
        }
    }

    /// Dumps without `<redirect/>` mark redirects in the text only, in any letter case.
    @Test func redirectsAreRecognisedByTheirText() {
        for text in ["#REDIRECT [[Granite]]", "#redirect [[Granite]]", "#Redirect[[G]]"] {
            #expect(MediaWikiReader.looksLikeRedirect(Array(text.utf8)), "\(text)")
        }
        for text in ["#REDIREC", "Granite is a rock. #REDIRECT", " #REDIRECT [[G]]", ""] {
            #expect(!MediaWikiReader.looksLikeRedirect(Array(text.utf8)), "\(text)")
        }
    }

    @Test func billionLaughsIsNotExpanded() throws {
        var dtd = "<!ENTITY lol0 \"lollollollollollollollollollol\">"
        for i in 1...9 { dtd += "<!ENTITY lol\(i) \"" + String(repeating: "&lol\(i - 1);", count: 10) + "\">" }
        let xml = "<?xml version=\"1.0\"?><!DOCTYPE mediawiki [\(dtd)]><mediawiki><page><title>L</title><ns>0</ns><id>1</id><revision><text>&lol9;</text></revision></page></mediawiki>"
        let started = Date()
        let (records, _, _) = try read(Array(xml.utf8))
        #expect(Date().timeIntervalSince(started) < 5)
        let total = records.reduce(0) { sum, r in
            if case .wikitext(let t, _) = r.payload { return sum + t.count }
            return sum
        }
        #expect(total < 10_000) // fully expanded it would be 3 GB
    }
}
