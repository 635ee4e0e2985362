import CLibXML2
import Foundation
import QuarryCore

// MARK: - Measuring

/// Per-element measurements, indexed through libxml2's `_private` slot.
struct ElementStats {
    var text = 0            // characters of visible text, whitespace collapsed
    var linkText = 0        // of which inside <a>
    var paragraphText = 0   // inside <p>, <pre>, <blockquote>, <td> and similar prose blocks
    var commas = 0
    var paragraphs = 0
    var pruned = false
}

struct PageAnalysis {
    let root: xmlNodePtr
    var stats: [ElementStats] = [ElementStats()]  // index 0: unmeasured
    var title: String?
    var firstHeading: String?
    var markedContent: [xmlNodePtr] = []

    /// Nodes pruned because of their tag or class/id name, decided once the raw sizes are known.
    var prunedByName: Set<UnsafeMutableRawPointer> = []
    /// Of those, the comment sections, in document order (outermost only).
    var commentSections: Set<UnsafeMutableRawPointer> = []
    var commentSectionOrder: [xmlNodePtr] = []
    /// `<script type="application/ld+json">` elements (schema.org metadata, sometimes the article's text).
    var linkedDataScripts: [xmlNodePtr] = []

    init(root: xmlNodePtr) {
        self.root = root
        // Raw sizes first: a wrapper named "l-outer--nav" or a page-wide <form> must not be pruned
        // just for its name, so name-based pruning only applies to elements that do not hold
        // most of the page's prose.
        measure(root, insideLink: false, insideParagraph: false)
        let pageProse = statsOf(findBody() ?? root).paragraphText
        markPrunedByName(root, pageProse: pageProse)
        stats = [ElementStats()]
        markedContent = []
        linkedDataScripts = []
        measure(root, insideLink: false, insideParagraph: false)
        title = title ?? firstHeading
    }

    mutating func markPrunedByName(_ node: xmlNodePtr, pageProse: Int) {
        // Candidates among the children: pruned for their tag or class/id name.
        var candidates: [(node: xmlNodePtr, named: Bool, prose: Int, group: UInt64)] = []
        var groupProse: [UInt64: Int] = [:]
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE {
                let tag = TagName(c)
                let prose = statsOf(c).paragraphText
                // Inline elements carrying a sentence are text, whatever their class says.
                let named = (Self.conditionallyPrunedTags.contains(tag) && !isArticleHeaderWithLead(c, tag: tag))
                    || (isBoilerplateNamed(c, tag: tag) && !(Self.inlineTags.contains(tag) && prose >= HTMLHeuristics.sentenceLength))
                let group = tag.code
                if named { groupProse[group, default: 0] += prose }
                candidates.append((c, named, prose, group))
            }
            child = c.pointee.next
        }
        for candidate in candidates {
            let c = candidate.node
            // An article split into sibling sections that share a misleading class ("section--ads")
            // is judged as a whole: together they must not hold most of the page's prose.
            let prose = max(candidate.prose, groupProse[candidate.group] ?? 0)
            if candidate.named && (prose * 10 < pageProse * 4 || isCommentSection(c)) && !containsContentMarker(c) {
                prunedByName.insert(UnsafeMutableRawPointer(c))
                if isCommentSection(c) {
                    commentSections.insert(UnsafeMutableRawPointer(c))
                    commentSectionOrder.append(c)
                    markPrunedInsideComments(c)
                }
            } else {
                markPrunedByName(c, pageProse: pageProse)
            }
        }
    }

    /// An article's own `<header>` with a standfirst paragraph in it: title, lead and byline (the
    /// byline and date go with the other short lines before the first paragraph).
    func isArticleHeaderWithLead(_ node: xmlNodePtr, tag: TagName) -> Bool {
        guard tag == "header" else { return false }
        let s = statsOf(node)
        guard s.paragraphs > 0, s.paragraphText >= 4 * HTMLHeuristics.sentenceLength, s.linkText * 4 < s.text else { return false }
        var ancestor = node.pointee.parent
        while let a = ancestor, a.pointee.type == XML_ELEMENT_NODE {
            if TagName(a) == "article" { return true }
            ancestor = a.pointee.parent
        }
        return false
    }

    /// Inside a comment section: forms, headers, footers and names other than "comment…"
    /// (author, meta, reply, share) are furniture.
    mutating func markPrunedInsideComments(_ node: xmlNodePtr) {
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE {
                let tag = TagName(c)
                if Self.conditionallyPrunedTags.contains(tag) || Self.commentFurnitureName(c) {
                    prunedByName.insert(UnsafeMutableRawPointer(c))
                } else {
                    markPrunedInsideComments(c)
                }
            }
            child = c.pointee.next
        }
    }


    static func commentFurnitureName(_ node: xmlNodePtr) -> Bool {
        if node.pointee.properties == nil { return false }
        for name in ["class", "id"] as [StaticString] {
            if AttributeText(node, name)?.firstWord(where: { HTMLHeuristics.commentFurnitureWords.contains($0.code) }) != nil { return true }
        }
        return false
    }


    func isCommentSection(_ node: xmlNodePtr) -> Bool {
        if node.pointee.properties == nil { return false }
        for name in ["class", "id"] as [StaticString] {
            let word = AttributeText(node, name)?.firstWord {
                $0.hasPrefix("comment") || HTMLHeuristics.commentSectionWords.contains($0.code)
            }
            if word != nil { return true }
        }
        return false
    }

    func containsContentMarker(_ node: xmlNodePtr) -> Bool {
        markedContent.contains { isAncestor(node, of: $0) }
    }

    /// Post-order measurement; returns the element's stats.
    @discardableResult
    mutating func measure(_ node: xmlNodePtr, insideLink: Bool, insideParagraph: Bool, inComments: Bool = false) -> ElementStats {
        var own = ElementStats()
        let tag = TagName(node)
        if tag == "title" || tag == "head" {
            // <head> is pruned, so its <title> is read here rather than by descending into it.
            if title == nil { title = tag == "title" ? normalisedText(node) : Self.titleElement(in: node).flatMap(normalisedText) }
            if tag == "head" {
                var child = node.pointee.children
                while let c = child {
                    if c.pointee.type == XML_ELEMENT_NODE && Self.isLinkedData(c) { linkedDataScripts.append(c) }
                    child = c.pointee.next
                }
            }
            own.pruned = true
            return store(own, in: node)
        }
        if tag == "h1" && firstHeading == nil { firstHeading = normalisedText(node) }
        let namePruned = prunedByName.contains(UnsafeMutableRawPointer(node))
        let commentRoot = namePruned && commentSections.contains(UnsafeMutableRawPointer(node))
        if tag == "script" && Self.isLinkedData(node) { linkedDataScripts.append(node) }
        if Self.prunedTags.contains(tag) || isHidden(node) || (namePruned && !commentRoot) {
            own.pruned = true
            return store(own, in: node)
        }
        let isLink = insideLink || tag == "a"
        let isParagraph = insideParagraph || Self.proseTags.contains(tag)
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                let (chars, commas) = Self.countText(c.pointee.content)
                own.text += chars
                own.commas += commas
                if isLink { own.linkText += chars }
                // Prose: text in paragraph-like blocks, or a run long enough to be a sentence
                // (pages that set their text in <div>s with <br>s have no <p> at all).
                else if isParagraph || chars >= HTMLHeuristics.sentenceLength { own.paragraphText += chars }
            case XML_ELEMENT_NODE:
                let s = measure(c, insideLink: isLink, insideParagraph: isParagraph, inComments: inComments || commentRoot)
                if !s.pruned {
                    own.text += s.text
                    own.linkText += s.linkText
                    own.paragraphText += s.paragraphText
                    own.commas += s.commas
                    own.paragraphs += s.paragraphs
                }
            default:
                break
            }
            child = c.pointee.next
        }
        if tag == "p" && own.text > 0 { own.paragraphs += 1 }
        if !inComments && !commentRoot && isContentMarker(node, tag: tag) { markedContent.append(node) }
        // A comment section is measured inside (its posts follow the main text) but is no part of it.
        if commentRoot { own.pruned = true }
        return store(own, in: node)
    }

    static func isLinkedData(_ node: xmlNodePtr) -> Bool {
        guard TagName(node) == "script", let type = attribute(node, "type") else { return false }
        return type.lowercased().hasSuffix("ld+json")
    }

    static func titleElement(in head: xmlNodePtr) -> xmlNodePtr? {
        var child = head.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE && TagName(c) == "title" { return c }
            child = c.pointee.next
        }
        return nil
    }

    private mutating func store(_ s: ElementStats, in node: xmlNodePtr) -> ElementStats {
        stats.append(s)
        node.pointee._private = UnsafeMutableRawPointer(bitPattern: stats.count - 1)
        return s
    }

    func statsOf(_ node: xmlNodePtr) -> ElementStats {
        let index = Int(bitPattern: node.pointee._private)
        return index > 0 && index < stats.count ? stats[index] : ElementStats()
    }

    /// Elements that never hold main content.
    static let prunedTags: TagSet = [
        "script", "style", "noscript", "template", "svg", "iframe", "object", "embed", "canvas", "video", "audio",
        "button", "select", "input", "textarea", "label", "option", "head", "dialog", "map", "picture", "img",
    ]

    /// Elements that hold page furniture, unless they wrap most of the page's prose.
    static let conditionallyPrunedTags: TagSet = ["nav", "aside", "footer", "header", "form", "menu", "figure"]


    static let inlineTags: TagSet = [
        "span", "a", "em", "strong", "b", "i", "u", "font", "small", "big", "mark", "abbr", "cite", "q", "sub", "sup",
    ]

    /// Blocks whose text counts as prose.
    static let proseTags: TagSet = ["p", "pre", "blockquote", "dd", "td", "li", "h2", "h3", "h4"]



    /// A boilerplate name, except "widget" on a block of prose: page builders (Elementor, block
    /// themes) call every piece of the article a widget, while sidebar widgets are link lists,
    /// forms and short blurbs.
    func isBoilerplateNamed(_ node: xmlNodePtr, tag: TagName) -> Bool {
        guard let word = boilerplateWord(node, tag: tag) else { return false }
        if word == Self.widgetCode || word == Self.widgetsCode {
            let s = statsOf(node)
            let proseBlock = s.paragraphs > 0 && s.paragraphText >= 2 * HTMLHeuristics.sentenceLength
                && s.linkText * 4 < s.text && s.paragraphText * 10 >= s.text * 7
            return !proseBlock
        }
        return true
    }

    static let widgetCode = TagName.code(of: "widget")
    static let widgetsCode = TagName.code(of: "widgets")

    /// The code of the boilerplate word or token a class, id or role carries, if any.
    func boilerplateWord(_ node: xmlNodePtr, tag: TagName) -> UInt64? {
        // Most elements carry no attributes at all: nothing to read.
        if node.pointee.properties == nil { return nil }
        if tag == "body" || tag == "html" || tag == "article" || tag == "main" { return nil }
        // A heading's id is an anchor made from its own text ("nav_nur_die_folie__1"), not a role.
        let readsID = !BlockEmitter.headingTags.contains(tag)
        for name in ["class", "id", "role"] as [StaticString] {
            if !readsID && xmlNameEquals(name.utf8Start, "id") { continue }
            guard let value = AttributeText(node, name), !value.isEmpty else { continue }
            if let word = value.firstWord(where: { HTMLHeuristics.boilerplateWords.contains($0.code) }) { return word.code }
            if let token = value.firstToken(in: HTMLHeuristics.boilerplateTokens) { return token }
        }
        return nil
    }

    func isHidden(_ node: xmlNodePtr) -> Bool {
        if node.pointee.properties == nil { return false }
        if AttributeText(node, "hidden") != nil { return true }
        if AttributeText(node, "aria-hidden")?.equals("true") == true { return true }
        if let style = AttributeText(node, "style")?.bytes {
            var compact: [UInt8] = []
            var p = style
            while p.pointee != 0 {
                if p.pointee != 0x20 { compact.append(asciiLower(p.pointee)) }
                p += 1
            }
            if bytesContain(compact, Self.displayNone) || bytesContain(compact, Self.visibilityHidden) { return true }
        }
        return false
    }

    /// `<article>`, `<main>`, `role=main`, `itemprop=articleBody` and classes that content
    /// management systems give the body of a post.
    func isContentMarker(_ node: xmlNodePtr, tag: TagName) -> Bool {
        if tag == "article" || tag == "main" { return true }
        guard Self.containerTags.contains(tag), node.pointee.properties != nil else { return false }
        if AttributeText(node, "role")?.equals("main") == true { return true }
        if AttributeText(node, "itemprop")?.containsIgnoringCase(Self.articleBodyItemprop) == true { return true }
        for name in ["class", "id"] as [StaticString] {
            guard let value = AttributeText(node, name),
                  Self.contentClassMarkerStems.contains(where: value.containsIgnoringCase) else { continue }
            for marker in Self.contentClassMarkerBytes where value.containsIgnoringCase(marker) { return true }
        }
        return false
    }

    static let articleBodyItemprop = Array("articlebody".utf8)
    static let displayNone = Array("display:none".utf8)
    static let visibilityHidden = Array("visibility:hidden".utf8)
    static let contentClassMarkerBytes = HTMLHeuristics.contentClassMarkers.map { Array($0.utf8) }
    /// Every marker holds one of these: four scans rule out most class names instead of one per marker.
    static let contentClassMarkerStems = ["body", "content", "text", "post"].map { Array($0.utf8) }

    static let containerTags: TagSet = ["div", "section", "td", "article", "main", "span", "font", "center"]
}

extension PageAnalysis {
    /// Characters (UTF-8 lead bytes) outside whitespace, and commas, in a text node.
    static func countText(_ content: UnsafeMutablePointer<xmlChar>?) -> (Int, Int) {
        guard var p = content else { return (0, 0) }
        var chars = 0, commas = 0
        while p.pointee != 0 {
            let b = p.pointee
            if !isASCIISpace(b) && (b & 0xC0) != 0x80 { chars += 1 }
            if b == 0x2C { commas += 1 }
            p += 1
        }
        return (chars, commas)
    }
}
