/// Example text made safe for a terminal: escape sequences, control characters and bidi
/// overrides are shown as visible symbols instead of being sent raw (an example containing
/// `ESC[2J` must not clear the annotator's screen, and U+202E must not reverse what follows).
/// Every text that came from a file or a user (example text, task and label names, annotators,
/// file names in messages) passes through here before it reaches a terminal.
public enum SafeText {
    public static func visible(_ text: String) -> String {
        render(text, keepingNewlines: true)
    }

    /// The same on one line: a newline is shown as ␊ (names, file names, values in messages).
    public static func line(_ text: String) -> String {
        render(text, keepingNewlines: false)
    }

    /// Whether a name holds nothing `line` would have to show differently.
    public static func isPlain(_ text: String) -> Bool {
        line(text) == text
    }

    static func render(_ text: String, keepingNewlines: Bool) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            let v = s.value
            switch v {
            case 0x0A where keepingNewlines: out.append(s)
            case 0x09 where keepingNewlines: out.append(contentsOf: "    ".unicodeScalars)
            case 0x00..<0x20:
                out.append(Unicode.Scalar(0x2400 + v) ?? "?")          // ␀ … ␟ (␛ for ESC)
            case 0x7F: out.append("\u{2421}")                          // ␡
            case 0x80..<0xA0, 0x200E, 0x200F, 0x061C, 0x202A...0x202E, 0x2066...0x2069, 0xFFF9...0xFFFB:
                out.append(contentsOf: "<U+\(String(v, radix: 16, uppercase: true))>".unicodeScalars)
            default: out.append(s)
            }
        }
        return String(out)
    }

    /// Lines wrapped to `width` columns (by characters; wide characters count as one).
    public static func wrap(_ text: String, width: Int) -> [String] {
        let width = max(10, width)
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: false) {
                var word = Substring(word)
                while word.count > width {                     // a word longer than the line
                    if !line.isEmpty { lines.append(line); line = "" }
                    lines.append(String(word.prefix(width)))
                    word = word.dropFirst(width)
                }
                if line.isEmpty { line = String(word) }
                else if line.count + 1 + word.count <= width { line += " " + word }
                else { lines.append(line); line = String(word) }
            }
            lines.append(line)
        }
        return lines
    }
}
