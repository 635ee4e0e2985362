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
}

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
                    || (isBoilerplateNamed(c, tag: tag) && !(Self.inlineTags.contains(tag) && prose >= Self.sentenceLength))
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
        guard s.paragraphs > 0, s.paragraphText >= 4 * Self.sentenceLength, s.linkText * 4 < s.text else { return false }
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

    static let commentFurnitureWords: NameSet = [
        "author", "meta", "metadata", "reply", "respond", "avatar", "vcard", "date", "time", "permalink", "share",
        "social", "navigation", "nav", "pagination", "form", "moderation", "awaiting", "says", "edit", "login",
        "like", "likes", "rating", "vote", "votes", "actions", "footer", "header", "hidden", "title", "count",
    ]

    static func commentFurnitureName(_ node: xmlNodePtr) -> Bool {
        if node.pointee.properties == nil { return false }
        for name in ["class", "id"] as [StaticString] {
            if AttributeText(node, name)?.firstWord(where: { commentFurnitureWords.contains($0.code) }) != nil { return true }
        }
        return false
    }

    static let commentSectionWords: NameSet = ["disqus", "respond"]

    func isCommentSection(_ node: xmlNodePtr) -> Bool {
        if node.pointee.properties == nil { return false }
        for name in ["class", "id"] as [StaticString] {
            let word = AttributeText(node, name)?.firstWord {
                $0.hasPrefix("comment") || Self.commentSectionWords.contains($0.code)
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
                else if isParagraph || chars >= Self.sentenceLength { own.paragraphText += chars }
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

    static let sentenceLength = 40

    static let inlineTags: TagSet = [
        "span", "a", "em", "strong", "b", "i", "u", "font", "small", "big", "mark", "abbr", "cite", "q", "sub", "sup",
    ]

    /// Blocks whose text counts as prose.
    static let proseTags: TagSet = ["p", "pre", "blockquote", "dd", "td", "li", "h2", "h3", "h4"]

    /// Words in a class or id that mark boilerplate containers.
    static let boilerplateWords: NameSet = [
        "comment", "comments", "commentlist", "share", "sharing", "social", "related", "sidebar", "widget", "widgets",
        "footer", "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "cookie", "cookies", "banner",
        "advert", "advertisement", "ads", "ad", "promo", "newsletter", "subscribe", "subscription", "popup", "modal",
        "pagination", "pager", "tags", "tagcloud", "login", "signup", "disqus", "recommended", "recommendations",
        "outbrain", "taboola", "sponsored", "toolbar", "masthead", "copyright", "byline", "author",
        "postmeta", "metadata", "rating", "relatedposts", "teaser", "overlay", "consent", "gdpr",
        "header",
    ]

    /// Class tokens that mark boilerplate only as a whole ("hidden", not "label-hidden").
    static let boilerplateTokens: NameSet = [
        "hidden", "sr-only", "screen-reader-text", "visually-hidden", "visuallyhidden", "more", "print", "meta", "skip",
        "invisible", "d-none", "hide",
    ]

    /// A boilerplate name, except "widget" on a block of prose: page builders (Elementor, block
    /// themes) call every piece of the article a widget, while sidebar widgets are link lists,
    /// forms and short blurbs.
    func isBoilerplateNamed(_ node: xmlNodePtr, tag: TagName) -> Bool {
        guard let word = boilerplateWord(node, tag: tag) else { return false }
        if word == Self.widgetCode || word == Self.widgetsCode {
            let s = statsOf(node)
            let proseBlock = s.paragraphs > 0 && s.paragraphText >= 2 * Self.sentenceLength
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
            if let word = value.firstWord(where: { Self.boilerplateWords.contains($0.code) }) { return word.code }
            if let token = value.firstToken(in: Self.boilerplateTokens) { return token }
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
    static let contentClassMarkerBytes = contentClassMarkers.map { Array($0.utf8) }
    /// Every marker holds one of these: four scans rule out most class names instead of one per marker.
    static let contentClassMarkerStems = ["body", "content", "text", "post"].map { Array($0.utf8) }

    static let containerTags: TagSet = ["div", "section", "td", "article", "main", "span", "font", "center"]

    static let contentClassMarkers = [
        "article-body", "articlebody", "article__body", "article-content", "articlecontent", "post-body", "postbody",
        "post-content", "postcontent", "entry-content", "entrycontent", "story-body", "storybody", "main-content",
        "maincontent", "content-body", "post-entry", "article-text", "articletext", "body-text", "story-content",
        "blog-post", "single-post", "post_content", "entry_content", "article_body", "news-text", "text-content",
    ]

    // MARK: - Choosing the main element

    func mainElement() -> xmlNodePtr {
        let body = findBody() ?? root
        let total = max(1, statsOf(body).paragraphText)
        // Explicit markers, innermost preferred when it still holds most of the prose.
        let marked = markedContent.filter {
            let prose = statsOf($0).paragraphText
            return !statsOf($0).pruned && prose > 0 && prose * 4 >= total
        }
        if let best = marked.max(by: { statsOf($0).paragraphText < statsOf($1).paragraphText }) {
            var chosen = best
            for candidate in marked where candidate != best && isAncestor(best, of: candidate)
                && statsOf(candidate).paragraphText * 10 >= statsOf(best).paragraphText * 8 {
                chosen = candidate
            }
            return chosen
        }
        return bestScoredElement(in: body) ?? body
    }

    /// Readability's sibling merge: blocks next to the main element (or next to its wrappers, two
    /// levels up) that are prose themselves — a lead paragraph set apart, a second section.
    func proseSiblings(of main: xmlNodePtr) -> (before: [xmlNodePtr], after: [xmlNodePtr]) {
        let mainProse = statsOf(main).paragraphText
        var before: [[xmlNodePtr]] = [], after: [xmlNodePtr] = []
        var node = main
        for _ in 0..<3 {
            guard let parent = node.pointee.parent, parent.pointee.type == XML_ELEMENT_NODE,
                  TagName(parent) != "html" else { break }
            var levelBefore: [xmlNodePtr] = [], levelAfter: [xmlNodePtr] = []
            var seenNode = false
            var child = parent.pointee.children
            while let c = child {
                if c == node {
                    seenNode = true
                } else if c.pointee.type == XML_ELEMENT_NODE && isProseBlock(c, comparedTo: mainProse, lead: !seenNode) {
                    if seenNode { levelAfter.append(c) } else { levelBefore.append(c) }
                }
                child = c.pointee.next
            }
            before.append(levelBefore)
            after.append(contentsOf: levelAfter)
            if TagName(parent) == "body" { break }
            node = parent
        }
        return (before.reversed().flatMap { $0 }, after)
    }

    func isProseBlock(_ node: xmlNodePtr, comparedTo mainProse: Int, lead: Bool = false) -> Bool {
        let s = statsOf(node)
        guard !s.pruned, s.text > 0 else { return false }
        // Before the article, a lead paragraph of any size relative to it (a standfirst, an excerpt).
        let sizeable = s.paragraphText * 10 >= mainProse || (lead && s.paragraphText >= 4 * Self.sentenceLength)
        return s.paragraphText >= 2 * Self.sentenceLength && sizeable
            && s.linkText * 4 < s.text && s.paragraphText * 10 >= s.text * 7
    }

    func findBody() -> xmlNodePtr? {
        var queue: [xmlNodePtr] = [root]
        var index = 0
        while index < queue.count {
            let node = queue[index]
            index += 1
            if TagName(node) == "body" { return node }
            var child = node.pointee.children
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE { queue.append(c) }
                child = c.pointee.next
            }
        }
        return nil
    }

    func hasAncestor(_ node: xmlNodePtr, in set: Set<UnsafeMutableRawPointer>) -> Bool {
        var current = node.pointee.parent
        while let n = current {
            if set.contains(UnsafeMutableRawPointer(n)) { return true }
            current = n.pointee.parent
        }
        return false
    }

    func isAncestor(_ a: xmlNodePtr, of b: xmlNodePtr) -> Bool {
        var node = b.pointee.parent
        while let n = node {
            if n == a { return true }
            node = n.pointee.parent
        }
        return false
    }

    /// Readability's idea: paragraphs vote for their ancestors (parent fully, grandparent half…);
    /// a vote is 1 + commas + text/100, scaled down by link density.
    func bestScoredElement(in body: xmlNodePtr) -> xmlNodePtr? {
        var scores: [UnsafeMutableRawPointer: (node: xmlNodePtr, score: Double)] = [:]
        func visit(_ node: xmlNodePtr) {
            let s = statsOf(node)
            if s.pruned { return }
            let tag = TagName(node)
            // Readability's rule: a <div> without block children is a paragraph too.
            let isParagraph = tag == "p" || tag == "pre" || tag == "td" || tag == "blockquote"
                || (tag == "div" && !hasBlockChildren(node))
            if isParagraph && s.text >= 25 {
                let vote = 1.0 + Double(s.commas) + min(3.0, Double(s.text) / 100.0)
                // The vote goes up five levels: parent fully, grandparent half, then a third per level.
                var ancestor = node.pointee.parent
                var level = 0
                while let a = ancestor, a.pointee.type == XML_ELEMENT_NODE, level < 5 {
                    let divider = level == 0 ? 1.0 : level == 1 ? 2.0 : Double(level * 3)
                    scores[UnsafeMutableRawPointer(a), default: (a, 0)].score += vote / divider
                    ancestor = a.pointee.parent
                    level += 1
                }
            }
            var child = node.pointee.children
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE { visit(c) }
                child = c.pointee.next
            }
        }
        visit(body)
        var best: (node: xmlNodePtr, score: Double)?
        for (_, entry) in scores {
            let s = statsOf(entry.node)
            let linkDensity = s.text > 0 ? Double(s.linkText) / Double(s.text) : 1
            let score = entry.score * (1 - linkDensity)
            if score > best?.score ?? -Double.infinity { best = (entry.node, score) }
        }
        guard var chosen = best?.node else { return nil }
        // Climb while the parent adds substantial prose (content split across sibling blocks).
        while let parent = chosen.pointee.parent, parent.pointee.type == XML_ELEMENT_NODE, TagName(parent) != "html" {
            let mine = statsOf(chosen).paragraphText, theirs = statsOf(parent).paragraphText
            if theirs * 10 > mine * 13 { break }
            chosen = parent
        }
        return chosen
    }

    func hasBlockChildren(_ node: xmlNodePtr) -> Bool {
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE, BlockEmitter.blockTags.contains(TagName(c)), TagName(c) != "br" {
                return true
            }
            child = c.pointee.next
        }
        return false
    }

    // MARK: - JSON-LD

    /// The longest `articleBody` string in the page's JSON-LD blocks, one line per paragraph.
    func linkedDataArticleBody() -> String? {
        var best: String?
        for script in linkedDataScripts {
            guard let raw = xmlNodeGetContent(script) else { continue }
            defer { quarry_xml_free(raw) }
            let length = strlen(raw)
            let bytes = UnsafeBufferPointer(start: raw, count: Int(length))
            // Parse only the blocks that can hold a body.
            guard bytesContain(Array(bytes), Self.articleBodyKey),
                  let json = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { continue }
            var stack: [Any] = [json]
            while let value = stack.popLast() {
                if let object = value as? [String: Any] {
                    for (key, child) in object {
                        if key == "articleBody", let body = child as? String {
                            if body.count > best?.count ?? 0 { best = body }
                        } else {
                            stack.append(child)
                        }
                    }
                } else if let array = value as? [Any] {
                    stack.append(contentsOf: array)
                }
            }
        }
        guard let best, !best.contains("<") else { return nil }
        let lines = best.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ") }
            .filter { !$0.isEmpty }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }

    static let articleBodyKey = Array("\"articleBody\"".utf8)

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
            if currentLinkBytes * 10 > currentTextBytes * 8 && currentTextBytes < Self.shortLinkParagraph {
                return markDropped()
            }
            // "Read more: <a>another story</a>", "See also: <a>…</a>": a label and a link to elsewhere.
            if currentLinkBytes * 10 > currentTextBytes * 7 && currentTextBytes < Self.teaserLinkParagraph
                && currentLinkBytes >= Self.headlineLength,
               let first = currentFirstLink, Self.isLabel(current[..<first]) {
                return markDropped()
            }
        } else if currentLinkBytes * 2 > currentTextBytes && (currentTextBytes < 300 || currentIsListOrCell)
                    && !(listKeepsLinks && currentBlock == "li") {
            return markDropped()
        }
        if onlyParagraphs && !Self.paragraphBlocks.contains(currentBlock) && currentTextBytes < Self.commentLineLength {
            return markDropped()
        }
        // Text nodes were already collapsed to single ASCII spaces; trim those at the ends.
        var a = 0, z = current.count
        while a < z && current[a] == 0x20 { a += 1 }
        while z > a && current[z - 1] == 0x20 { z -= 1 }
        if a == z { return }
        var line = String(decoding: current[a..<min(z, a + 400_000)], as: UTF8.self)
        if z - a < 160 && line.count < 40 && Self.boilerplateLines.contains(Self.interfaceKey(line)) { return markDropped() }
        if z - a > 400_000 { line = String(line.prefix(100_000)) }
        // A link written out as its address is a source being cited, not navigation.
        let citesAddress = line.hasPrefix("http://") || line.hasPrefix("https://") || line.hasPrefix("www.")
        lines.append(Line(text: line, chars: currentTextBytes, linkChars: currentLinkBytes, block: currentBlock,
                          keepAtEdge: currentAfterBreak || (listKeepsLinks && currentBlock == "li") || citesAddress))
    }

    static let paragraphBlocks: TagSet = ["p", "blockquote", "pre"]
    static let teaserLinkParagraph = 120
    /// A linked headline is a few words at least; a shorter link after a label is a name ("Photo: <a>…</a>").
    static let headlineLength = 20

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
            let caption = !linky && !line.keepAtEdge && line.chars < Self.captionLength && !Self.endsSentence(line.text)
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
            let caption = !linky && line.chars < Self.captionLength && !Self.endsSentence(line.text)
            guard linky || caption else { break }
            if linky { lastLinky = end }
            end += 1
        }
        if lastLinky >= 0 && end < lines.count { lines.removeSubrange(...lastLinky) }
        // Bylines and dates before the first paragraph: short lines that are neither headings nor sentences.
        var head = 0
        // A longer line with links there is a dateline with categories ("May 2, 2020 | Python, Rust").
        while head < lines.count, lines[head].dropped || lines[head].isHeading
                || ((lines[head].chars < Self.captionLength || (lines[head].chars < 2 * Self.captionLength && lines[head].linkChars * 4 >= lines[head].chars))
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

    static let captionLength = 45

    /// Inside the text: a heading or short caption over a block of links ("Related", "Further
    /// reading", a teaser box) goes with the links, and so do the editorial links it introduces.
    mutating func dropLinkBlockCaptions() {
        guard let firstText = lines.firstIndex(where: { !$0.dropped && !$0.isHeading }) else { return }
        var i = firstText + 1
        while i + 1 < lines.count {
            let line = lines[i]
            let caption = !line.dropped && !line.linkHeavy && line.block != "h1"
                && (line.isHeading || line.chars < Self.captionLength) && !Self.endsSentence(line.text)
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
    static let commentLineLength = 80

    static func endsSentence(_ text: String) -> Bool {
        guard let last = text.last else { return false }
        return last == "." || last == "!" || last == "?" || last == "…" || last == ")" || last == "\""
    }
    static let shortLinkParagraph = 30

    /// Whole lines that are interface text, not content.
    static let boilerplateLines: Set<String> = [
        "share", "tweet", "print", "email", "advertisement", "read more", "comments", "reply",
        "leave a comment", "share this", "like this", "related", "related posts", "related articles",
        "skip to content", "skip to main content", "back to top", "menu", "search", "log in", "sign up",
        "anzeige", "werbung", "publicité", "advertisment", "sponsored", "ad", "teilen", "drucken", "weiterlesen",
        "mehr lesen", "lire la suite", "partager", "show comments", "load more", "see also",
        "you might also like", "more from", "most popular", "most read", "trending", "newsletter", "subscribe",
        "follow us", "share on facebook", "share on twitter", "comment", "permalink", "top",
        "ähnliche artikel", "das könnte sie auch interessieren",
        "weitere artikel", "verwandte artikel", "kommentare", "kommentar schreiben", "antworten",
    ]

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

// MARK: - Small helpers over libxml2 nodes

/// An element's name (the HTML parser already lowercases it) as a 64-bit FNV-1a hash of its
/// bytes: the extractor asks "is this a `p`?" and "is it one of these tags?" several times per
/// node in every pass, and comparing one integer costs far less than making a Swift string and
/// hashing it for a `Set` each time.
struct TagName: Equatable {
    let code: UInt64
    private let bytes: UnsafePointer<xmlChar>?

    init(_ node: xmlNodePtr) {
        bytes = node.pointee.name
        code = bytes.map { Self.code(of: UnsafeBufferPointer(start: $0, count: strlen($0))) } ?? Self.code(of: EmptyCollection())
    }

    /// The name as a string (for the few places that keep it).
    var name: String { bytes.map { String(cString: $0) } ?? "" }

    static func code(of name: String) -> UInt64 { code(of: name.utf8) }

    static func code<Bytes: Sequence>(of bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        FNV1a.hash(bytes)
    }

    static func == (lhs: TagName, rhs: TagName) -> Bool { lhs.code == rhs.code }
    static func == (lhs: TagName, rhs: StaticString) -> Bool { xmlNameEquals(lhs.bytes, rhs) }
    static func != (lhs: TagName, rhs: StaticString) -> Bool { !xmlNameEquals(lhs.bytes, rhs) }
}

/// A fixed set of element names, matched by `TagName.code` (a handful of integers to scan).
struct TagSet: ExpressibleByArrayLiteral {
    let codes: [UInt64]
    init(arrayLiteral names: String...) { codes = names.map(TagName.code(of:)) }
    func contains(_ tag: TagName) -> Bool { codes.contains(tag.code) }
    func contains(_ name: String) -> Bool { codes.contains(TagName.code(of: name)) }
}

/// An attribute's value without allocating through libxml2.
func attribute(_ node: xmlNodePtr, _ name: StaticString) -> String? {
    var attr = node.pointee.properties
    while let a = attr {
        if xmlNameEquals(a.pointee.name, name) {
            guard let text = a.pointee.children, let content = text.pointee.content else { return "" }
            return String(cString: content)
        }
        attr = a.pointee.next
    }
    return nil
}

/// Visible text of an element with whitespace collapsed (for titles).
func normalisedText(_ node: xmlNodePtr) -> String? {
    guard let raw = xmlNodeGetContent(node) else { return nil }
    defer { quarry_xml_free(raw) }
    let text = String(cString: raw).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    return text.isEmpty ? nil : text
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
