import CLibXML2
import CXMLArena
import Foundation
import QuarryCore

extension PageAnalysis {
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
        let sizeable = s.paragraphText * 10 >= mainProse || (lead && s.paragraphText >= 4 * HTMLHeuristics.sentenceLength)
        return s.paragraphText >= 2 * HTMLHeuristics.sentenceLength && sizeable
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
}
