import Dispatch
import Foundation
import QuarryCore

/// Trains a byte-level BPE vocabulary the way Hugging Face `tokenizers`' BpeTrainer does, so
/// that the same corpus and settings give the same merges:
/// - special tokens take the first ids, then the 256 byte-level characters in code-point order;
/// - the most frequent adjacent pair is merged next, ties going to the smaller (left, right) id
///   pair; a pair below `minimumFrequency` ends training;
/// - pair counts are updated incrementally from each merged word's neighbours (never
///   recounted), with a lazily corrected max-heap, as HF does.
///
/// Performance notes: word counting (pre-tokenization) is the bulk of the work on a large corpus
/// and runs on `jobs` threads, each with its own arena-backed counter; the merge loop touches
/// only the words that contain the merged pair.
public final class BPETrainer {
    public struct Options: Sendable {
        public var vocabularySize: Int
        public var minimumFrequency: Int64
        public var specialTokens: [String]
        public var jobs: Int

        public init(vocabularySize: Int, minimumFrequency: Int64 = 2, specialTokens: [String] = ["<|endoftext|>"],
                    jobs: Int = ProcessInfo.processInfo.activeProcessorCount) {
            self.vocabularySize = vocabularySize
            self.minimumFrequency = minimumFrequency
            self.specialTokens = specialTokens
            self.jobs = max(1, jobs)
        }
    }

    public let options: Options
    private var counter = WordCounter()
    public private(set) var sequences = 0
    public private(set) var bytes = 0

    public init(options: Options) { self.options = options }

    // MARK: - Counting words

    /// Adds a batch of texts (each one sequence, e.g. a line with its newline, or a document).
    public func add(_ texts: [String]) {
        sequences += texts.count
        let width = min(options.jobs, texts.count)
        if width <= 1 {
            for text in texts { count(text, into: &counter) }
            return
        }
        let partials = UnsafeMutableBufferPointer<WordCounter>.allocate(capacity: width)
        partials.initialize(repeating: WordCounter(capacity: 1 << 12))
        defer { partials.deinitialize(); partials.deallocate() }
        let box = UncheckedSendable(partials)
        DispatchQueue.concurrentPerform(iterations: width) { worker in
            var local = WordCounter(capacity: 1 << 14)
            let lower = texts.count * worker / width, upper = texts.count * (worker + 1) / width
            for i in lower..<upper { BPETrainer.countStatic(texts[i], into: &local) }
            box.value[worker] = local
        }
        for partial in partials { counter.merge(partial) }
    }

    private func count(_ text: String, into counter: inout WordCounter) {
        Self.countStatic(text, into: &counter)
    }

    private static func countStatic(_ text: String, into counter: inout WordCounter) {
        var text = text
        text.withUTF8 { s in
            GPT2PreTokenizer.split(s) { piece in counter.add(UnsafeBufferPointer(rebasing: s[piece])) }
        }
    }

    public var uniqueWords: Int { counter.count }

    // MARK: - Merging

    /// Runs the merges and returns the model. `progress` receives (vocabulary size so far, target).
    public func train(progress: ((Int, Int) -> Void)? = nil) throws -> BPEModel {
        let specials = options.specialTokens
        guard options.vocabularySize >= specials.count + 256 else {
            throw QuarryError("--vocab-size \(options.vocabularySize) is too small: byte-level BPE needs at least \(specials.count + 256) (256 bytes + special tokens)")
        }
        var idToToken: [String] = specials
        var tokenToID: [String: Int32] = [:]
        for (i, s) in specials.enumerated() { tokenToID[s] = Int32(i) }
        // The 256 byte characters, sorted by code point (HF sorts its alphabet that way).
        let byteOrder = (0..<256).sorted { ByteLevelAlphabet.characters[$0].value < ByteLevelAlphabet.characters[$1].value }
        var byteID = [Int32](repeating: 0, count: 256)
        for b in byteOrder {
            let token = String(ByteLevelAlphabet.characters[b])
            if let existing = tokenToID[token] { byteID[b] = existing; continue }
            byteID[b] = Int32(idToToken.count)
            tokenToID[token] = byteID[b]
            idToToken.append(token)
        }

        // Words as symbol ids, with their frequencies.
        var words: [[Int32]] = []
        var frequencies: [Int64] = []
        words.reserveCapacity(counter.count)
        counter.forEach { bytes, frequency in
            words.append(bytes.map { byteID[Int($0)] })
            frequencies.append(frequency)
        }

        // Initial pair counts and the words each pair occurs in.
        var pairCounts: [UInt64: Int64] = [:]
        var occurrences: [UInt64: [Int32]] = [:]
        for (w, word) in words.enumerated() where word.count > 1 {
            for k in 0..<(word.count - 1) {
                let pair = Self.key(word[k], word[k + 1])
                pairCounts[pair, default: 0] += frequencies[w]
                if occurrences[pair]?.last != Int32(w) { occurrences[pair, default: []].append(Int32(w)) }
            }
        }
        var queue = BinaryHeap<MergeCandidate>()
        for (pair, positions) in occurrences {
            let count = pairCounts[pair] ?? 0
            if count > 0 { queue.push(MergeCandidate(count: count, pair: pair, positions: positions)) }
        }
        occurrences = [:]

        var merges: [(String, String)] = []
        var changes: [(UInt64, Int64)] = []
        while idToToken.count < options.vocabularySize, var top = queue.pop() {
            let current = pairCounts[top.pair] ?? 0
            if top.count != current {
                top.count = current
                queue.push(top)
                continue
            }
            if top.count < 1 || top.count < options.minimumFrequency { break }
            let left = Int32(truncatingIfNeeded: top.pair >> 32), right = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            let newToken = idToToken[Int(left)] + idToToken[Int(right)]
            let newID: Int32
            if let existing = tokenToID[newToken] { newID = existing } else {
                newID = Int32(idToToken.count)
                idToToken.append(newToken)
                tokenToID[newToken] = newID
            }
            merges.append((idToToken[Int(left)], idToToken[Int(right)]))

            var formed: [UInt64: [Int32]] = [:]
            for w in top.positions {
                changes.removeAll(keepingCapacity: true)
                Self.merge(&words[Int(w)], left, right, into: newID, changes: &changes)
                let frequency = frequencies[Int(w)]
                for (pair, delta) in changes {
                    pairCounts[pair, default: 0] += delta * frequency
                    if delta > 0 && formed[pair]?.last != w { formed[pair, default: []].append(w) }
                }
            }
            for (pair, positions) in formed {
                let count = pairCounts[pair] ?? 0
                if count > 0 { queue.push(MergeCandidate(count: count, pair: pair, positions: positions)) }
            }
            progress?(idToToken.count, options.vocabularySize)
        }
        let added = specials.enumerated().map { (content: $0.element, id: Int32($0.offset), special: true) }
        return try BPEModel(tokenStrings: idToToken, merges: merges, addedTokens: added)
    }

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    /// HF's `Word::merge`: replaces each (left, right) occurrence, left to right, and reports
    /// the neighbour pairs that disappear (-1) and appear (+1).
    static func merge(_ symbols: inout [Int32], _ left: Int32, _ right: Int32, into replacement: Int32,
                      changes: inout [(UInt64, Int64)]) {
        var i = 0
        while i < symbols.count {
            if symbols[i] == left && i + 1 < symbols.count && symbols[i + 1] == right {
                if i > 0 {
                    changes.append((key(symbols[i - 1], left), -1))
                    changes.append((key(symbols[i - 1], replacement), 1))
                }
                symbols[i] = replacement
                symbols.remove(at: i + 1)
                if i < symbols.count - 1 {
                    changes.append((key(right, symbols[i + 1]), -1))
                    changes.append((key(replacement, symbols[i + 1]), 1))
                }
            }
            i += 1
        }
    }
}

/// A pair the trainer may merge next: highest count first, the smaller pair on ties (HF's order).
struct MergeCandidate: HeapOrdered {
    var count: Int64
    var pair: UInt64
    var positions: [Int32]

    static func before(_ a: MergeCandidate, _ b: MergeCandidate) -> Bool {
        a.count != b.count ? a.count > b.count : a.pair < b.pair
    }
}
