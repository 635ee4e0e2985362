import Dispatch
import Foundation
import QuarryCore

public struct ExtractionOptions: Sendable {
    /// Worker threads converting records; 1 runs everything on the calling thread.
    public var jobs: Int
    public var showProgress: Bool
    /// What one document of a plain-text file is.
    public var textSampling: TextSampling
    /// Identify each document's language on the workers (nil: not identified).
    public var languages: LanguageIdentifier?

    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, showProgress: Bool = isatty(2) != 0,
                textSampling: TextSampling = .document, languages: LanguageIdentifier? = nil) {
        self.jobs = max(1, jobs)
        self.showProgress = showProgress
        self.textSampling = textSampling
        self.languages = languages
    }
}

/// What a run did, for the summary table and the exit status.
public struct ExtractionSummary: Sendable {
    public var filesOpened = 0
    public var filesFailed = 0
    public var recordsRead = 0
    public var documentsWritten = 0
    public var repairedDocuments = 0
    public var dropped: [DropReason: Int] = [:]
    public var bytesIn = 0
    public var bytesOut = 0
    public var seconds = 0.0
    public var errors: [String] = []
    public var warnings: [String] = []

    public var droppedTotal: Int { dropped.values.reduce(0, +) }

    /// The end-of-run table printed on stderr.
    public func table() -> String {
        var rows: [(String, String)] = [
            ("files read", "\(filesOpened - filesFailed) of \(filesOpened)" + (filesFailed > 0 ? " (\(filesFailed) with errors)" : "")),
            ("records read", "\(recordsRead)"),
            ("documents written", "\(documentsWritten)" + (repairedDocuments > 0 ? " (\(repairedDocuments) with invalid UTF-8 repaired)" : "")),
            ("dropped", "\(droppedTotal)"),
        ]
        for (reason, count) in dropped.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where count > 0 {
            rows.append(("  " + reason.rawValue, "\(count)"))
        }
        let rate = seconds > 0 ? Double(bytesIn) / seconds : 0
        rows.append(("bytes in / out", "\(ProgressLine.formatBytes(bytesIn)) / \(ProgressLine.formatBytes(bytesOut))"))
        rows.append(("time", String(format: "%.2fs, %@/s", seconds, ProgressLine.formatBytes(Int(rate)))))
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}

/// The extract pipeline: files → readers → records → (parallel) conversion → documents in input
/// order. One thread reads and parses containers (XML, WARC) while `jobs` workers convert the
/// previous batch, so a single big dump uses every core and output order never depends on timing.
public final class ExtractionRun {
    private let files: [String]
    private let options: ExtractionOptions
    private var summary = ExtractionSummary()
    private let report: (String) -> Void

    /// Batches close at this many records or bytes, whichever comes first.
    let batchRecords: Int
    static let batchBytes = 1 << 20
    /// Batches converted at once: while one waits for its largest page, the workers have others.
    static let batchesInFlight = 4

    /// `report` receives one-line warnings and errors as they happen (the CLI prints them).
    public init(files: [String], options: ExtractionOptions, batchRecords: Int = 64, report: @escaping (String) -> Void) {
        self.batchRecords = max(1, batchRecords)
        self.files = files
        self.options = options
        self.report = report
    }

    /// `rejected`: called, in input order, with each record that converted to nothing (empty, too
    /// many attributes …) and the reason; records a reader skips (redirects …) are only counted.
    public func run(writing write: (Document) throws -> Void,
                    rejected: ((DropReason, RawRecord) throws -> Void)? = nil) throws -> ExtractionSummary {
        let started = Date()
        let stream = RecordStream(files: files, textSampling: options.textSampling, threads: options.jobs) { [weak self] message, isError in
            guard let self else { return }
            if isError { self.summary.errors.append(message) } else { self.summary.warnings.append(message) }
            self.report(message)
        }
        let progress = ProgressLine(label: "extract", totalBytes: InputFiles.totalSize(files), enabled: options.showProgress)
        defer { progress.finish() }

        // Several batches are converted at once, so the workers go on with the next batch while
        // the last pages of the previous one finish; results are delivered oldest first.
        var inflight: [(results: ResultSlots, records: [RawRecord], group: DispatchGroup)] = []
        func deliverOldest() throws {
            let job = inflight.removeFirst()
            job.group.wait()
            try deliver(job.results, records: job.records, write: write, rejected: rejected)
            progress.update(bytes: stream.bytesConsumed, items: summary.documentsWritten)
        }
        defer { for job in inflight { job.group.wait() } }
        while true {
            let batch = stream.nextBatch(maxRecords: batchRecords, maxBytes: Self.batchBytes)
            if inflight.count >= Self.batchesInFlight { try deliverOldest() }
            if batch.isEmpty {
                while !inflight.isEmpty { try deliverOldest() }
                break
            }
            summary.recordsRead += batch.count
            let slots = ResultSlots(count: batch.count)
            let group = DispatchGroup()
            if options.jobs == 1 {
                for (i, record) in batch.enumerated() { slots.set(i, Conversion.convert(record, languages: options.languages)) }
            } else {
                let width = min(options.jobs, batch.count)
                let records = batch
                let next = NextIndex(), languages = options.languages
                DispatchQueue.global().async(group: group) {
                    // Records are taken one at a time as workers free up: pages differ in size
                    // by orders of magnitude, so a fixed share per worker leaves one idle.
                    DispatchQueue.concurrentPerform(iterations: width) { _ in
                        while let i = next.take(below: records.count) {
                            slots.set(i, Conversion.convert(records[i], languages: languages))
                        }
                    }
                }
            }
            inflight.append((slots, rejected == nil ? [] : batch, group))
        }
        summary.filesOpened = stream.filesOpened
        summary.filesFailed = stream.filesFailed
        for (reason, count) in stream.skipped { summary.dropped[reason, default: 0] += count }
        summary.bytesIn = stream.bytesConsumed
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    private func deliver(_ results: ResultSlots, records: [RawRecord], write: (Document) throws -> Void,
                         rejected: ((DropReason, RawRecord) throws -> Void)?) throws {
        for i in 0..<results.count {
            switch results.get(i) {
            case .document(let doc, let repaired):
                try write(doc)
                summary.documentsWritten += 1
                summary.bytesOut += doc.text.utf8.count
                if repaired > 0 { summary.repairedDocuments += 1 }
            case .dropped(let reason):
                summary.dropped[reason, default: 0] += 1
                if let rejected, i < records.count { try rejected(reason, records[i]) }
            case nil:
                break
            }
        }
    }
}

/// A shared counter handing out indices 0, 1, 2, … to whichever thread asks first.
final class NextIndex: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func take(below count: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < count else { return nil }
        value += 1
        return value - 1
    }
}

/// Conversion results written by workers at distinct indices, read after the batch completes.
final class ResultSlots: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<Conversion.Result?>
    let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil)
    }

    deinit {
        storage.deinitialize()
        storage.deallocate()
    }

    func set(_ i: Int, _ value: Conversion.Result) { storage[i] = value }
    func get(_ i: Int) -> Conversion.Result? { storage[i] }
}

/// All records of all files in order; a file that fails mid-way keeps what it yielded before
/// the failure, is reported once, and the stream moves on to the next file.
final class RecordStream {
    private var pending: ArraySlice<String>
    private var current: (reader: RecordReader, input: ByteSource, name: String)?
    private let report: (String, Bool) -> Void
    private let textSampling: TextSampling
    /// Threads a compressed file may be decompressed on.
    private let threads: Int
    private var finishedBytes = 0
    private(set) var filesOpened = 0
    private(set) var filesFailed = 0
    private(set) var skipped: [DropReason: Int] = [:]

    init(files: [String], textSampling: TextSampling, threads: Int, report: @escaping (String, Bool) -> Void) {
        pending = files[...]
        self.textSampling = textSampling
        self.threads = threads
        self.report = report
    }

    var bytesConsumed: Int { finishedBytes + (current?.input.bytesConsumed ?? 0) }

    func nextBatch(maxRecords: Int, maxBytes: Int) -> [RawRecord] {
        var batch: [RawRecord] = []
        var bytes = 0
        while batch.count < maxRecords && bytes < maxBytes, let record = next() {
            bytes += record.byteCount
            batch.append(record)
        }
        return batch
    }

    private func next() -> RawRecord? {
        while true {
            if current == nil {
                guard let path = pending.popFirst() else { return nil }
                filesOpened += 1
                do {
                    current = try open(path)
                } catch {
                    filesFailed += 1
                    report("\(displayName(path)): \(error)", true)
                    continue
                }
            }
            guard let file = current else { continue }
            do {
                if let record = try file.reader.next() { return record }
                finish(file, failed: false)
            } catch {
                report("\(file.name): \(error)", true)
                finish(file, failed: true)
            }
        }
    }

    private func finish(_ file: (reader: RecordReader, input: ByteSource, name: String), failed: Bool) {
        if failed { filesFailed += 1 }
        for (reason, count) in file.reader.skipped { skipped[reason, default: 0] += count }
        for message in file.input.recoveredDamage + file.reader.recordErrors { report("\(file.name): \(message)", false) }
        finishedBytes += file.input.bytesConsumed
        current = nil
    }

    private func displayName(_ path: String) -> String { path == "-" ? "<stdin>" : path }

    private func open(_ path: String) throws -> (reader: RecordReader, input: ByteSource, name: String) {
        let opened = try FormatSniffer.open(path: path, threads: threads)
        let name = displayName(path)
        let reader: RecordReader
        switch opened.format {
        case .mediawiki:
            if let bigEndian = opened.utf16BigEndian {
                reader = try MediaWikiReader(input: UTF16Source(opened.source, bigEndian: bigEndian), sourceName: name, transcoded: true)
            } else {
                reader = try MediaWikiReader(input: opened.source, sourceName: name)
            }
        case .warc: reader = WARCReader(input: opened.source, sourceName: name)
        case .arc: reader = WARCReader(input: opened.source, sourceName: name, arc: true)
        case .jsonl: reader = JSONLReader(input: opened.source, sourceName: name)
        case .text where textSampling != .document:
            reader = TextSampleReader(input: opened.source, sourceName: name, sampling: textSampling)
        case .html, .text: reader = WholeFileReader(input: opened.source, sourceName: name, format: opened.format)
        }
        return (reader, opened.source, name)
    }
}
