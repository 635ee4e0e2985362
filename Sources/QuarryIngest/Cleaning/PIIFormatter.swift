/// E-mail addresses and public IPv4 addresses replaced as datatrove's `PIIFormatter` replaces
/// them: the same patterns (its e-mail regex, without the rare bracketed-IP domain; its IPv4
/// regex, which has no word boundaries, so "1234.5.6.7" holds "234.5.6.7"), only addresses that
/// Python's `ipaddress` calls global, and its replacement strings taken in turn, the turn carried
/// from one document to the next in input order (one datatrove worker's order).
///
/// A value type with the turn inside: `ingest --pii` runs it on the kept documents in order.
public struct PIIFormatter: Sendable {
    public static let emailReplacements = ["email@example.com", "firstname.lastname@example.org"]
    public static let ipReplacements = ["22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206", "220.127.116.11", "18.104.22.168"]
    private var emailTurn = 0
    private var ipTurn = 0

    public init() {}

    public mutating func format(_ text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        var changed = false
        if scalars.contains("@") { changed = replaceEmails(&scalars) || changed }
        if scalars.contains(".") { changed = replaceIPs(&scalars) || changed }
        guard changed else { return text }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars)
        return String(out)
    }

    // MARK: E-mail addresses

    static let localCharacters = ScalarSet("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-")

    @inline(__always) static func isAlphanumeric(_ c: Unicode.Scalar) -> Bool {
        c.value < 0x80 && (WordSplitter.isDigit(c) || WordSplitter.isLetter(c))
    }

    /// Python's `\w` (a word character for `\b`): letters, digits (any script) and "_".
    @inline(__always) static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
    }

    /// The end of an address starting at `start`, or nil: `local(.local)*@label(.label)+`.
    static func emailEnd(_ s: [Unicode.Scalar], at start: Int) -> Int? {
        var i = start
        guard i < s.count, localCharacters.contains(s[i]) else { return nil }
        while i < s.count, localCharacters.contains(s[i]) { i += 1 }
        while i + 1 < s.count, s[i] == ".", localCharacters.contains(s[i + 1]) {
            i += 1
            while i < s.count, localCharacters.contains(s[i]) { i += 1 }
        }
        guard i < s.count, s[i] == "@" else { return nil }
        i += 1
        var labels = 0, end = i
        while i < s.count, isAlphanumeric(s[i]) {
            var j = i
            while j < s.count, isAlphanumeric(s[j]) || s[j] == "-" { j += 1 }
            var labelEnd = j
            while s[labelEnd - 1] == "-" { labelEnd -= 1 }
            labels += 1
            end = labelEnd
            // A label that had to give up a trailing hyphen can only be the last.
            guard labelEnd == j, j + 1 < s.count, s[j] == ".", isAlphanumeric(s[j + 1]) else { break }
            i = j + 1
        }
        return labels >= 2 ? end : nil
    }

    mutating func replaceEmails(_ s: inout [Unicode.Scalar]) -> Bool {
        Self.replaceMatches(in: &s) { s, i in
            let boundary = (i == 0 ? false : Self.isWordCharacter(s[i - 1])) != Self.isWordCharacter(s[i])
            return boundary ? Self.emailEnd(s, at: i) : nil
        } replacement: { _ in
            defer { emailTurn = (emailTurn + 1) % Self.emailReplacements.count }
            return Self.emailReplacements[emailTurn]
        }
    }

    /// `re.sub` by hand: left to right, a match found at `i` (its end, from `match`) is replaced by
    /// `replacement` (nil: left as it is) and the search goes on after it.
    static func replaceMatches(in s: inout [Unicode.Scalar], match: ([Unicode.Scalar], Int) -> Int?,
                               replacement: (ArraySlice<Unicode.Scalar>) -> String?) -> Bool {
        var out: [Unicode.Scalar] = []
        var i = 0, copied = 0, changed = false
        while i < s.count {
            guard let end = match(s, i) else { i += 1; continue }
            if let new = replacement(s[i..<end]) {
                out.append(contentsOf: s[copied..<i])
                out.append(contentsOf: new.unicodeScalars)
                changed = true
                copied = end
            }
            i = end
        }
        if changed { out.append(contentsOf: s[copied...]); s = out }
        return changed
    }

    // MARK: IPv4 addresses

    /// The lengths an octet may take at `p`, in the order the regex tries them:
    /// `25[0-5]`, `2[0-4][0-9]`, `[01]?[0-9][0-9]?`.
    static func octetLengths(_ s: [Unicode.Scalar], _ p: Int) -> [Int] {
        func digit(_ k: Int) -> UInt32? { k < s.count && WordSplitter.isDigit(s[k]) ? s[k].value - 0x30 : nil }
        guard let a = digit(p) else { return [] }
        var lengths: [Int] = []
        if a == 2, let b = digit(p + 1), let c = digit(p + 2) {
            if b == 5 && c <= 5 { lengths.append(3) }
            if b <= 4 { lengths.append(3) }
        }
        if a <= 1, digit(p + 1) != nil {
            if digit(p + 2) != nil { lengths.append(3) }
            lengths.append(2)
        }
        if digit(p + 1) != nil { lengths.append(2) }
        lengths.append(1)
        return lengths
    }

    /// The first match at `p` as the regex finds it (backtracking over the octets' lengths).
    static func ipEnd(_ s: [Unicode.Scalar], at p: Int, octet: Int = 0) -> Int? {
        for length in octetLengths(s, p) {
            let end = p + length
            if octet == 3 { return end }
            if end < s.count, s[end] == ".", let found = ipEnd(s, at: end + 1, octet: octet + 1) { return found }
        }
        return nil
    }

    /// Python's `ipaddress.ip_address(text).is_global` for IPv4 (3.11): no leading zeros, and not
    /// in a private, reserved or shared range.
    static func isGlobal(_ s: ArraySlice<Unicode.Scalar>) -> Bool {
        var octets: [UInt32] = []
        for part in s.split(separator: ".", omittingEmptySubsequences: false) {
            if part.count > 1 && part.first == "0" { return false }
            octets.append(part.reduce(0) { $0 * 10 + ($1.value - 0x30) })
        }
        guard octets.count == 4, octets.allSatisfy({ $0 <= 255 }) else { return false }
        let address = octets.reduce(0) { $0 << 8 | $1 }
        for (network, bits) in Self.notGlobal where address >> (32 - bits) == network >> (32 - bits) { return false }
        return true
    }

    static let notGlobal: [(UInt32, UInt32)] = [
        (0x0000_0000, 8), (0x0A00_0000, 8), (0x6440_0000, 10), (0x7F00_0000, 8), (0xA9FE_0000, 16), (0xAC10_0000, 12),
        (0xC000_0000, 29), (0xC000_00AA, 31), (0xC000_0200, 24), (0xC0A8_0000, 16), (0xC612_0000, 15), (0xC633_6400, 24),
        (0xCB00_7100, 24), (0xF000_0000, 4), (0xFFFF_FFFF, 32),
    ]

    mutating func replaceIPs(_ s: inout [Unicode.Scalar]) -> Bool {
        Self.replaceMatches(in: &s) { s, i in
            WordSplitter.isDigit(s[i]) ? Self.ipEnd(s, at: i) : nil
        } replacement: { address in
            guard Self.isGlobal(address) else { return nil }
            defer { ipTurn = (ipTurn + 1) % Self.ipReplacements.count }
            return Self.ipReplacements[ipTurn]
        }
    }
}
