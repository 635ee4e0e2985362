import ArgumentParser
import Foundation
import QuarryCore
import QuarryIngest
import QuarryPipeline
import QuarryShards
import QuarryTokenizer

struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Extract, filter, de-duplicate and tokenize documents into binary shards with a manifest.",
        discussion: """
        Runs extract → clean → quality filter → de-duplication → tokenize → write, streaming, on \
        all cores. Output is the same for the same inputs and flags, whatever --jobs. Shards are \
        renamed into place when complete and DIR/manifest.json is rewritten after each one: \
        rerunning the same command after an interruption resumes where it stopped.

        Formats: megatron (Megatron-LM indexed dataset .bin/.idx, one sequence per document, \
        <|endoftext|> appended), llmc (llm.c shards: 1 KiB header, <|endoftext|> before each \
        document), nanogpt (train.bin/val.bin, uint16, <|endoftext|> after each document).

        Examples:
          quarry ingest enwiki.xml.bz2 --tokenizer tokenizer.json --out shards/
          quarry ingest crawl/ --vocab-size 32768 --format llmc --val-fraction 0.01 --out shards/
          quarry ingest dumps/ --tokenizer tok.json --part 2/4 --out part2/   # then: quarry shards merge
          quarry ingest crawl/ --tokenizer tok.json --languages en --filters gopher-repetition,gopher-quality,c4,fineweb \\
            --pii --rejected rejected/ --out shards/   # FineWeb's steps; read what they dropped in rejected/
        """
    )

    @Argument(help: "Files or directories: anything `quarry extract` reads.")
    var inputs: [String]

    @Option(name: [.short, .long], help: "Output directory for the shards and manifest.json.")
    var out: String

    @Option(name: [.short, .long], help: "The tokenizer to encode with: a byte-level BPE tokenizer.json, or a pre-trained model's (a model directory, a .gguf file, ORG/NAME in the Hugging Face cache).")
    var tokenizer: String?

    @Option(parsing: .unconditional, help: "Train a tokenizer of this size on the inputs first (saved as DIR/tokenizer.json).")
    var vocabSize: Int?

    @Option(help: "megatron, llmc or nanogpt.")
    var format: ShardFormat = .megatron

    @Option(parsing: .unconditional, help: "Tokens per shard (llm.c: exactly; megatron: at least, whole documents).")
    var shardTokens: Int = 100_000_000

    @Option(parsing: .unconditional, help: "Share of documents for the validation split, chosen by a hash of each document's text (the same whatever the path).")
    var valFraction: Double = 0

    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "K/N: process only the K-th of N disjoint slices of the input (files, or documents when there are fewer files than N).")
    var part: String = "1/1"

    @Option(parsing: .unconditional, help: "Quality filter: documents with fewer words are dropped.")
    var minWords: Int = 50

    @Flag(help: "Skip the Gopher quality rules (the word-count minimum included).")
    var noQualityFilter = false

    @Option(help: ArgumentHelp("Cleaning filters, run in the order given, any of gopher-quality, gopher-repetition, fineweb, c4 (datatrove's rules and defaults; `quarry filter --help` says what each checks). C4 removes lines, and the text it leaves is what is tokenized.", valueName: "list"))
    var filters: String = "gopher-quality"

    @Option(help: ArgumentHelp("Keep only documents this fastText classifier (.bin/.ftz: a DCLM or FineWeb-Edu style quality model) gives --quality-label at least --quality-threshold; datatrove's FastTextClassifierFilter.", valueName: "path"))
    var qualityModel: String?

    @Option(help: ArgumentHelp("With --quality-model: the label to keep (with or without __label__).", valueName: "label"))
    var qualityLabel: String?

    @Option(parsing: .unconditional, help: "With --quality-model: the least probability of --quality-label a kept document has.")
    var qualityThreshold: Double = 0.5

    @Option(help: ArgumentHelp("Drop documents whose url is blocked by this list (one domain, URL or banned word a line; datatrove's URLFilter checks and reasons; see docs/ingest.md).", valueName: "file"))
    var urlBlocklist: String?

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Drop documents sharing a run of 13 words with any text of these files (evaluation or labelled sets: JSONL with \"text\", or plain text lines), as NeMo Curator's decontamination; counted as contaminated.", valueName: "file"))
    var decontaminate: [String] = []

    @Flag(help: "Replace e-mail addresses and public IPv4 addresses in the kept documents, as datatrove's PIIFormatter does (email@example.com, firstname.lastname@example.org; six unused addresses in turn).")
    var pii = false

    @Option(help: ArgumentHelp("Write every dropped document (JSONL with id, source, text, filter, filter_reason, value, language) to DIR/<filter>/rejected.jsonl, so you can read what a threshold costs; records that converted to nothing are listed with empty text.", valueName: "dir"))
    var rejected: String?

    @Option(help: "exact, near (MinHash LSH) or off.")
    var dedup: Deduplicator.Mode = .exact

    @Option(help: "What one document of a plain-text input is: the whole file, each blank-line-separated paragraph, or each line.")
    var sampleBy: TextSampling = .document

    @Option(help: ArgumentHelp("Keep only documents whose identified language is one of these (e.g. en,de; lid.176's codes, or the --lang-model's labels without __label__), scoring at least --lang-threshold.", valueName: "list")) var languages: String?

    @Option(parsing: .unconditional, help: "With --languages: the least probability of the top language a kept document has.") var langThreshold: Double = 0.65

    @Option(help: ArgumentHelp("Identify languages with this fastText model (bare --lang-model, or --languages alone: lid.176.ftz from the models cache); kept documents are counted per language in the manifest, and the English stop-word rule applies to English documents only.", valueName: "path")) var langModel: String?

    @Flag(name: [.short, .long], help: "No progress and no summary on standard error.")
    var quiet = false

    /// --part as K and N.
    var slice: (k: Int, n: Int)? {
        if case .slice(let k, let n) = IngestPart(parsing: part) { return (k, n) }
        return nil
    }

    var options: IngestOptions {
        var options = IngestOptions()
        options.format = format
        options.shardTokens = shardTokens
        options.valFraction = valFraction
        options.jobs = jobs
        options.part = slice?.k ?? 1
        options.parts = slice?.n ?? 1
        options.minWords = minWords
        options.quality = !noQualityFilter
        options.filters = (try? FilterChain(parsing: filters).names) ?? [.gopherQuality]
        options.rejectedDirectory = rejected
        options.pii = pii
        options.decontaminationSets = decontaminate.isEmpty ? nil : decontaminate
        options.urlBlocklistFile = urlBlocklist
        options.dedup = dedup
        options.textSampling = sampleBy
        options.showProgress = progressEnabled(quiet: quiet)
        options.languages = keptLanguages
        options.languageThreshold = langThreshold
        return options
    }

    var keptLanguages: Set<String>? {
        languages.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }) }
    }

    func validate() throws {
        guard (tokenizer == nil) != (vocabSize == nil) else {
            throw ValidationError("give exactly one of --tokenizer FILE or --vocab-size N")
        }
        guard shardTokens >= 1 else { throw ValidationError("--shard-tokens must be at least 1") }
        if format == .llmc && shardTokens >= 1 << 31 { throw ValidationError("llm.c shards hold fewer than 2^31 tokens: lower --shard-tokens") }
        guard valFraction >= 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        do { _ = try FilterChain(parsing: filters) } catch let error as QuarryError { throw ValidationError(error.message) }
        guard minWords >= 0 else { throw ValidationError("--min-words must not be negative") }
        guard slice != nil else { throw ValidationError("--part must be K/N with 1 ≤ K ≤ N, e.g. 2/4 (got \(part))") }
        if let vocabSize, vocabSize < 257 { throw ValidationError("--vocab-size must be at least 257") }
        if let kept = keptLanguages, kept.isEmpty { throw ValidationError("--languages needs at least one language, e.g. --languages en,de") }
        guard qualityThreshold.isFinite && qualityThreshold >= 0 && qualityThreshold <= 1 else { throw ValidationError("--quality-threshold must be in [0, 1] (got \(qualityThreshold))") }
        if qualityLabel != nil && qualityModel == nil { throw ValidationError("--quality-label goes with --quality-model MODEL") }
        guard langThreshold.isFinite && langThreshold >= 0 && langThreshold <= 1 else { throw ValidationError("--lang-threshold must be in [0, 1] (got \(langThreshold))") }
    }

    func run() throws {
        let expansion = try expandInputs(inputs)
        let started = Date()
        let result = try runReporting { () -> IngestRun.Outcome in
            // The model is loaded (or its absence reported) before any other work.
            var options = self.options
            if langModel != nil || languages != nil { options.languageIdentifier = try LanguageIdentifier(modelPath: langModel) }
            if !decontaminate.isEmpty { options.decontaminator = try Decontaminator(files: decontaminate) }
            if let qualityModel {
                guard let label = qualityLabel else { throw QuarryError("--quality-model needs --quality-label LABEL (the label to keep)") }
                options.qualityModel = try QualityModelFilter(model: FastTextModel(path: qualityModel), label: label, threshold: Float(qualityThreshold))
                options.qualityModelFile = qualityModel
            }
            if let urlBlocklist {
                guard let data = FileManager.default.contents(atPath: urlBlocklist), let text = String(data: data, encoding: .utf8) else {
                    throw QuarryError("cannot read the block list \(urlBlocklist): no such readable UTF-8 file")
                }
                options.urlBlocklist = try URLBlocklist(parsing: text, name: urlBlocklist)
            }
            let tokenizer = try ShardTokenizer(path: try tokenizerFile(files: expansion.files))
            return try IngestRun(files: expansion.files, directory: out, tokenizer: tokenizer, options: options,
                                 report: { printError("warning: \($0)") }).run()
        }
        if quiet { return }
        let m = result.manifest
        if result.alreadyComplete {
            printError("\(out) is already complete for these inputs and options (\(m.shards.count) shards); nothing to do")
            return
        }
        var lines = [String]()
        if result.resumed { lines.append("resumed an interrupted run") }
        lines.append("documents read \(m.documentsRead), kept \(m.documentsKept)")
        for (reason, count) in m.dropped.sorted(by: { $0.key < $1.key }) { lines.append("  dropped \(reason): \(count)") }
        if let languages = m.languages, !languages.isEmpty {
            lines.append("languages kept: " + languages.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        for (split, t) in m.totals.sorted(by: { $0.key > $1.key }) {
            lines.append("\(split): \(t.shards) shard(s), \(t.documents) documents, \(t.tokens) tokens")
        }
        lines.append(String(format: "%.1fs; manifest: %@/manifest.json", Date().timeIntervalSince(started), out))
        printError(lines.joined(separator: "\n"))
    }

    /// --tokenizer as given, or DIR/tokenizer.json trained on the inputs first (reused when resuming).
    func tokenizerFile(files: [String]) throws -> String {
        if let tokenizer { return tokenizer }
        let progress = ProgressLine(label: "training tokenizer", totalBytes: InputFiles.totalSize(files), enabled: progressEnabled(quiet: quiet))
        defer { progress.finish() }
        var training = TokenizerTraining(options: .init(vocabularySize: vocabSize ?? 0, jobs: jobs))
        training.onCounting = { progress.update(bytes: $0, items: $1) }
        return try training.trainedFile(on: files, directory: out)
    }
}
