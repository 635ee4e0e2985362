import CLibXML2
import Foundation

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
///    otherwise the element with the best paragraph score (text, commas, low link density);
/// 3. emit: walk the chosen element, one line per block, dropping link-dense blocks.
public enum HTMLExtractor {
    public static func extract(_ bytes: [UInt8], declaredCharset: String? = nil) -> HTMLExtraction? {
        LibXML.ensureReady()
        guard !bytes.isEmpty, bytes.count < Int(Int32.max) else { return nil }
        let charset = CharsetSniffer.charset(of: bytes, declared: declaredCharset)
        let options = LibXML.htmlOptions([HTML_PARSE_RECOVER, HTML_PARSE_NONET, HTML_PARSE_NOERROR,
                                          HTML_PARSE_NOWARNING, HTML_PARSE_COMPACT])
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
        defer { xmlFreeDoc(document) }
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
        measure(root, insideLink: false, insideParagraph: false)
        title = title ?? firstHeading
    }

    mutating func markPrunedByName(_ node: xmlNodePtr, pageProse: Int) {
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE {
                let tag = TagName(c)
                let named = Self.conditionallyPrunedTags.contains(tag.name) || hasBoilerplateName(c, tag: tag)
                let prose = statsOf(c).paragraphText
                if named && (prose * 10 < pageProse * 4 || isCommentSection(c)) && !containsContentMarker(c) {
                    prunedByName.insert(UnsafeMutableRawPointer(c))
                } else {
                    markPrunedByName(c, pageProse: pageProse)
                }
            }
            child = c.pointee.next
        }
    }

    func isCommentSection(_ node: xmlNodePtr) -> Bool {
        for name in [attribute(node, "class"), attribute(node, "id")] {
            guard let name else { continue }
            if Self.words(of: name).contains(where: { $0.hasPrefix("comment") || $0 == "disqus" || $0 == "respond" }) { return true }
        }
        return false
    }

    func containsContentMarker(_ node: xmlNodePtr) -> Bool {
        markedContent.contains { isAncestor(node, of: $0) }
    }

    /// Post-order measurement; returns the element's stats.
    @discardableResult
    mutating func measure(_ node: xmlNodePtr, insideLink: Bool, insideParagraph: Bool) -> ElementStats {
        var own = ElementStats()
        let tag = TagName(node)
        if tag == "title" || tag == "head" {
            if title == nil { title = tag == "title" ? normalisedText(node) : Self.titleElement(in: node).flatMap(normalisedText) }
            own.pruned = true
            return store(own, in: node)
        }
        if tag == "h1" && firstHeading == nil { firstHeading = normalisedText(node) }
        if Self.prunedTags.contains(tag.name) || isHidden(node) || prunedByName.contains(UnsafeMutableRawPointer(node)) {
            own.pruned = true
            return store(own, in: node)
        }
        let isLink = insideLink || tag == "a"
        let isParagraph = insideParagraph || Self.proseTags.contains(tag.name)
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
                let s = measure(c, insideLink: isLink, insideParagraph: isParagraph)
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
        if isContentMarker(node, tag: tag) { markedContent.append(node) }
        return store(own, in: node)
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
    static let prunedTags: Set<String> = [
        "script", "style", "noscript", "template", "svg", "iframe", "object", "embed", "canvas", "video", "audio",
        "button", "select", "input", "textarea", "label", "option", "head", "dialog", "map", "picture", "img",
    ]

    /// Elements that hold page furniture, unless they wrap most of the page's prose.
    static let conditionallyPrunedTags: Set<String> = ["nav", "aside", "footer", "header", "form", "menu", "figure"]

    static let sentenceLength = 40

    /// Blocks whose text counts as prose.
    static let proseTags: Set<String> = ["p", "pre", "blockquote", "dd", "td", "li", "h2", "h3", "h4"]

    /// Words in a class or id that mark boilerplate containers.
    static let boilerplateWords: Set<String> = [
        "comment", "comments", "commentlist", "share", "sharing", "social", "related", "sidebar", "widget", "widgets",
        "footer", "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "cookie", "cookies", "banner",
        "advert", "advertisement", "ads", "ad", "promo", "newsletter", "subscribe", "subscription", "popup", "modal",
        "pagination", "pager", "tags", "tagcloud", "login", "signup", "disqus", "recommended", "recommendations",
        "outbrain", "taboola", "sponsored", "skip", "toolbar", "masthead", "copyright", "byline", "author", "meta",
        "postmeta", "metadata", "rating", "print", "relatedposts", "more", "teaser", "overlay", "consent", "gdpr",
        "sidebar-widget", "site-footer", "site-header", "header", "hidden", "screen-reader-text", "sr-only",
    ]

    func hasBoilerplateName(_ node: xmlNodePtr, tag: TagName) -> Bool {
        if tag == "body" || tag == "html" || tag == "article" || tag == "main" { return false }
        for name in [attribute(node, "class"), attribute(node, "id"), attribute(node, "role")] {
            guard let name, !name.isEmpty else { continue }
            for word in Self.words(of: name) where Self.boilerplateWords.contains(word) {
                return true
            }
        }
        return false
    }

    func isHidden(_ node: xmlNodePtr) -> Bool {
        if attribute(node, "hidden") != nil { return true }
        if attribute(node, "aria-hidden") == "true" { return true }
        if let style = attribute(node, "style")?.lowercased().replacingOccurrences(of: " ", with: ""),
           style.contains("display:none") || style.contains("visibility:hidden") { return true }
        return false
    }

    /// `<article>`, `<main>`, `role=main`, `itemprop=articleBody` and classes that content
    /// management systems give the body of a post.
    func isContentMarker(_ node: xmlNodePtr, tag: TagName) -> Bool {
        if tag == "article" || tag == "main" { return true }
        guard Self.containerTags.contains(tag.name) else { return false }
        if attribute(node, "role") == "main" { return true }
        if let itemprop = attribute(node, "itemprop"), itemprop.lowercased().contains("articlebody") { return true }
        for name in [attribute(node, "class"), attribute(node, "id")] {
            guard let name = name?.lowercased() else { continue }
            for marker in Self.contentClassMarkers where name.contains(marker) { return true }
        }
        return false
    }

    static let containerTags: Set<String> = ["div", "section", "td", "article", "main", "span", "font", "center"]

    static let contentClassMarkers = [
        "article-body", "articlebody", "article__body", "article-content", "articlecontent", "post-body", "postbody",
        "post-content", "postcontent", "entry-content", "entrycontent", "story-body", "storybody", "main-content",
        "maincontent", "content-body", "post-entry", "article-text", "articletext", "body-text", "story-content",
        "blog-post", "single-post", "post_content", "entry_content", "article_body", "news-text", "text-content",
    ]

    static func words(of name: String) -> [String] {
        name.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    // MARK: - Choosing the main element

    func mainElement() -> xmlNodePtr {
        let body = findBody() ?? root
        let total = max(1, statsOf(body).paragraphText)
        // Explicit markers, innermost preferred when it still holds most of the prose.
        let marked = markedContent.filter {
            let prose = statsOf($0).paragraphText
            return !statsOf($0).pruned && prose > 0 && prose * 4 >= total
        }
        if ProcessInfo.processInfo.environment["QUARRY_HTML_WHOLE"] != nil { return body }
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

    func isAncestor(_ a: xmlNodePtr, of b: xmlNodePtr) -> Bool {
        var node = b.pointee.parent
        while let n = node {
            if n == a { return true }
            node = n.pointee.parent
        }
        return false
    }

    /// Readability's idea: paragraphs vote for their parent (fully) and grandparent (half);
    /// a vote is 1 + commas + text/100, scaled down by link density.
    func bestScoredElement(in body: xmlNodePtr) -> xmlNodePtr? {
        var scores: [UnsafeMutableRawPointer: (node: xmlNodePtr, score: Double)] = [:]
        func visit(_ node: xmlNodePtr) {
            let s = statsOf(node)
            if s.pruned { return }
            let tag = TagName(node)
            if (tag == "p" || tag == "pre" || tag == "td" || tag == "blockquote") && s.text >= 25 {
                let vote = 1.0 + Double(s.commas) + min(3.0, Double(s.text) / 100.0)
                if let parent = node.pointee.parent, parent.pointee.type == XML_ELEMENT_NODE {
                    let key = UnsafeMutableRawPointer(parent)
                    scores[key, default: (parent, 0)].score += vote
                    if let grand = parent.pointee.parent, grand.pointee.type == XML_ELEMENT_NODE {
                        scores[UnsafeMutableRawPointer(grand), default: (grand, 0)].score += vote / 2
                    }
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
            if best == nil || score > best!.score { best = (entry.node, score) }
        }
        guard var chosen = best?.node else { return nil }
        // Climb while the parent adds substantial prose (content split across sibling blocks).
        while let parent = chosen.pointee.parent, parent.pointee.type == XML_ELEMENT_NODE, TagName(parent).name != "html" {
            let mine = statsOf(chosen).paragraphText, theirs = statsOf(parent).paragraphText
            if theirs * 10 > mine * 13 { break }
            chosen = parent
        }
        return chosen
    }

    // MARK: - Emitting

    mutating func mainText() -> String {
        let main = mainElement()
        if ProcessInfo.processInfo.environment["QUARRY_HTML_DEBUG"] != nil {
            let st = statsOf(main)
            FileHandle.standardError.write(Data("main: <\(TagName(main).name) class=\(attribute(main, "class") ?? "") id=\(attribute(main, "id") ?? "")> text=\(st.text) p=\(st.paragraphText) marked=\(markedContent.count) body.p=\(statsOf(findBody() ?? root).paragraphText)\n".utf8))
        }
        var emitter = BlockEmitter(analysis: self)
        emitter.walk(main, insideLink: false)
        emitter.flush()
        return emitter.lines.joined(separator: "\n")
    }
}

/// Walks the chosen element and writes one line per block, dropping link-dense lines.
struct BlockEmitter {
    let analysis: PageAnalysis
    var lines: [String] = []
    var current: [UInt8] = []
    var currentLinkBytes = 0
    var currentTextBytes = 0
    var currentIsListOrCell = false

    static let blockTags: Set<String> = [
        "p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt",
        "dd", "blockquote", "pre", "table", "tr", "td", "th", "tbody", "thead", "br", "hr", "figcaption", "caption",
        "address", "center", "details", "summary",
    ]

    init(analysis: PageAnalysis) { self.analysis = analysis }

    mutating func walk(_ node: xmlNodePtr, insideLink: Bool) {
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                appendText(c.pointee.content, link: insideLink)
            case XML_ELEMENT_NODE:
                if analysis.statsOf(c).pruned { break }
                let tag = TagName(c)
                let isBlock = Self.blockTags.contains(tag.name)
                if isBlock { flush() }
                if tag == "li" || tag == "td" || tag == "th" || tag == "dd" { currentIsListOrCell = true }
                walk(c, insideLink: insideLink || tag == "a")
                if isBlock { flush() }
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
                if link { currentLinkBytes += 1 }
            }
            p += 1
        }
    }

    mutating func flush() {
        defer {
            current.removeAll(keepingCapacity: true)
            currentLinkBytes = 0
            currentTextBytes = 0
            currentIsListOrCell = false
        }
        guard currentTextBytes > 0 else { return }
        // Navigation-like lines: mostly link text.
        if currentLinkBytes * 2 > currentTextBytes && (currentTextBytes < 300 || currentIsListOrCell) { return }
        var line = String(decoding: current, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        if line.isEmpty { return }
        if Self.boilerplateLines.contains(line.lowercased()) { return }
        if line.count > 100_000 { line = String(line.prefix(100_000)) }
        lines.append(line)
    }

    /// Whole lines that are interface text, not content.
    static let boilerplateLines: Set<String> = [
        "share", "tweet", "print", "email", "advertisement", "read more", "read more »", "comments", "reply",
        "leave a comment", "share this:", "like this:", "related", "related posts", "related articles",
        "skip to content", "skip to main content", "back to top", "menu", "search", "log in", "sign up",
    ]
}

// MARK: - Small helpers over libxml2 nodes

/// An element's lowercase tag name (the HTML parser already lowercases).
struct TagName: Equatable {
    let name: String
    init(_ node: xmlNodePtr) {
        name = node.pointee.name.map { String(cString: $0) } ?? ""
    }
    static func == (lhs: TagName, rhs: String) -> Bool { lhs.name == rhs }
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
    defer { free(raw) }
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
