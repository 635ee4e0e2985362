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

/// How a plain-text file is cut into documents (the names of Hugging Face `datasets`' text
/// loader's `sample_by`): the whole file, each blank-line-separated paragraph, or each line.
public enum TextSampling: String, Sendable, CaseIterable {
    case document, paragraph, line
}

/// A plain-text file cut into one record per paragraph or per line, streamed, so a corpus of
/// many documents in one file fits in constant memory. Sources read `path#paragraph=N` or
/// `path#line=N` (1-based); ingest's validation split and `--part` hash the text, not the source.
public final class TextSampleReader: RecordReader {
    private let input: BufferedReader
    private let sourceName: String
    private let sampling: TextSampling
    private var samples = 0
    public let skipped: [DropReason: Int] = [:]

    public init(input: ByteSource, sourceName: String, sampling: TextSampling) {
        self.input = BufferedReader(input)
        self.sourceName = sourceName
        self.sampling = sampling
    }

    public func next() throws -> RawRecord? {
        var sample: [UInt8] = []
        var consumed = 0
        while let line = try input.readLineWithEnding() {
            consumed += line.count
            let blank = line.allSatisfy(isASCIISpace)
            if sampling == .line {
                if blank { continue }
                sample = line
                break
            }
            if blank {
                if sample.isEmpty { continue }
                break
            }
            sample.append(contentsOf: line)
        }
        guard !sample.isEmpty else { return nil }
        samples += 1
        return RawRecord(source: sourceName + "#\(sampling.rawValue)=\(samples)", payload: .plain(sample), byteCount: consumed)
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
        while var line = try input.readLine(limit: 1 << 30) {
            lineNumber += 1
            // A UTF-8 byte order mark before the first record is no part of it.
            if lineNumber == 1 && line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
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
