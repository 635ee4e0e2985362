import ArgumentParser
import QuarryCore
import QuarryPipeline
import QuarryTokenizer

struct TokenizerDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode lines of space-separated token ids back to text (one document per line).",
        discussion: """
        Example:
          quarry tokenizer decode --tokenizer tokenizer.json ids.txt
        """
    )

    @Option(name: .shortAndLong, help: "A tokenizer.json (byte-level BPE), a model directory or a .gguf file.")
    var tokenizer: String

    @Flag(help: "Write JSONL ({\"text\": …}) instead of raw text, so documents with newlines stay one per line.")
    var jsonl = false

    @Argument(help: "Input files of ids (default: standard input).")
    var inputs: [String] = []

    func run() throws {
        let model = try runReporting { try TokenizerSource.load(tokenizer) }
        let out = try OutputFile(path: nil)
        try runReporting {
            try TokenIDLines.decode(inputs, model: model, jsonl: jsonl, to: out)
            try out.commit()
        }
    }
}
