import Foundation
import Testing
@testable import QuarryIngest

@Suite struct TextCleanerTests {
    @Test func whitespaceAndLayout() {
        #expect(TextCleaner.clean("  a \t b  \r\n\r\n\r\n  c\u{A0}d \n") == "a b\n\nc d")
        #expect(TextCleaner.clean("\n\n  \n") == "")
        #expect(TextCleaner.clean("x\u{2028}y") == "x\ny")
    }

    @Test func controlAndInvisibleCharactersRemoved() {
        #expect(TextCleaner.clean("a\u{0}b\u{7}c\u{1B}[31md\u{FEFF}e\u{200B}f\u{85}g") == "abc[31mdef\ng")
    }

    @Test func unicodeNFC() {
        let decomposed = "Cafe\u{301} \u{212B}ngstr\u{F6}m"
        let cleaned = TextCleaner.clean(decomposed)
        #expect(Array(cleaned.unicodeScalars) == Array("Caf\u{E9} \u{C5}ngstr\u{F6}m".unicodeScalars))
        // Text that is already NFC is returned unchanged, scalar for scalar.
        let cyrillic = "Гранитът е скала"
        #expect(Array(TextCleaner.clean(cyrillic).unicodeScalars) == Array(cyrillic.unicodeScalars))
    }

    @Test func invalidUTF8IsRepairedOrDropped() {
        var bytes = Array(String(repeating: "valid text ", count: 50).utf8)
        bytes.insert(0xFF, at: 10)
        guard case .clean(let text, let repaired) = TextCleaner.clean(bytes: bytes) else {
            Issue.record("expected a repaired document")
            return
        }
        #expect(repaired == 1 && text.contains("\u{FFFD}"))
        var garbage: [UInt8] = []
        var seed: UInt32 = 12345
        for _ in 0..<4096 { seed = seed &* 1_103_515_245 &+ 12345; garbage.append(UInt8(truncatingIfNeeded: seed >> 16)) }
        #expect(TextCleaner.clean(bytes: garbage) == .dropped(.invalidUTF8))
        #expect(TextCleaner.clean(bytes: Array(" \n\t ".utf8)) == .dropped(.empty))
    }

    @Test func jsonLinesRoundTripThroughFoundation() throws {
        let doc = Document(id: "x\"1", source: "a\\b", title: "T\u{1}", url: nil, text: "line1\nline2\t\"q\" é 😀")
        let line = DocumentJSON.line(doc)
        #expect(line.last == 0x0A)
        let object = try JSONSerialization.jsonObject(with: Data(line.dropLast())) as? [String: String]
        #expect(object == ["id": "x\"1", "source": "a\\b", "title": "T\u{1}", "text": "line1\nline2\t\"q\" é 😀"])
    }
}
