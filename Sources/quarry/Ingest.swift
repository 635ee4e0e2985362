import ArgumentParser
import Foundation
import QuarryCore
import QuarryIngest
import QuarryShards
import QuarryTokenizer

extension ShardFormat: ExpressibleByArgument {}
extension Deduplicator.Mode: ExpressibleByArgument {}
extension TextSampling: ExpressibleByArgument {}

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
        """
    )

    @Argument(help: "Files or directories: anything `quarry extract` reads.")
    var inputs: [String]

    @Option(name: [.short, .long], help: "Output directory for the shards and manifest.json.")
    var out: String

    @Option(name: [.short, .long], help: "A byte-level BPE tokenizer.json to encode with.")
    var tokenizer: String?

    @Option(help: "Train a tokenizer of this size on the inputs first (saved as DIR/tokenizer.json).")
    var vocabSize: Int?

    @Option(help: "megatron, llmc or nanogpt.")
    var format: ShardFormat = .megatron

    @Option(help: "Tokens per shard (llm.c: exactly; megatron: at least, whole documents).")
    var shardTokens: Int = 100_000_000

    @Option(help: "Share of documents for the validation split, chosen by a hash of each document's source.")
    var valFraction: Double = 0

    @Option(name: [.short, .long], help: "Threads (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "K/N: process only the K-th of N disjoint slices of the input (files, or documents when there are fewer files than N).")
    var part: String = "1/1"

    @Option(help: "Quality filter: documents with fewer words are dropped.")
    var minWords: Int = 50

    @Flag(help: "Skip the Gopher quality rules (the word-count minimum included).")
    var noQualityFilter = false

    @Option(help: "exact, near (MinHash LSH) or off.")
    var dedup: Deduplicator.Mode = .exact

    @Option(help: "What one document of a plain-text input is: the whole file, each blank-line-separated paragraph, or each line.")
    var sampleBy: TextSampling = .document

    @Flag(name: [.short, .long], help: "No progress and no summary on standard error.")
    var quiet = false

    func parsedPart() throws -> (Int, Int) {
        let pieces = part.split(separator: "/")
        guard pieces.count == 2, let k = Int(pieces[0]), let n = Int(pieces[1]), n >= 1, k >= 1, k <= n else {
            throw ValidationError("--part must be K/N with 1 ≤ K ≤ N, e.g. 2/4 (got \(part))")
        }
        return (k, n)
    }

    func validate() throws {
        guard (tokenizer == nil) != (vocabSize == nil) else {
            throw ValidationError("give exactly one of --tokenizer FILE or --vocab-size N")
        }
        guard shardTokens >= 1 else { throw ValidationError("--shard-tokens must be at least 1") }
        if format == .llmc && shardTokens >= 1 << 31 { throw ValidationError("llm.c shards hold fewer than 2^31 tokens: lower --shard-tokens") }
        guard valFraction >= 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        guard minWords >= 0 else { throw ValidationError("--min-words must not be negative") }
        _ = try parsedPart()
        if let vocabSize, vocabSize < 257 { throw ValidationError("--vocab-size must be at least 257") }
    }

    func run() throws {
        let (k, n) = try parsedPart()
        let expansion = InputFiles.expand(inputs)
        for message in expansion.errors { printError("error: \(message)") }
        guard !expansion.files.isEmpty else {
            printError("error: no input files to read")
            throw ExitCode(1)
        }
        let showProgress = !quiet && isatty(2) != 0
        let tokenizerPath = try runReporting { try resolveTokenizer(files: expansion.files, showProgress: showProgress) }
        let model = try loadTokenizer(tokenizerPath)
        guard let eot = model.id(of: "<|endoftext|>") else {
            printError("error: \(tokenizerPath) has no <|endoftext|> token, which every shard format needs between documents")
            throw ExitCode(1)
        }
        var options = IngestOptions()
        options.format = format
        options.shardTokens = shardTokens
        options.valFraction = valFraction
        options.jobs = jobs
        options.part = k
        options.parts = n
        options.minWords = minWords
        options.quality = !noQualityFilter
        options.dedup = dedup
        options.textSampling = sampleBy
        options.showProgress = showProgress
        let started = Date()
        let result = try runReporting { () -> (manifest: Manifest, resumed: Bool, alreadyComplete: Bool) in
            let sha = try fileSHA256(tokenizerPath)
            let info = Manifest.Tokenizer(path: tokenizerPath, sha256: sha, vocabSize: model.vocabularySize, endOfTextID: eot)
            return try IngestRun(files: expansion.files, directory: out, model: model, tokenizerInfo: info, options: options,
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
        for (split, t) in m.totals.sorted(by: { $0.key > $1.key }) {
            lines.append("\(split): \(t.shards) shard(s), \(t.documents) documents, \(t.tokens) tokens")
        }
        lines.append(String(format: "%.1fs; manifest: %@/manifest.json", Date().timeIntervalSince(started), out))
        printError(lines.joined(separator: "\n"))
    }

    /// --tokenizer as given, or a tokenizer trained on the inputs (reused when resuming).
    func resolveTokenizer(files: [String], showProgress: Bool) throws -> String {
        if let tokenizer { return tokenizer }
        let path = out + "/tokenizer.json"
        if FileManager.default.fileExists(atPath: path) && FileManager.default.fileExists(atPath: out + "/manifest.json") { return path }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let trainer = BPETrainer(options: .init(vocabularySize: vocabSize ?? 0, jobs: jobs))
        let progress = ProgressLine(label: "training tokenizer", totalBytes: InputFiles.totalSize(files), enabled: showProgress)
        let counts = try TextCorpus(files: files, jobs: jobs).forEachBatch(progress: { progress.update(bytes: $0, items: trainer.sequences) }) {
            trainer.add($0)
        }
        progress.finish()
        guard counts.texts > 0 else { throw QuarryError("no text found in the input to train a tokenizer on") }
        try TokenizerFile.save(try trainer.train(), to: path)
        return path
    }
}

func fileSHA256(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw QuarryError("cannot read \(path)") }
    var hasher = SHA256()
    hasher.update(Array(data))
    return hasher.hexDigest()
}

struct Shards: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check, summarise and merge shard directories written by `quarry ingest`.",
        discussion: """
        Examples:
          quarry shards verify shards/
          quarry shards stats shards/
          quarry shards merge part-1 part-2 --out shards/
        """,
        subcommands: [Verify.self, Stats.self, Merge.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every shard against the manifest: headers, token counts, sizes and SHA-256.",
            discussion: "Exits non-zero and lists the problems when anything is wrong.\n\nExample:\n  quarry shards verify shards/")
        @Argument(help: "A shard directory.") var directory: String

        func run() throws {
            let problems = try runReporting { try ShardTools.verify(directory: directory) }
            guard problems.isEmpty else {
                for p in problems { printError("error: \(p)") }
                throw ExitCode(1)
            }
            let m = try runReporting { try Manifest.load(directory: directory) }
            print("ok: \(m?.shards.count ?? 0) shard(s) verified")
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Totals and a histogram of document lengths in tokens.",
            discussion: "Example:\n  quarry shards stats shards/")
        @Argument(help: "A shard directory.") var directory: String

        func run() throws {
            let stats = try runReporting { try ShardTools.stats(directory: directory) }
            let m = stats.manifest
            print("format \(m.settings.format.rawValue) (\(m.settings.tokenWidth.rawValue)), tokenizer \(m.tokenizer.path) (vocab \(m.tokenizer.vocabSize))")
            print("documents read \(m.documentsRead), kept \(m.documentsKept)\(m.complete ? "" : " (incomplete run)")")
            for (split, t) in m.totals.sorted(by: { $0.key > $1.key }) {
                print("\(split): \(t.shards) shard(s), \(t.documents) documents, \(t.tokens) tokens")
            }
            for (reason, count) in m.dropped.sorted(by: { $0.key < $1.key }) { print("dropped \(reason): \(count)") }
            print("document length (tokens):")
            let maxCount = stats.histogram.values.max() ?? 1
            for bucket in stats.histogram.keys.sorted() {
                let count = stats.histogram[bucket] ?? 0
                let label = String(format: "%8d – %-8d", 1 << bucket, (1 << (bucket + 1)) - 1)
                print("  \(label) \(String(repeating: "█", count: max(1, count * 40 / maxCount))) \(count)")
            }
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join the directories of `quarry ingest --part K/N` runs into one.",
            discussion: "Shards are hard-linked (or copied) into --out and the manifests combined.\n\nExample:\n  quarry shards merge part1/ part2/ --out shards/")
        @Argument(help: "Shard directories of the parts.") var directories: [String]
        @Option(name: [.short, .long], help: "The merged directory (new).") var out: String

        func run() throws {
            let merged = try runReporting { try ShardTools.merge(directories, into: out) }
            print("merged \(directories.count) part(s): \(merged.shards.count) shard(s) in \(out)")
        }
    }
}
