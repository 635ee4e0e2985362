import ArgumentParser
import Foundation
import QuarryCore
import QuarryTokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train, encode and decode with a byte-level BPE tokenizer (Hugging Face tokenizer.json).",
        discussion: """
        Examples:
          quarry tokenizer train docs.jsonl --vocab-size 8192 --out tokenizer.json
          quarry tokenizer encode --tokenizer tokenizer.json docs.jsonl > ids.txt
          quarry tokenizer decode --tokenizer tokenizer.json ids.txt
        """,
        subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self]
    )
}

/// Lines of each input (files or standard input) in batches, with the document kind of each file.
func forEachLineBatch(_ paths: [String], size: Int, _ body: ([String], DocumentLines.Kind) throws -> Void) throws {
    for path in paths.isEmpty ? ["-"] : paths {
        let reader = try LineReader(path: path)
        var kind: DocumentLines.Kind?
        while true {
            let lines = try reader.nextLines(max: size)
            if lines.isEmpty { break }
            if kind == nil, let first = lines.first(where: { !$0.allSatisfy(\.isWhitespace) }) {
                kind = DocumentLines.kind(of: Data(first.utf8))
            }
            try body(lines, kind ?? .plain)
        }
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
        let skipped = try runReporting { () -> Int in
            let skipped = try encoder.encodeFiles(inputs, to: out)
            try out.commit()
            return skipped
        }
        if skipped > 0 { printError("warning: \(skipped) JSONL line(s) without a string \"text\" were skipped") }
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
        try runReporting {
            try forEachLineBatch(inputs, size: 16384) { lines, _ in
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
                try out.write(buffer)
            }
            try out.commit()
        }
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
