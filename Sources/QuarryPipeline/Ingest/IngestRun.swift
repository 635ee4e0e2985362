import Dispatch
import Foundation
import QuarryCore
import QuarryIngest
import QuarryShards
import QuarryTokenizer

public struct IngestOptions: Sendable {
    public var format: ShardFormat = .megatron
    public var shardTokens = 100_000_000
    public var valFraction = 0.0
    public var jobs = ProcessInfo.processInfo.activeProcessorCount
    public var part = 1
    public var parts = 1
    public var minWords = 50
    /// Skip the Gopher quality rules even when `filters` names them (`--no-quality-filter`).
    public var quality = true
    /// The cleaning filters, in order (`--filters`).
    public var filters: [FilterChain.Name] = [.gopherQuality]
    public var dedup: Deduplicator.Mode = .exact
    public var showProgress = false
    public var textSampling: TextSampling = .document
    /// Identify each document's language (counted in the manifest; the English stop-word rule
    /// then applies to English documents only).
    public var languageIdentifier: LanguageIdentifier? = nil
    /// Keep only documents identified as one of these, scoring at least `languageThreshold`.
    public var languages: Set<String>? = nil
    public var languageThreshold = 0.65
    /// `--pii`: replace e-mail and public IPv4 addresses in the kept documents (datatrove's PIIFormatter).
    public var pii = false
    /// `--quality-model`: keep documents the classifier scores at least its threshold.
    public var qualityModel: QualityModelFilter? = nil
    /// `--url-blocklist`: drop documents whose URL is listed.
    public var urlBlocklist: URLBlocklist? = nil
    /// `--decontaminate`: drop documents sharing a 13-word run with these sets' texts.
    public var decontaminator: Decontaminator? = nil
    /// The quality model's file, as given (recorded in the manifest).
    public var qualityModelFile: String? = nil
    /// The block list's file, as given (recorded in the manifest).
    public var urlBlocklistFile: String? = nil
    /// Their files, as given (recorded in the manifest).
    public var decontaminationSets: [String]? = nil
    /// `--rejected DIR`: write every dropped document there, by filter.
    public var rejectedDirectory: String? = nil

    public init() {}
}

/// `quarry ingest`: documents → filters → dedup → tokens → shards, streaming. One thread
/// extracts in order; filters' measurements, fingerprints and tokenization run on all cores
/// in batches; dedup decisions and writing are sequential, in input order, so the output is
/// the same whatever `jobs` is.
public final class IngestRun {
    let files: [String]
    let directory: String
    let tokenizer: ShardTokenizer
    let options: IngestOptions
    let report: (String) -> Void

    private var manifest: Manifest
    private var writers: [IngestSplit: SplitWriter] = [:]
    private var ordinals: [IngestSplit: Int] = [:]
    private var deduplicator: Deduplicator
    private let encoder: ParallelEncoder
    private var pending: [Document] = []
    private var pendingBytes = 0
    private var rejected: RejectedWriter?
    private var piiFormatter = PIIFormatter()

    static let batchDocuments = 2048
    static let batchBytes = 16 << 20

    /// `report`: one line per problem with the input (a file that cannot be read, a broken record).
    public init(files: [String], directory: String, tokenizer: ShardTokenizer,
                options: IngestOptions, report: @escaping (String) -> Void) throws {
        self.files = files
        self.directory = directory
        self.tokenizer = tokenizer
        self.options = options
        self.report = report
        deduplicator = Deduplicator(mode: options.dedup)
        encoder = ParallelEncoder(model: tokenizer.model, jobs: options.jobs)
        let width = try TokenWidth.forFormat(options.format, vocabularySize: tokenizer.model.vocabularySize)
        var settings = Manifest.Settings(format: options.format, tokenWidth: width, shardTokens: options.shardTokens,
                                         valFraction: options.valFraction, minWords: options.minWords,
                                         quality: options.quality && options.filters.contains(.gopherQuality),
                                         dedup: options.dedup.rawValue, part: .slice(options.part, of: options.parts),
                                         sampleBy: options.textSampling == .document ? nil : options.textSampling.rawValue)
        if options.filters != [.gopherQuality] { settings.filters = options.filters.map(\.rawValue) }
        if options.pii { settings.pii = true }
        if let list = options.urlBlocklistFile { settings.urlBlocklist = list }
        if let quality = options.qualityModel, let file = options.qualityModelFile {
            settings.qualityModel = .init(model: file, label: quality.label, threshold: Double(quality.threshold))
        }
        if let sets = options.decontaminationSets, !sets.isEmpty { settings.decontaminate = sets }
        if let languages = options.languages {
            settings.languages = languages.sorted()
            settings.languageThreshold = options.languageThreshold
        }
        manifest = Manifest(complete: false, tokenizer: tokenizer.manifestEntry, settings: settings, sources: files, shards: [],
                            totals: [:], documentsRead: 0, documentsKept: 0, dropped: [:], resume: [:])
        if options.languageIdentifier != nil { manifest.languages = [:] }
    }

    /// What a run did: the final manifest, and whether it resumed a killed run or found the job done.
    public struct Outcome: Sendable {
        public var manifest: Manifest
        public var resumed: Bool
        public var alreadyComplete: Bool
    }

    /// Runs (or resumes) the job.
    public func run() throws -> Outcome {
        let (previous, resumed) = try prepareDirectory()
        if let previous, previous.complete { return Outcome(manifest: previous, resumed: false, alreadyComplete: true) }
        let prefix = options.parts > 1 ? "p\(options.part)of\(options.parts)-" : ""
        for split in IngestSplit.allCases {
            let completed = previous?.shards.filter { $0.split == split.rawValue } ?? []
            let writer = SplitWriter(split: split.rawValue, format: options.format, width: manifest.settings.tokenWidth,
                                     directory: directory, namePrefix: prefix, shardTokens: options.shardTokens,
                                     endOfText: tokenizer.manifestEntry.endOfTextID, resumingAfter: completed,
                                     resume: previous?.resume[split.rawValue] ?? ResumePoint(documents: 0, skipTokens: 0))
            writer.onShard = { [weak self] _ in try self?.saveProgress(complete: false) }
            writers[split] = writer
        }
        let selectedFiles = options.parts > 1 && files.count >= options.parts
            ? files.enumerated().filter { $0.offset % options.parts == options.part - 1 }.map(\.element)
            : files
        if let folder = options.rejectedDirectory { rejected = try RejectedWriter(directory: folder, namePrefix: prefix) }
        let byDocument = options.parts > 1 && files.count < options.parts
        let extraction = ExtractionRun(files: selectedFiles, options: ExtractionOptions(jobs: options.jobs, showProgress: options.showProgress,
                                                                                          textSampling: options.textSampling,
                                                                                          languages: options.languageIdentifier),
                                       report: report)
        let summary = try extraction.run(writing: { doc in
            if byDocument && Self.partOf(doc, parts: options.parts) != options.part - 1 {
                count(.otherPart)
                try rejected?.write(doc, reason: .otherPart)
                return
            }
            pending.append(doc)
            pendingBytes += doc.text.utf8.count
            if pending.count >= Self.batchDocuments || pendingBytes >= Self.batchBytes { try processBatch() }
        }, rejected: rejected.map { writer in { reason, record in try writer.write(record, reason: reason) } })
        try processBatch()
        try rejected?.finish()
        for (reason, n) in summary.dropped where n > 0 { count(reason, n) }
        manifest.documentsRead += summary.documentsWritten
        for split in IngestSplit.allCases { try writers[split]?.finish() }
        try saveProgress(complete: true)
        return Outcome(manifest: manifest, resumed: resumed, alreadyComplete: false)
    }

    /// Checks what the directory holds: nothing (start), an unfinished run of the same job
    /// (resume), a finished one (nothing to do), or something else (refuse, before any work).
    private func prepareDirectory() throws -> (Manifest?, Bool) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw QuarryError("\(directory) exists and is not a directory") }
        } else {
            do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw QuarryError("cannot create \(directory): \(error.localizedDescription)")
            }
        }
        let entries = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
        guard let previous = try Manifest.load(directory: directory) else {
            let foreign = entries.filter { $0.hasSuffix(".bin") || $0.hasSuffix(".idx") }
            if !foreign.isEmpty {
                throw QuarryError("\(directory) already holds shards (\(foreign[0])…) but no manifest: choose an empty --out directory")
            }
            return (nil, false)
        }
        guard previous.settings == manifest.settings, previous.sources == manifest.sources,
              previous.tokenizer.sha256 == manifest.tokenizer.sha256 else {
            throw QuarryError("\(directory) holds another run's shards (different inputs, tokenizer or options): choose a new --out directory or delete it")
        }
        if previous.complete { return (previous, false) }
        // This job's own directory: an llm.c shard's tokens file a killed run left (its name is
        // one this job writes) is redone. Nothing else in the directory is touched; a killed
        // run's temporary files are OutputFile's to remove.
        for entry in entries where Self.isShardTokensFile(entry) {
            try? fm.removeItem(atPath: directory + "/" + entry)
        }
        // Resume: keep the finished shards that are intact on disk; the rest is redone.
        manifest.shards = previous.shards
        return (previous, true)
    }

    /// `train-00003.bin.tokens`, `p2of4-val-00000.bin.tokens`: what `SplitWriter` writes before an llm.c header.
    static func isShardTokensFile(_ name: String) -> Bool {
        name.range(of: #"^(p[0-9]+of[0-9]+-)?(train|val)-[0-9]{5,}\.bin\.tokens$"#, options: .regularExpression) != nil
    }

    // The part and the split are chosen by a hash of the document's text, not of its source (a
    // source names the file as it was typed: another path to the same dump would choose another
    // sample); by text, exact duplicates also fall in the same part, where de-duplication sees them.
    // Both hashes stay as they are: changing them changes which documents every corpus validates on.

    static func partOf(_ doc: Document, parts: Int) -> Int {
        var h = FNV1a()
        h.add(0x50)   // "P": independent of the split's hash
        h.add(doc.text.utf8)
        var x = h.value
        x ^= x >> 33
        return Int(x % UInt64(parts))
    }

    /// The validation split takes documents whose text hashes below the fraction.
    static func isValidation(_ doc: Document, fraction: Double) -> Bool {
        guard fraction > 0 else { return false }
        var x = FNV1a.hash(doc.text.utf8)
        x = (x ^ (x >> 31)) &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 29
        return Double(x % 1_000_000) < fraction * 1_000_000
    }

    private func processBatch() throws {
        guard !pending.isEmpty else { return }
        let docs = pending
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
        // Measurements that do not depend on order: the filters' verdicts (and the text C4 leaves)
        // and the fingerprints of what they keep.
        let chain = filterChain
        let mode = options.dedup
        let keptLanguages = options.languages, threshold = options.languageThreshold
        let verdicts = parallelMap(docs, jobs: options.jobs) { doc -> (FilterOutcome, Deduplicator.Fingerprint?) in
            // A document of another language is dropped (as `language`) without the filters' work.
            if let keptLanguages, !(doc.language.map(keptLanguages.contains) ?? false) || Double(doc.languageScore ?? 0) < threshold {
                return (.drop(.language, value: Double(doc.languageScore ?? 0)), nil)
            }
            let outcome = chain.apply(doc.text, language: doc.language, url: doc.url)
            guard case .keep(let edited) = outcome else { return (outcome, nil) }
            return (outcome, Deduplicator.fingerprint(edited ?? doc.text, mode: mode))
        }
        // Order-dependent decisions, in input order.
        var toEncode: [(doc: Document, split: IngestSplit, needed: Bool)] = []
        for (var doc, verdict) in zip(docs, verdicts) {
            guard case .keep(let edited) = verdict.0, let fingerprint = verdict.1 else {
                if case .drop(let failure, let value) = verdict.0 {
                    count(failure)
                    try rejected?.write(doc, reason: failure, value: failure.filter == "gopher-quality" ? nil : value)
                }
                continue
            }
            if let edited { doc.text = edited }
            if let duplicate = deduplicator.judge(fingerprint).dropReason {
                count(duplicate)
                try rejected?.write(doc, reason: duplicate)
                continue
            }
            // After de-duplication, as FineWeb does; in input order, so the replacements' turn is too.
            if options.pii { doc.text = piiFormatter.format(doc.text) }
            let split: IngestSplit = Self.isValidation(doc, fraction: options.valFraction) ? .validation : .train
            let ordinal = ordinals[split, default: 0]
            ordinals[split] = ordinal + 1
            manifest.documentsKept += 1
            if let language = doc.language { manifest.languages?[language, default: 0] += 1 }
            // Documents already in finished shards (a resumed run) need no tokens.
            toEncode.append((doc, split, !(writers[split]?.isWritten(ordinal: ordinal) ?? false)))
        }
        let texts = toEncode.map { $0.needed ? $0.doc.text : "" }
        let tokens = encoder.encode(texts)
        for (item, ids) in zip(toEncode, tokens) {
            try writers[item.split]?.add(ids)
        }
    }

    /// `options.filters`, Gopher's word minimum at `--min-words`, without the Gopher quality rules under `--no-quality-filter`.
    private var filterChain: FilterChain {
        var chain = FilterChain(names: options.filters.filter { options.quality || $0 != .gopherQuality })
        chain.quality.minimumWords = options.minWords
        chain.decontaminator = options.decontaminator
        chain.urlBlocklist = options.urlBlocklist
        chain.qualityModel = options.qualityModel
        return chain
    }

    private func count(_ reason: DropReason, _ n: Int = 1) {
        manifest.dropped[reason.rawValue, default: 0] += n
    }

    private func saveProgress(complete: Bool) throws {
        manifest.complete = complete
        manifest.shards = IngestSplit.allCases.flatMap { writers[$0]?.finished ?? [] }
        manifest.totals = Manifest.totals(of: manifest.shards)
        manifest.resume = complete ? [:] : Dictionary(uniqueKeysWithValues: writers.map { ($0.key.rawValue, $0.value.resumePoint) })
        try manifest.save(directory: directory)
        // Test hook: die like `kill -9` right after the N-th shard is on disk and recorded, so
        // tests can prove a rerun resumes to the same result. Never set outside tests.
        if !complete, let limit = Self.crashAfterShards, manifest.shards.count >= limit { _exit(137) }
    }

    static let crashAfterShards = ProcessInfo.processInfo.environment["QUARRY_TEST_CRASH_AFTER_SHARDS"].flatMap { Int($0) }
}
