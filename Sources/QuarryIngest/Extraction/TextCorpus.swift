import Foundation
import QuarryCore

/// Texts for the tokenizer, from anything `extract` reads: plain text gives one text per line
/// (with its line ending, as Hugging Face `tokenizers` reads training files), JSONL the `text`
/// of each line, and dumps, pages and archives their extracted documents.
public struct TextCorpus {
    public let files: [String]
    public let jobs: Int

    public init(files: [String], jobs: Int) {
        self.files = files
        self.jobs = jobs
    }

    public struct Counts: Sendable {
        public var texts = 0
        public var bytes = 0
        public var skipped = 0
        public var errors: [String] = []
    }

    /// Calls `body` with batches of texts, in input order; `progress` gets bytes read so far.
    public func forEachBatch(batchBytes: Int = 8 << 20, progress: (Int) -> Void = { _ in },
                             _ body: ([String]) throws -> Void) throws -> Counts {
        var counts = Counts()
        var finishedBytes = 0
        for path in files {
            let opened: OpenedInput
            do { opened = try FormatSniffer.open(path: path) } catch {
                counts.errors.append("\(path): \(error)")
                continue
            }
            switch opened.format {
            case .text, .jsonl:
                let reader = BufferedReader(opened.source)
                var batch: [String] = []
                var batchSize = 0
                do {
                    var first = true
                    while var line = try reader.readLineWithEnding() {
                        // A byte order mark before the first JSON record (plain text keeps it, as HF reads it).
                        if first && opened.format == .jsonl && line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
                        first = false
                        if opened.format == .jsonl {
                            guard !line.allSatisfy(isASCIISpace) else { continue }
                            guard let text = JSONLines.text(ofLine: line) else { counts.skipped += 1; continue }
                            batch.append(text)
                        } else {
                            batch.append(String(decoding: line, as: UTF8.self))
                        }
                        batchSize += line.count
                        counts.bytes += line.count
                        if batchSize >= batchBytes {
                            counts.texts += batch.count
                            try body(batch)
                            progress(finishedBytes + reader.bytesConsumed)
                            batch.removeAll(keepingCapacity: true)
                            batchSize = 0
                        }
                    }
                } catch let error as InputError {
                    counts.errors.append("\(path): \(error)")
                }
                counts.texts += batch.count
                if !batch.isEmpty { try body(batch) }
                finishedBytes += reader.bytesConsumed
                progress(finishedBytes)
            default:
                let run = ExtractionRun(files: [path], options: ExtractionOptions(jobs: jobs, showProgress: false)) { _ in }
                var batch: [String] = []
                var batchSize = 0
                var failure: Error?
                let summary = try run.run { doc in
                    batch.append(doc.text)
                    batchSize += doc.text.utf8.count
                    if batchSize >= batchBytes {
                        counts.texts += batch.count
                        do { try body(batch) } catch { failure = error }
                        batch.removeAll(keepingCapacity: true)
                        batchSize = 0
                    }
                }
                if let failure { throw failure }
                counts.texts += batch.count
                if !batch.isEmpty { try body(batch) }
                counts.bytes += summary.bytesOut
                counts.errors += summary.errors
                finishedBytes += summary.bytesIn
                progress(finishedBytes)
            }
        }
        return counts
    }
}
