import Foundation
import QuarryCore
import QuarryIngest
import QuarryTokenizer

/// Training a byte-level BPE on a corpus of files (anything `quarry extract` reads, JSONL and
/// plain text): `tokenizer train`, and `ingest --vocab-size` before it tokenizes.
public struct TokenizerTraining {
    public var options: BPETrainer.Options
    /// Called with bytes read and sequences counted so far, while counting words.
    public var onCounting: ((_ bytes: Int, _ sequences: Int) -> Void)?
    /// Called with the vocabulary's size and its target, while merging.
    public var onMerging: ((_ size: Int, _ target: Int) -> Void)?
    /// Called once per input that could not be read (the others are still counted).
    public var onUnreadable: ((String) -> Void)?

    public init(options: BPETrainer.Options) { self.options = options }

    public struct Result {
        public var model: BPEModel
        /// What was read: texts, bytes, and the files that could not be read.
        public var corpus: TextCorpus.Counts
        public var uniqueWords: Int
        /// Seconds spent reading and counting, before merging.
        public var countingSeconds: Double
    }

    /// Counts the words of `files` and merges; throws when they hold no text.
    public func train(on files: [String]) throws -> Result {
        let started = Date()
        let trainer = BPETrainer(options: options)
        let counts = try TextCorpus(files: files, jobs: options.jobs).forEachBatch(progress: { onCounting?($0, trainer.sequences) }) {
            trainer.add($0)
        }
        counts.errors.forEach { onUnreadable?($0) }
        guard counts.texts > 0 else { throw QuarryError("no text found in the input to train a tokenizer on") }
        let countingSeconds = Date().timeIntervalSince(started)
        let model = try trainer.train { size, target in onMerging?(size, target) }
        return Result(model: model, corpus: counts, uniqueWords: trainer.uniqueWords, countingSeconds: countingSeconds)
    }

    /// `ingest --vocab-size`: DIR/tokenizer.json trained on the inputs, or the one an earlier run
    /// of the same job left there (a run is resumed only when DIR also holds its manifest).
    public func trainedFile(on files: [String], directory: String) throws -> String {
        let path = directory + "/tokenizer.json"
        let fm = FileManager.default
        if fm.fileExists(atPath: path) && fm.fileExists(atPath: directory + "/manifest.json") { return path }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try TokenizerFile.save(try train(on: files).model, to: path)
        return path
    }
}
