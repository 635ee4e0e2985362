import CLibXML2
import CXMLArena
import Foundation
import QuarryCore

/// An HTML page's main content as plain text, one line per paragraph, heading or list item.
public struct HTMLExtraction: Sendable, Equatable {
    public var title: String?
    public var text: String
}

/// HTML → main text with libxml2's HTML parser in recovery mode (no network, no entities
/// loaded from outside) and a boilerplate filter in three steps:
/// 1. measure: every element's text length, link-text length and paragraph text, bottom up;
///    elements that never hold main content (script, nav, footer, aside, forms, hidden ones,
///    and those whose class/id say comments, share bars, menus, cookie banners…) are pruned;
/// 2. choose: the element that holds the article — an explicit marker (`<article>`, `<main>`,
///    `itemprop=articleBody`, well-known content classes) when it holds most of the prose,
///    otherwise the element with the best paragraph score (text, commas, low link density),
///    plus the prose blocks beside it (readability's sibling merge);
/// 3. emit: walk the chosen element, one line per block, dropping link-dense blocks (paragraphs
///    and short editorial link lists are judged leniently, as in trafilatura), then trim the
///    edges: link blocks with their captions at head and tail, bylines and dates before the
///    first paragraph; comment posts follow the main text.
public enum HTMLExtractor {
    public static func extract(_ bytes: [UInt8], declaredCharset: String? = nil) -> HTMLExtraction? {
        LibXML.ensureReady()
        guard !bytes.isEmpty, bytes.count < Int(Int32.max) else { return nil }
        // The DOM lives only for this call: its nodes come from the thread's arena.
        return withXMLArena { extractInArena(bytes, declaredCharset: declaredCharset) }
    }

    private static func extractInArena(_ bytes: [UInt8], declaredCharset: String?) -> HTMLExtraction? {
        let charset = CharsetSniffer.charset(of: bytes, declared: declaredCharset)
        let options = LibXML.htmlOptions([HTML_PARSE_RECOVER, HTML_PARSE_NONET, HTML_PARSE_NOERROR,
                                          HTML_PARSE_NOWARNING, HTML_PARSE_COMPACT, HTML_PARSE_NODEFDTD])
        var document = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                htmlReadMemory($0.baseAddress, Int32($0.count), nil, charset, options)
            }
        }
        if document == nil && charset != "UTF-8" {
            // An encoding iconv does not know: read the bytes as UTF-8 with repairs.
            document = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    htmlReadMemory($0.baseAddress, Int32($0.count), nil, "UTF-8", options)
                }
            }
        }
        guard let document else { return nil }
        defer { quarry_xml_arena_drop_document(document) }  // the arena scope frees the tree
        guard let root = xmlDocGetRootElement(document) else { return nil }
        var page = PageAnalysis(root: root)
        let title = page.title
        let text = page.mainText()
        return HTMLExtraction(title: title, text: text)
    }

    /// The most attributes one element may have. libxml2 checks each new attribute against the
    /// element's others (quadratic: 300,000 attributes take minutes); a real page has a few dozen.
    public static let maximumAttributes = 5_000

    /// Whether some element of the page has more than `maximumAttributes` attributes: one pass over
    /// the bytes, counting the words inside each tag (quotes respected), before libxml2 sees them.
    public static func hasTooManyAttributes(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { s in
            var i = 0
            while i < s.count {
                guard s[i] == 0x3C, i + 1 < s.count, isASCIILetter(s[i + 1]) else { i += 1; continue }
                var words = 0, quote: UInt8 = 0, inWord = false
                i += 1
                while i < s.count {
                    let c = s[i]
                    if quote != 0 {
                        if c == quote { quote = 0 }
                    } else if c == 0x3E {
                        break
                    } else if c == 0x22 || c == 0x27 {
                        quote = c
                    } else if isASCIISpace(c) {
                        inWord = false
                    } else if !inWord {
                        inWord = true
                        words += 1
                        if words > maximumAttributes + 1 { return true }   // the name is a word too
                    }
                    i += 1
                }
            }
            return false
        }
    }
}
