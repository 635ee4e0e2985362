/// JSON Lines, the record format of quarry's text files: which kind of lines a file holds, and each
/// record with its place (`path:line`) for error messages.
public enum JSONLines {
    /// What the lines of a text input are: JSON objects, or plain text.
    public enum Kind: Sendable { case jsonl, plain }

    /// JSONL when the first byte that is not whitespace opens an object.
    public static func kind<Bytes: Sequence>(ofHead head: Bytes) -> Kind where Bytes.Element == UInt8 {
        for b in head where !(b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09) {
            return b == UInt8(ascii: "{") ? .jsonl : .plain
        }
        return .plain
    }

    /// Calls `body` with each non-blank line of a JSONL file (or "-", standard input), parsed, and
    /// its place; a line that is not JSON is an error naming that place.
    public static func forEachRecord(in path: String, _ body: (JSONValue, String) throws -> Void) throws {
        let reader = try LineReader(path: path)
        var lineNumber = 0
        while true {
            let lines = try reader.nextLines(max: 16384)
            if lines.isEmpty { break }
            for line in lines {
                lineNumber += 1
                if line.allSatisfy(\.isWhitespace) { continue }
                let place = "\(path):\(lineNumber)"
                guard let json = try? JSONValue.parse(line) else { throw QuarryError("\(place): not a JSON object") }
                try body(json, place)
            }
        }
    }

    /// The documents of a text input, a batch at a time: each non-blank line, and for JSONL its
    /// record and its "text" (empty when it has none); for plain text the line is the text.
    public final class TextReader {
        public struct Item: Sendable {
            public let line: String
            public let record: JSONValue?
            public let text: String
        }
        private let reader: LineReader
        private var kind: Kind?

        /// `path`: a file, or "-" for standard input.
        public init(path: String) throws { reader = try LineReader(path: path) }

        /// Up to `max` documents; empty at the end.
        public func next(max: Int) throws -> [Item] {
            let lines = try reader.nextLines(max: max).filter { $0.contains(where: { !$0.isWhitespace }) }
            if kind == nil, let first = lines.first { kind = JSONLines.kind(ofHead: first.utf8) }
            guard kind == .jsonl else { return lines.map { Item(line: $0, record: nil, text: $0) } }
            return lines.map { line in
                let record = try? JSONValue.parse(line)
                return Item(line: line, record: record, text: record?["text"]?.string ?? "")
            }
        }

        /// Whether the lines are JSON records (known after the first batch).
        public var isJSON: Bool { kind == .jsonl }
    }

    /// A record's string `text`; nil when the line is not an object with one.
    public static func text(ofLine line: String) -> String? {
        (try? JSONValue.parse(line))?["text"]?.string
    }

    public static func text(ofLine line: [UInt8]) -> String? {
        (try? JSONValue.parse(line))?["text"]?.string
    }
}

/// Text → token ids: what a stage needs of a tokenizer without depending on one (the fine-tuning
/// data readers take any encoder; QuarryTokenizer's `BPEEncoder` is the one quarry ships).
public protocol TokenEncoder {
    func encode(_ text: String) -> [Int32]
}
