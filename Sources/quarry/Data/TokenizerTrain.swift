import ArgumentParser
import Foundation
import QuarryCore
import QuarryIngest
import QuarryPipeline
import QuarryTokenizer

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a byte-level BPE tokenizer and write it as a Hugging Face tokenizer.json.",
        discussion: """
        GPT-2 pre-tokenization, the 256 byte symbols as the base alphabet, special tokens first \
        (<|endoftext|> is id 0). Training follows Hugging Face's BpeTrainer (same merge order), \
        so HF `tokenizers` loads the result and encodes identically.

        INPUT is anything `quarry extract` reads (dumps, pages, WARC), plus JSONL (the "text" \
        field) and plain text (one sequence per line, as HF reads training files).

        Examples:
          quarry tokenizer train corpus.txt --vocab-size 8192 --out tokenizer.json
          quarry tokenizer train wiki.jsonl --vocab-size 32768 --special-tokens '<|endoftext|>,<|pad|>' --out tok.json
        """
    )

    @Argument(help: "Training text: files or directories.")
    var inputs: [String]

    @Option(parsing: .unconditional, help: "Vocabulary size, special tokens included.")
    var vocabSize: Int

    @Option(name: [.short, .long], help: "Where to write tokenizer.json (written atomically).")
    var out: String

    @Option(parsing: .unconditional, help: "Pairs seen fewer times than this are never merged.")
    var minFrequency: Int = 2

    @Option(help: "Comma-separated special tokens, given the first ids.", transform: { $0.split(separator: ",").map(String.init) })
    var specialTokens: [String] = ["<|endoftext|>"]

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads for counting words (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: [.short, .long], help: "No progress and no summary on standard error.")
    var quiet = false

    func validate() throws {
        guard vocabSize >= 256 + specialTokens.count else {
            throw ValidationError("--vocab-size must be at least \(256 + specialTokens.count) (256 byte symbols + \(specialTokens.count) special token(s))")
        }
        guard vocabSize <= Int(Int32.max) else { throw ValidationError("--vocab-size is too large") }
        guard minFrequency >= 0 else { throw ValidationError("--min-frequency must not be negative") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
    }

    func run() throws {
        let started = Date()
        let expansion = try expandInputs(inputs)
        if let input = InputFiles.input(overwrittenBy: out, among: expansion.files) {
            printError("error: --out \(out) is the input \(input): write the tokenizer elsewhere")
            throw ExitCode(1)
        }
        var training = TokenizerTraining(options: .init(vocabularySize: vocabSize, minimumFrequency: Int64(minFrequency),
                                                        specialTokens: specialTokens, jobs: jobs))
        let counting = ProgressLine(label: "counting words", totalBytes: InputFiles.totalSize(expansion.files), enabled: progressEnabled(quiet: quiet))
        let merging = ProgressLine(label: "merging", enabled: progressEnabled(quiet: quiet))
        training.onCounting = { counting.update(bytes: $0, items: $1) }
        training.onMerging = { size, target in
            counting.finish()
            merging.update(done: size, of: target)
        }
        training.onUnreadable = { printError("warning: \($0)") }
        let result = try runReporting { try training.train(on: expansion.files) }
        counting.finish()
        merging.finish()
        try runReporting { try TokenizerFile.save(result.model, to: out) }
        if !quiet {
            printError(String(format: "trained %d tokens (%d merges) on %d sequences, %@ (%d unique words) in %.1fs (counting %.1fs); wrote %@",
                              result.model.vocabularySize, result.model.merges.count, result.corpus.texts, ProgressLine.formatBytes(result.corpus.bytes),
                              result.uniqueWords, Date().timeIntervalSince(started), result.countingSeconds, out))
            if result.model.vocabularySize < vocabSize {
                printError("note: stopped at \(result.model.vocabularySize) tokens: no pair occurs \(minFrequency) times or more")
            }
        }
    }
}
