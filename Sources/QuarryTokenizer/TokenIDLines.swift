import QuarryCore

/// The text form of token ids that `tokenizer encode` writes and `decode` reads: one document
/// per line, its ids separated by spaces.
public enum TokenIDLines {
    /// Decodes every line of `paths` (standard input for none) to `output`: the raw text, or with
    /// `jsonl` a `{"text": …}` line, so documents with newlines stay one per line.
    public static func decode(_ paths: [String], model: BPEModel, jsonl: Bool, to output: OutputFile) throws {
        var lineNumber = 0
        for path in paths.isEmpty ? ["-"] : paths {
            let reader = try LineReader(path: path)
            while true {
                let lines = try reader.nextLines(max: 16384)
                if lines.isEmpty { break }
                var buffer: [UInt8] = []
                for line in lines {
                    lineNumber += 1
                    var ids: [Int32] = []
                    for field in line.split(whereSeparator: { $0 == " " || $0 == "\r" }) {
                        guard let id = Int32(field) else { throw QuarryError("line \(lineNumber): \"\(field)\" is not a token id") }
                        ids.append(id)
                    }
                    let bytes: [UInt8]
                    do { bytes = try model.decodeBytes(ids) } catch { throw QuarryError("line \(lineNumber): \(error)") }
                    if jsonl {
                        buffer.append(contentsOf: Array("{\"text\":".utf8))
                        JSONText.appendString(String(decoding: bytes, as: UTF8.self), to: &buffer)
                        buffer.append(contentsOf: Array("}\n".utf8))
                    } else {
                        buffer.append(contentsOf: bytes)
                        buffer.append(0x0A)
                    }
                }
                try output.write(buffer)
            }
        }
    }
}
