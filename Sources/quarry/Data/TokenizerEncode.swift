import ArgumentParser
import Foundation
import QuarryCore
import QuarryPipeline
import QuarryTokenizer

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

    @Option(name: .shortAndLong, help: "A tokenizer.json (byte-level BPE), a model directory or a .gguf file.")
    var tokenizer: String

    @Option(name: .shortAndLong, parsing: .unconditional, help: "Threads (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Argument(help: "Input files (default: standard input).")
    var inputs: [String] = []

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
    }

    func run() throws {
        let model = try runReporting { try TokenizerSource.load(tokenizer) }
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
