import Foundation
import QuarryCore

/// One record for the whole input: an HTML page or a plain-text file.
public final class WholeFileReader: RecordReader {
    private let input: ByteSource
    private let sourceName: String
    private let format: InputFormat
    private var done = false
    public let skipped: [DropReason: Int] = [:]

    public init(input: ByteSource, sourceName: String, format: InputFormat) {
        self.input = input
        self.sourceName = sourceName
        self.format = format
    }

    public func next() throws -> RawRecord? {
        guard !done else { return nil }
        done = true
        let bytes = try input.readAll()
        let payload: RawRecord.Payload = format == .html ? .html(bytes, declaredCharset: nil) : .plain(bytes)
        return RawRecord(source: sourceName, payload: payload, byteCount: bytes.count)
    }
}

/// JSON Lines with a `text` field; `id`, `title` and `url` are kept when present.
/// A line that is not a JSON object with a string `text` is counted and skipped.
public final class JSONLReader: RecordReader {
    private let input: BufferedReader
    private let sourceName: String
    private var lineNumber = 0
    public private(set) var skipped: [DropReason: Int] = [:]
    public private(set) var recordErrors: [String] = []

    public init(input: ByteSource, sourceName: String) {
        self.input = BufferedReader(input)
        self.sourceName = sourceName
    }

    public func next() throws -> RawRecord? {
        while let line = try input.readLine(limit: 1 << 30) {
            lineNumber += 1
            if line.allSatisfy(isASCIISpace) { continue }
            guard let object = try? JSONValue.parse(line), let text = object["text"]?.string else {
                skipped[.badRecord, default: 0] += 1
                if recordErrors.count < 20 { recordErrors.append("line \(lineNumber): not a JSON object with a string \"text\"; skipped") }
                continue
            }
            let id: String? = object["id"]?.string ?? object["id"]?.integer.map(String.init)
            return RawRecord(source: sourceName + "#line=\(lineNumber)", id: id, title: object["title"]?.string,
                             url: object["url"]?.string, payload: .decoded(text), byteCount: line.count)
        }
        return nil
    }
}
