import Dispatch
import Foundation
import QuarryCore
import QuarryIngest
import QuarryTokenizer

public struct IngestOptions: Sendable {
    public var format: ShardFormat = .megatron
    public var shardTokens = 100_000_000
    public var valFraction = 0.0
    public var jobs = ProcessInfo.processInfo.activeProcessorCount
    public var part = 1
    public var parts = 1
    public var minWords = 50
    public var quality = true
    public var dedup: Deduplicator.Mode = .exact
    public var showProgress = false
    public var textSampling: TextSampling = .document

    public init() {}
}

/// `quarry ingest`: documents → filters → dedup → tokens → shards, streaming. One thread
/// extracts in order; filters' measurements, fingerprints and tokenization run on all cores
/// in batches; dedup decisions and writing are sequential, in input order, so the output is
/// the same whatever `jobs` is.
public final class IngestRun {
    let files: [String]
    let directory: String
    let model: BPEModel
    let tokenizerInfo: Manifest.Tokenizer
    let options: IngestOptions
    let report: (String) -> Void

    private var manifest: Manifest
    private var writers: [String: SplitWriter] = [:]
    private var ordinals: [String: Int] = ["train": 0, "val": 0]
    private var deduplicator: Deduplicator
    private let encoder: ParallelEncoder
    private var pending: [Document] = []
    private var pendingBytes = 0

    static let batchDocuments = 2048
    static let batchBytes = 16 << 20

    public init(files: [String], directory: String, model: BPEModel, tokenizerInfo: Manifest.Tokenizer,
                options: IngestOptions, report: @escaping (String) -> Void) throws {
        self.files = files
        self.directory = directory
        self.model = model
        self.tokenizerInfo = tokenizerInfo
        self.options = options
        self.report = report
        deduplicator = Deduplicator(mode: options.dedup)
        encoder = ParallelEncoder(model: model, jobs: options.jobs)
        let width = try TokenWidth.forFormat(options.format, vocabularySize: model.vocabularySize)
        let settings = Manifest.Settings(format: options.format, tokenWidth: width, shardTokens: options.shardTokens,
                                         valFraction: options.valFraction, minWords: options.minWords, quality: options.quality,
                                         dedup: options.dedup.rawValue, part: "\(options.part)/\(options.parts)",
                                         sampleBy: options.textSampling == .document ? nil : options.textSampling.rawValue)
        manifest = Manifest(complete: false, tokenizer: tokenizerInfo, settings: settings, sources: files, shards: [],
                            totals: [:], documentsRead: 0, documentsKept: 0, dropped: [:], resume: [:])
    }

    /// Runs (or resumes) the job; returns the final manifest.
    public func run() throws -> (manifest: Manifest, resumed: Bool, alreadyComplete: Bool) {
        let (previous, resumed) = try prepareDirectory()
        if let previous, previous.complete { return (previous, false, true) }
        let prefix = options.parts > 1 ? "p\(options.part)of\(options.parts)-" : ""
        for split in ["train", "val"] {
            let completed = previous?.shards.filter { $0.split == split } ?? []
            let writer = SplitWriter(split: split, format: options.format, width: manifest.settings.tokenWidth,
                                     directory: directory, namePrefix: prefix, shardTokens: options.shardTokens,
                                     endOfText: tokenizerInfo.endOfTextID, resumingAfter: completed,
                                     resume: previous?.resume[split] ?? ResumePoint(documents: 0, skipTokens: 0))
            writer.onShard = { [weak self] _ in try self?.saveProgress(complete: false) }
            writers[split] = writer
        }
        let selectedFiles = options.parts > 1 && files.count >= options.parts
            ? files.enumerated().filter { $0.offset % options.parts == options.part - 1 }.map(\.element)
            : files
        let byDocument = options.parts > 1 && files.count < options.parts
        let extraction = ExtractionRun(files: selectedFiles, options: ExtractionOptions(jobs: options.jobs, showProgress: options.showProgress,
                                                                                          textSampling: options.textSampling),
                                       report: report)
        let summary = try extraction.run { doc in
            if byDocument && Self.partOf(doc, parts: options.parts) != options.part - 1 {
                manifest.dropped["other_part", default: 0] += 1
                return
            }
            pending.append(doc)
            pendingBytes += doc.text.utf8.count
            if pending.count >= Self.batchDocuments || pendingBytes >= Self.batchBytes { try processBatch() }
        }
        try processBatch()
        for (reason, count) in summary.dropped where count > 0 { manifest.dropped[reason.rawValue, default: 0] += count }
        manifest.documentsRead += summary.documentsWritten
        for split in ["train", "val"] { try writers[split]?.finish() }
        try saveProgress(complete: true)
        return (manifest, resumed, false)
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
        // Leftovers of a killed run: temporary files never renamed into place.
        for entry in entries where entry.hasPrefix(".") && entry.contains(".tmp-") || entry.hasSuffix(".tokens") {
            try? fm.removeItem(atPath: directory + "/" + entry)
        }
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
        // Resume: keep the finished shards that are intact on disk; the rest is redone.
        manifest.shards = previous.shards
        return (previous, true)
    }

    // The part and the split are chosen by a hash of the document's text, not of its source:
    // a source names the file as it was typed, so the same dump reached by another path (relative
    // or absolute, another machine's mount) used to get another validation sample (the Debian
    // sections experiment's corpus: 2,496 validation documents instead of 2,538, a different 1%).
    // By text, exact duplicates also fall in the same part, where de-duplication sees them.

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
        // Measurements that do not depend on order: quality verdicts and fingerprints.
        var qualityFilter = QualityFilter()
        qualityFilter.minimumWords = options.minWords
        let filter = qualityFilter
        let useQuality = options.quality
        let mode = options.dedup
        let verdicts = parallelMap(docs, jobs: options.jobs) { doc -> (QualityFilter.Failure?, Deduplicator.Fingerprint) in
            (useQuality ? filter.check(doc.text) : nil, Deduplicator.fingerprint(doc.text, mode: mode))
        }
        // Order-dependent decisions, in input order.
        var toEncode: [(doc: Document, split: String, needed: Bool)] = []
        for (doc, verdict) in zip(docs, verdicts) {
            if let failure = verdict.0 {
                manifest.dropped[failure.rawValue, default: 0] += 1
                continue
            }
            switch deduplicator.judge(verdict.1) {
            case .exactDuplicate: manifest.dropped["duplicate_exact", default: 0] += 1; continue
            case .nearDuplicate: manifest.dropped["duplicate_near", default: 0] += 1; continue
            case .unique: break
            }
            let split = Self.isValidation(doc, fraction: options.valFraction) ? "val" : "train"
            let ordinal = ordinals[split, default: 0]
            ordinals[split] = ordinal + 1
            manifest.documentsKept += 1
            // Documents already in finished shards (a resumed run) need no tokens.
            toEncode.append((doc, split, !(writers[split]?.isWritten(ordinal: ordinal) ?? false)))
        }
        let texts = toEncode.map { $0.needed ? $0.doc.text : "" }
        let tokens = encoder.encode(texts)
        for (item, ids) in zip(toEncode, tokens) {
            try writers[item.split]?.add(ids)
        }
    }

    private func saveProgress(complete: Bool) throws {
        manifest.complete = complete
        manifest.shards = (writers["train"]?.finished ?? []) + (writers["val"]?.finished ?? [])
        manifest.totals = Manifest.totals(of: manifest.shards)
        manifest.resume = complete ? [:] : writers.mapValues { $0.resumePoint }
        try manifest.save(directory: directory)
        // Test hook: die like `kill -9` right after the N-th shard is on disk and recorded, so
        // tests can prove a rerun resumes to the same result. Never set outside tests.
        if !complete, let limit = Self.crashAfterShards, manifest.shards.count >= limit { _exit(137) }
    }

    static let crashAfterShards = ProcessInfo.processInfo.environment["QUARRY_TEST_CRASH_AFTER_SHARDS"].flatMap { Int($0) }
}

/// Maps on `jobs` threads, results in input order.
func parallelMap<T: Sendable, R: Sendable>(_ items: [T], jobs: Int, _ transform: @Sendable @escaping (T) -> R) -> [R] {
    let width = max(1, min(jobs, items.count / 8 + 1))
    if width == 1 { return items.map(transform) }
    let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: items.count)
    results.initialize(repeating: nil)
    defer { results.deinitialize(); results.deallocate() }
    let box = SendableBuffer(results)
    DispatchQueue.concurrentPerform(iterations: width) { worker in
        let lower = items.count * worker / width, upper = items.count * (worker + 1) / width
        for i in lower..<upper { box.buffer[i] = transform(items[i]) }
    }
    return results.map { $0! }
}

struct SendableBuffer<R>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<R?>
    init(_ buffer: UnsafeMutableBufferPointer<R?>) { self.buffer = buffer }
}
