import ArgumentParser
import Foundation
import QuarryCore
import QuarryTokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train, encode and decode with a byte-level BPE tokenizer (Hugging Face tokenizer.json).",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self]
    )
}

/// Reads documents from files or standard input, line by line, in batches.
struct DocumentReader {
    let paths: [String]

    func forEachBatch(size: Int = 4096, _ body: ([String]) throws -> Void) throws -> (documents: Int, skipped: Int) {
        var documents = 0, skipped = 0
        for path in paths.isEmpty ? ["-"] : paths {
            let handle: FileHandle
            if path == "-" { handle = .standardInput } else {
                guard let h = FileHandle(forReadingAtPath: path) else {
                    throw QuarryError("cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")")
                }
                handle = h
            }
            var kind: DocumentLines.Kind?
            var pending = Data()
            var batch: [String] = []
            func take(_ line: Data) {
                let k = kind ?? DocumentLines.kind(of: line)
                if kind == nil && !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { kind = k }
                var text = String(decoding: line, as: UTF8.self)
                if text.hasSuffix("\r") { text.removeLast() }
                if k == .jsonl {
                    if text.allSatisfy({ $0 == " " }) { return }
                    guard let t = DocumentLines.text(ofLine: Substring(text), kind: .jsonl) else { skipped += 1; return }
                    batch.append(t)
                } else {
                    batch.append(text)
                }
            }
            while true {
                let chunk = handle.readData(ofLength: 1 << 20)
                if chunk.isEmpty { break }
                pending.append(chunk)
                var start = pending.startIndex
                while let newline = pending[start...].firstIndex(of: 0x0A) {
                    take(pending[start..<newline])
                    start = newline + 1
                    if batch.count >= size { documents += batch.count; try body(batch); batch.removeAll(keepingCapacity: true) }
                }
                pending = Data(pending[start...])
            }
            if !pending.isEmpty { take(pending) }
            if !batch.isEmpty { documents += batch.count; try body(batch) }
        }
        return (documents, skipped)
    }
}

struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode documents to token ids: one line of space-separated ids per document, in input order.",
        discussion: """
        Input is JSONL (each line's "text") or plain text (each line a document), from files or \
        standard input.

        Example:
          quarry tokenizer encode --tokenizer tokenizer.json docs.jsonl > ids.txt
        """
    )

    @Option(name: .shortAndLong, help: "A tokenizer.json (byte-level BPE).")
    var tokenizer: String

    @Option(name: .shortAndLong, help: "Threads (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Argument(help: "Input files (default: standard input).")
    var inputs: [String] = []

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
    }

    func run() throws {
        let model = try loadTokenizer(tokenizer)
        let encoder = ParallelEncoder(model: model, jobs: jobs)
        let out = try OutputFile(path: nil)
        let counts = try runReporting {
            try DocumentReader(paths: inputs).forEachBatch(size: 8192) { batch in
                for ids in encoder.encode(batch) {
                    var line = ids.map { String($0) }.joined(separator: " ")
                    line.append("\n")
                    try out.write(Array(line.utf8))
                }
            }
        }
        try out.commit()
        if counts.skipped > 0 { printError("warning: \(counts.skipped) JSONL line(s) without a string \"text\" were skipped") }
    }
}

struct TokenizerDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode lines of space-separated token ids back to text (one document per line).",
        discussion: """
        Example:
          quarry tokenizer decode --tokenizer tokenizer.json ids.txt
        """
    )

    @Option(name: .shortAndLong, help: "A tokenizer.json (byte-level BPE).")
    var tokenizer: String

    @Flag(help: "Write JSONL ({\"text\": …}) instead of raw text, so documents with newlines stay one per line.")
    var jsonl = false

    @Argument(help: "Input files of ids (default: standard input).")
    var inputs: [String] = []

    func run() throws {
        let model = try loadTokenizer(tokenizer)
        let out = try OutputFile(path: nil)
        var lineNumber = 0
        _ = try runReporting {
            try DocumentReader(paths: inputs).forEachBatch { batch in
                for line in batch {
                    lineNumber += 1
                    var ids: [Int32] = []
                    for field in line.split(separator: " ", omittingEmptySubsequences: true) {
                        guard let id = Int32(field) else { throw QuarryError("line \(lineNumber): \"\(field)\" is not a token id") }
                        ids.append(id)
                    }
                    let bytes: [UInt8]
                    do { bytes = try model.decodeBytes(ids) } catch { throw QuarryError("line \(lineNumber): \(error)") }
                    if jsonl {
                        var record = Array("{\"text\":".utf8)
                        JSONText.appendString(String(decoding: bytes, as: UTF8.self), to: &record)
                        record.append(contentsOf: Array("}\n".utf8))
                        try out.write(record)
                    } else {
                        try out.write(bytes + [0x0A])
                    }
                }
            }
        }
        try out.commit()
    }
}

func loadTokenizer(_ path: String) throws -> BPEModel {
    do { return try TokenizerFile.load(path: path) } catch {
        printError("error: \(error)")
        throw ExitCode(1)
    }
}

/// Runs work whose errors are user-facing: prints them as one line and exits non-zero.
func runReporting<T>(_ work: () throws -> T) throws -> T {
    do { return try work() } catch let exit as ExitCode { throw exit } catch {
        printError("error: \(error)")
        throw ExitCode(1)
    }
}
