import ArgumentParser
import Foundation
import QuarryCore
import QuarryIngest
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

    @Option(help: "Vocabulary size, special tokens included.")
    var vocabSize: Int

    @Option(name: [.short, .long], help: "Where to write tokenizer.json (written atomically).")
    var out: String

    @Option(help: "Pairs seen fewer times than this are never merged.")
    var minFrequency: Int = 2

    @Option(help: "Comma-separated special tokens, given the first ids.", transform: { $0.split(separator: ",").map(String.init) })
    var specialTokens: [String] = ["<|endoftext|>"]

    @Option(name: [.short, .long], help: "Threads for counting words (default: all cores).")
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
        let expansion = InputFiles.expand(inputs)
        for message in expansion.errors { printError("error: \(message)") }
        guard !expansion.files.isEmpty else {
            printError("error: no input files to read")
            throw ExitCode(1)
        }
        let trainer = BPETrainer(options: .init(vocabularySize: vocabSize, minimumFrequency: Int64(minFrequency),
                                                specialTokens: specialTokens, jobs: jobs))
        let showProgress = !quiet && isatty(2) != 0
        let counting = ProgressLine(label: "counting words", totalBytes: InputFiles.totalSize(expansion.files), enabled: showProgress)
        let counts = try runReporting {
            try TextCorpus(files: expansion.files, jobs: jobs).forEachBatch(progress: { counting.update(bytes: $0, items: trainer.sequences) }) {
                trainer.add($0)
            }
        }
        counting.finish()
        for message in counts.errors { printError("warning: \(message)") }
        guard counts.texts > 0 else {
            printError("error: no text found in the input")
            throw ExitCode(1)
        }
        let countSeconds = Date().timeIntervalSince(started)
        let merging = ProgressLine(label: "merging", totalBytes: 0, enabled: showProgress)
        let model = try runReporting {
            try trainer.train { size, target in merging.update(bytes: 0, items: size, total: target) }
        }
        merging.finish()
        try runReporting { try TokenizerFile.save(model, to: out) }
        if !quiet {
            let seconds = Date().timeIntervalSince(started)
            printError(String(format: "trained %d tokens (%d merges) on %d sequences, %@ (%d unique words) in %.1fs (counting %.1fs); wrote %@",
                              model.vocabularySize, model.merges.count, counts.texts, ProgressLine.formatBytes(counts.bytes),
                              trainer.uniqueWords, seconds, countSeconds, out))
            if model.vocabularySize < vocabSize {
                printError("note: stopped at \(model.vocabularySize) tokens: no pair occurs \(minFrequency) times or more")
            }
        }
    }
}
