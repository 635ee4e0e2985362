import CLibXML2
import Foundation
import QuarryCore

extension PageAnalysis {
    // MARK: - Emitting

    mutating func mainText() -> String {
        let main = mainElement()
        if ProcessInfo.processInfo.environment["QUARRY_HTML_DEBUG"] != nil {
            let st = statsOf(main)
            FileHandle.standardError.write(Data("main: <\(TagName(main).name) class=\(attribute(main, "class") ?? "") id=\(attribute(main, "id") ?? "")> text=\(st.text) p=\(st.paragraphText) marked=\(markedContent.count) body.p=\(statsOf(findBody() ?? root).paragraphText)\n".utf8))
        }
        var emitter = BlockEmitter(analysis: self)
        let (before, after) = proseSiblings(of: main)
        for node in before + [main] + after {
            emitter.walk(node, insideLink: false)
            emitter.flush()
        }
        emitter.trimEdges()
        var text = emitter.lines.map(\.text).joined(separator: "\n")
        // Pages that render the article with script keep its text in schema.org metadata: when
        // `articleBody` is much longer than what the markup gave, it is the article (trafilatura
        // reads the same JSON-LD for its metadata).
        if let body = linkedDataArticleBody(), body.count > 2 * text.count {
            text = body
        }
        // Comments follow the article (as trafilatura does): their paragraphs only.
        var comments = BlockEmitter(analysis: self)
        comments.onlyParagraphs = true
        // Outermost sections only; a set of the sections makes the nesting test O(depth), not
        // O(sections) (registry pages can have thousands of comment-named cells).
        let sections = Set(commentSectionOrder.map { UnsafeMutableRawPointer($0) })
        for section in commentSectionOrder where !isAncestor(section, of: main) {
            if hasAncestor(section, in: sections) { continue }
            comments.walk(section, insideLink: false)
            comments.flush()
        }
        comments.lines.removeAll { $0.dropped }
        if !comments.lines.isEmpty {
            text += (text.isEmpty ? "" : "\n") + comments.lines.map(\.text).joined(separator: "\n")
        }
        return text
    }
}

/// Walks the chosen element and writes one line per block, dropping link-dense lines.
struct BlockEmitter {
    let analysis: PageAnalysis
    struct Line {
        var text: String
        var chars: Int
        var linkChars: Int
        var block: String
        var keepAtEdge: Bool  // a link line that continues a paragraph, or an item of an editorial link list
        var dropped = false
        var linkHeavy: Bool { linkChars * 2 > chars }
        var isHeading: Bool { BlockEmitter.headingTags.contains(block) }
    }
    var lines: [Line] = []
    var current: [UInt8] = []
    var currentLinkBytes = 0
    var currentTextBytes = 0
    /// Where the line's first link text starts in `current`, if it has any.
    var currentFirstLink: Int?
    var currentIsListOrCell = false
    var currentBlock = "div"
    var currentAfterBreak = false
    /// Inside a list of a few long links (sources, further reading), not a link farm.
    var listKeepsLinks = false
    /// Keep only lines from paragraph blocks (for comment sections).
    var onlyParagraphs = false

    static let blockTags: TagSet = [
        "p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt",
        "dd", "blockquote", "pre", "table", "tr", "td", "th", "tbody", "thead", "br", "hr", "figcaption", "caption",
        "address", "center", "details", "summary",
    ]

    init(analysis: PageAnalysis) { self.analysis = analysis }

    mutating func walk(_ node: xmlNodePtr, insideLink: Bool, block: String = "div") {
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                appendText(c.pointee.content, link: insideLink)
            case XML_ELEMENT_NODE:
                if analysis.statsOf(c).pruned { break }
                let tag = TagName(c)
                let isBlock = Self.blockTags.contains(tag)
                if isBlock {
                    let hadText = currentTextBytes > 0
                    flush()
                    currentBlock = tag == "br" ? block : tag.name
                    if tag == "br" && hadText { currentAfterBreak = true }
                }
                if tag == "li" || tag == "td" || tag == "th" || tag == "dd" { currentIsListOrCell = true }
                let outerListKeepsLinks = listKeepsLinks
                if tag == "ul" || tag == "ol" { listKeepsLinks = Self.isEditorialLinkList(c, stats: analysis.statsOf(c)) }
                walk(c, insideLink: insideLink || tag == "a", block: isBlock && tag != "br" ? tag.name : block)
                if tag == "ul" || tag == "ol" { listKeepsLinks = outerListKeepsLinks }
                if isBlock {
                    flush()
                    currentBlock = block
                }
            default:
                break
            }
            child = c.pointee.next
        }
    }

    mutating func appendText(_ content: UnsafeMutablePointer<xmlChar>?, link: Bool) {
        guard let content else { return }
        var p = content
        var lastWasSpace = current.isEmpty || current.last == 0x20
        while p.pointee != 0 {
            let b = p.pointee
            if isASCIISpace(b) {
                if !lastWasSpace { current.append(0x20); lastWasSpace = true }
            } else {
                current.append(b)
                lastWasSpace = false
                currentTextBytes += 1
                if link {
                    if currentFirstLink == nil { currentFirstLink = current.count - 1 }
                    currentLinkBytes += 1
                }
            }
            p += 1
        }
    }

    mutating func flush() {
        defer {
            current.removeAll(keepingCapacity: true)
            currentLinkBytes = 0
            currentTextBytes = 0
            currentFirstLink = nil
            currentIsListOrCell = false
            currentAfterBreak = false
        }
        guard currentTextBytes > 0 else { return }
        // Navigation-like lines: mostly link text. A paragraph is prose unless it is almost all
        // link and short; list items, cells and loose text are dropped from half links on.
        if Self.paragraphBlocks.contains(currentBlock) && !currentIsListOrCell {
            if currentLinkBytes * 10 > currentTextBytes * 8 && currentTextBytes < HTMLHeuristics.shortLinkParagraph {
                return markDropped()
            }
            // "Read more: <a>another story</a>", "See also: <a>…</a>": a label and a link to elsewhere.
            if currentLinkBytes * 10 > currentTextBytes * 7 && currentTextBytes < HTMLHeuristics.teaserLinkParagraph
                && currentLinkBytes >= HTMLHeuristics.headlineLength,
               let first = currentFirstLink, Self.isLabel(current[..<first]) {
                return markDropped()
            }
        } else if currentLinkBytes * 2 > currentTextBytes && (currentTextBytes < 300 || currentIsListOrCell)
                    && !(listKeepsLinks && currentBlock == "li") {
            return markDropped()
        }
        if onlyParagraphs && !Self.paragraphBlocks.contains(currentBlock) && currentTextBytes < HTMLHeuristics.commentLineLength {
            return markDropped()
        }
        // Text nodes were already collapsed to single ASCII spaces; trim those at the ends.
        var a = 0, z = current.count
        while a < z && current[a] == 0x20 { a += 1 }
        while z > a && current[z - 1] == 0x20 { z -= 1 }
        if a == z { return }
        var line = String(decoding: current[a..<min(z, a + 400_000)], as: UTF8.self)
        if z - a < 160 && line.count < 40 && HTMLHeuristics.boilerplateLines.contains(Self.interfaceKey(line)) { return markDropped() }
        if z - a > 400_000 { line = String(line.prefix(100_000)) }
        // A link written out as its address is a source being cited, not navigation.
        let citesAddress = line.hasPrefix("http://") || line.hasPrefix("https://") || line.hasPrefix("www.")
        lines.append(Line(text: line, chars: currentTextBytes, linkChars: currentLinkBytes, block: currentBlock,
                          keepAtEdge: currentAfterBreak || (listKeepsLinks && currentBlock == "li") || citesAddress))
    }

    static let paragraphBlocks: TagSet = ["p", "blockquote", "pre"]

    /// Text before a line's link that is a label: a few words ending in a colon.
    static func isLabel(_ prefix: ArraySlice<UInt8>) -> Bool {
        var end = prefix.endIndex
        while end > prefix.startIndex && prefix[end - 1] == 0x20 { end -= 1 }
        guard end > prefix.startIndex, prefix[end - 1] == 0x3A else { return false }  // ':'
        return end - prefix.startIndex <= 30
    }

    /// trafilatura's list test: a list of at most four links with enough text is part of the
    /// article; more links, or a short list, of nearly all link text is navigation.
    static func isEditorialLinkList(_ list: xmlNodePtr, stats: ElementStats) -> Bool {
        guard stats.text >= 100 else { return false }
        var links = 0
        var stack: [xmlNodePtr] = [list]
        while let node = stack.popLast(), links <= 4 {
            var child = node.pointee.children
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE {
                    if TagName(c) == "a" { links += 1 } else { stack.append(c) }
                }
                child = c.pointee.next
            }
        }
        return links <= 4
    }
    static let headingTags: TagSet = ["h1", "h2", "h3", "h4", "h5", "h6"]

    /// The edges of the content: link lines before the first line of text (breadcrumbs, category
    /// links) and after the last (tag lists, "read next" teasers, with their short headings).
    /// Remembers where a link block or interface line was left out, for `trimEdges`.
    mutating func markDropped() {
        if lines.last?.dropped != true {
            lines.append(Line(text: "", chars: 0, linkChars: 0, block: currentBlock, keepAtEdge: false, dropped: true))
        }
    }

    mutating func trimEdges() {
        // The tail: a run of link blocks and short captions ("Related", "Tags", "Search") after the
        // last line of text goes, when it holds a link block at all.
        var start = lines.count
        var holdsLinks = false
        while start > 0 {
            let line = lines[start - 1]
            let linky = line.dropped || (line.linkHeavy && !line.keepAtEdge)
            let caption = !linky && !line.keepAtEdge && line.chars < HTMLHeuristics.captionLength && !Self.endsSentence(line.text)
            guard linky || caption else { break }
            holdsLinks = holdsLinks || linky
            start -= 1
        }
        if holdsLinks {
            lines.removeSubrange(start...)
        }
        // The head: link blocks (breadcrumbs, category links) before the first line of text, with
        // short captions among them; short lines after the last link block (title, date) stay.
        var end = 0
        var lastLinky = -1
        while end < lines.count {
            let line = lines[end]
            let linky = line.dropped || (line.linkHeavy && !line.isHeading)
            let caption = !linky && line.chars < HTMLHeuristics.captionLength && !Self.endsSentence(line.text)
            guard linky || caption else { break }
            if linky { lastLinky = end }
            end += 1
        }
        if lastLinky >= 0 && end < lines.count { lines.removeSubrange(...lastLinky) }
        // Bylines and dates before the first paragraph: short lines that are neither headings nor sentences.
        var head = 0
        // A longer line with links there is a dateline with categories ("May 2, 2020 | Python, Rust").
        while head < lines.count, lines[head].dropped || lines[head].isHeading
                || ((lines[head].chars < HTMLHeuristics.captionLength || (lines[head].chars < 2 * HTMLHeuristics.captionLength && lines[head].linkChars * 4 >= lines[head].chars))
                    && !Self.endsSentence(lines[head].text)) {
            head += 1
        }
        let kept = lines[..<head].filter { $0.isHeading || $0.dropped }
        // A few of them only: verse, lists of short items and the like are text.
        if head < lines.count && head - kept.count <= 3 {
            lines.replaceSubrange(..<head, with: kept)
        }
        dropLinkBlockCaptions()
        lines.removeAll { $0.dropped }
    }


    /// Inside the text: a heading or short caption over a block of links ("Related", "Further
    /// reading", a teaser box) goes with the links, and so do the editorial links it introduces.
    mutating func dropLinkBlockCaptions() {
        guard let firstText = lines.firstIndex(where: { !$0.dropped && !$0.isHeading }) else { return }
        var i = firstText + 1
        while i + 1 < lines.count {
            let line = lines[i]
            let caption = !line.dropped && !line.linkHeavy && line.block != "h1"
                && (line.isHeading || line.chars < HTMLHeuristics.captionLength) && !Self.endsSentence(line.text)
            // The block must have been left out as links; editorial link lists a caption introduces stay.
            guard caption, lines[i + 1].dropped else { i += 1; continue }
            lines[i].dropped = true
            var j = i + 1
            while j < lines.count, lines[j].dropped || (lines[j].linkHeavy && !lines[j].keepAtEdge) {
                lines[j].dropped = true
                j += 1
            }
            i = j
        }
    }

    static func endsSentence(_ text: String) -> Bool {
        guard let last = text.last else { return false }
        return last == "." || last == "!" || last == "?" || last == "…" || last == ")" || last == "\""
    }


    /// A short line lowercased, without the punctuation and arrows around it ("Advertisement:", "Read more »").
    /// A short line lowercased, without the punctuation and spaces around it ("Advertisement:" → "advertisement").
    static func interfaceKey(_ line: String) -> String {
        let scalars = line.lowercased().unicodeScalars
        guard let first = scalars.firstIndex(where: isWordScalar), let last = scalars.lastIndex(where: isWordScalar) else { return "" }
        return String(scalars[first...last])
    }

    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        s.isASCII ? (s.properties.isAlphabetic || ("0"..."9").contains(s)) : (s.properties.isAlphabetic || s.properties.numericType != nil)
    }
}
