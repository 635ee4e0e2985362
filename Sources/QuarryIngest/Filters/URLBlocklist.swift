import Foundation
import QuarryCore

/// `--url-blocklist FILE`: drops documents whose `url` is on a block list, with the checks and
/// reasons of datatrove's `URLFilter`:
/// - `domain`: the URL's host or one of its parent domains is listed ("example.com" blocks
///   "www.example.com" too); `subdomain`: the host itself is listed and is a subdomain (three
///   labels or more). datatrove asks the Public Suffix List for the registered domain; quarry
///   walks the host's parents instead, which blocks the same hosts for every entry that is a
///   registered domain or a host;
/// - `url`: the URL, exactly, is listed;
/// - `hard_blacklisted`: one of the URL's words (runs of ASCII letters and digits, case kept, as
///   datatrove splits) is a banned word; `soft_blacklisted`: two or more are soft-banned words;
/// - `blacklisted_subword`: the URL lower-cased, without its non-alphanumerics, contains a banned
///   sub-word.
/// The file has one entry a line, `#` comments, blank lines skipped: a line with `://` is a URL,
/// one with a dot a domain or host, anything else a banned word; `word:`, `soft:`, `subword:`,
/// `domain:` and `url:` say it explicitly.
public struct URLBlocklist: Sendable {
    public private(set) var domains: Set<String> = []
    public private(set) var urls: Set<String> = []
    public private(set) var words: Set<String> = []
    public private(set) var softWords: Set<String> = []
    public private(set) var subwords: [String] = []
    public var softWordThreshold = 2

    public init(parsing text: String, name: String = "the block list") throws {
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            func bad(_ why: String) -> QuarryError { QuarryError("\(name):\(number + 1): \(why): '\(line)' (one domain, URL or word a line; `word:`, `soft:`, `subword:`, `domain:`, `url:` prefixes)") }
            if line.contains(where: { $0.isWhitespace }) { throw bad("an entry has no spaces") }
            let kinds = ["word:", "soft:", "subword:", "domain:", "url:"]
            if let kind = kinds.first(where: { line.hasPrefix($0) }) {
                let value = String(line.dropFirst(kind.count))
                guard !value.isEmpty else { throw bad("nothing after \(kind)") }
                switch kind {
                case "word:": words.insert(Self.normalized(value))
                case "soft:": softWords.insert(Self.normalized(value))
                case "subword:": subwords.append(Self.normalized(value))
                case "domain:": domains.insert(value.lowercased())
                default: urls.insert(value)
                }
            } else if line.contains("://") {
                urls.insert(line)
            } else if line.contains(".") {
                guard !line.hasPrefix("."), !line.hasSuffix("."), !line.contains("/") else { throw bad("not a domain") }
                domains.insert(line.lowercased())
            } else {
                words.insert(Self.normalized(line))
            }
        }
        subwords.removeAll { $0.isEmpty }
        if domains.isEmpty && urls.isEmpty && words.isEmpty && softWords.isEmpty && subwords.isEmpty {
            throw QuarryError("\(name) lists nothing: give one domain, URL or word a line")
        }
    }

    /// datatrove's `normalize`: non-alphanumerics (ASCII) removed, lower-cased.
    static func normalized(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.filter { $0.value < 0x80 && (WordSplitter.isLetter($0) || WordSplitter.isDigit($0)) })).lowercased()
    }

    /// The host of `scheme://[user@]host[:port]/…`, lower-cased (nil when there is none).
    static func host(of url: String) -> String? {
        guard let scheme = url.range(of: "://") else { return nil }
        var rest = url[scheme.upperBound...]
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if let colon = rest.lastIndex(of: ":"), !rest.hasPrefix("[") { rest = rest[..<colon] }
        let host = rest.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return host.isEmpty ? nil : host
    }

    /// Why the URL is blocked (datatrove's reason), or nil.
    public func reason(for url: String) -> DropReason? {
        if let host = Self.host(of: url) {
            let labels = host.split(separator: ".")
            if domains.contains(host) { return labels.count >= 3 ? .blockedSubdomain : .blockedDomain }
            if labels.count > 2 {
                for k in 1..<(labels.count - 1) where domains.contains(labels[k...].joined(separator: ".")) { return .blockedDomain }
            }
        }
        if urls.contains(url) { return .blockedURL }
        if !words.isEmpty || !softWords.isEmpty {
            var urlWords = Set<String>()
            var current = String.UnicodeScalarView()
            for c in url.unicodeScalars {
                if c.value < 0x80 && (WordSplitter.isLetter(c) || WordSplitter.isDigit(c)) { current.append(c) }
                else if !current.isEmpty { urlWords.insert(String(current)); current = String.UnicodeScalarView() }
            }
            if !current.isEmpty { urlWords.insert(String(current)) }
            if !words.isDisjoint(with: urlWords) { return .bannedWord }
            if softWords.intersection(urlWords).count >= softWordThreshold { return .softBannedWords }
        }
        if !subwords.isEmpty {
            let flat = Self.normalized(url)
            if subwords.contains(where: { flat.contains($0) }) { return .bannedSubword }
        }
        return nil
    }
}
