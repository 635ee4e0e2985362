import Foundation
import QuarryCore

/// A supervised fastText model (`.bin`, or `.ftz` with product-quantised matrices) read as
/// fastText 0.9 writes it, predicting as fastText does: lid.176 (FineWeb's language
/// identification), GlotLID (FineWeb-2's) and fastText quality classifiers (DCLM, FineWeb-Edu).
///
/// A line's features are its words' ids (with their character n-grams, hashed into buckets) and
/// its word n-grams; the hidden vector is their input rows' mean; the output layer is a softmax,
/// one-vs-all sigmoids, or a hierarchical softmax over a Huffman tree of the label counts. The
/// arithmetic is fastText's (float, the same order and the same +1e-5 inside each log), so labels
/// and probabilities agree with the `fasttext` package (scripts/crosscheck-fasttext).
public final class FastTextModel: @unchecked Sendable {
    public enum Loss: Int32, Sendable { case hierarchicalSoftmax = 1, negativeSampling, softmax, oneVsAll }

    public let dimension: Int
    public let loss: Loss
    let minn: Int, maxn: Int, wordNgrams: Int, bucket: Int
    /// Every entry's bytes: the words (ids 0..<wordCount), then the labels.
    let entries: [[UInt8]]
    let wordCount: Int
    /// Label names as they are stored (`__label__en`).
    public let labels: [String]
    let ids: [ArraySlice<UInt8>: Int32]
    /// Each word's input rows: itself and its character n-grams (`initNgrams`).
    let subwords: [[Int32]]
    /// A pruned (quantised) model keeps only some n-gram buckets: bucket → row; nil when unpruned.
    let prunedBuckets: [Int32: Int32]?
    let input: FastTextMatrix
    let output: FastTextMatrix
    /// The hierarchical softmax's tree (nil for the other losses).
    let tree: HuffmanTree?

    static let magic: Int32 = 793_712_314
    static let endOfSentence = Array("</s>".utf8)
    static let labelPrefix = Array("__label__".utf8)

    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw QuarryError("\(path): no such fastText model file (scripts/fetch-models lid176 fetches lid.176.ftz; or give --lang-model PATH)")
        }
        try self.init(bytes: Array(data), name: path)
    }

    public init(bytes: [UInt8], name: String) throws {
        var file = ByteCursor(bytes: bytes, name: name + " (a fastText model)")
        guard bytes.count >= 8, try file.little(Int32.self) == Self.magic else {
            throw QuarryError("\(name) is not a fastText model (no fastText magic number at its start)")
        }
        let version = try file.little(Int32.self)
        guard version == 11 || version == 12 else {
            throw QuarryError("\(name) is fastText format version \(version); quarry reads versions 11 and 12 (fastText 0.9)")
        }
        // Args: twelve int32 and one double.
        var header = [Int](repeating: 0, count: 12)
        for i in 0..<12 { header[i] = Int(try file.little(Int32.self)) }
        _ = try file.float64()   // the sampling threshold t: training only
        let (dim, wordNgrams, lossCode, modelCode, bucket, minn) = (header[0], header[5], header[6], header[7], header[8], header[9])
        var maxn = header[10]
        guard modelCode == 3 else { throw QuarryError("\(name) is a fastText word-vector model (model \(modelCode)): quarry predicts with supervised models") }
        guard let loss = Loss(rawValue: Int32(lossCode)), loss != .negativeSampling else {
            throw QuarryError("\(name): fastText loss \(lossCode) is not one a supervised model predicts with (hs, softmax, ova)")
        }
        if version == 11 { maxn = 0 }   // fastText's own rule for version-11 supervised models
        guard (1...65_536).contains(dim), (1...64).contains(wordNgrams), bucket >= 0, minn >= 0, maxn >= 0, maxn <= 64, minn <= max(maxn, minn) else {
            throw file.damaged("implausible arguments (dim \(dim), wordNgrams \(wordNgrams), bucket \(bucket), minn \(minn), maxn \(maxn))")
        }

        // Dictionary.
        let size = Int(try file.little(Int32.self)), nwords = Int(try file.little(Int32.self)), nlabels = Int(try file.little(Int32.self))
        _ = try file.little(Int64.self)   // tokens seen in training
        let pruneCount = try file.little(Int64.self)
        guard size >= 0, nwords >= 0, nlabels >= 1, size == nwords + nlabels, size <= file.remaining / 10 else {
            throw file.damaged("a dictionary of \(size) entries (\(nwords) words, \(nlabels) labels) that does not add up")
        }
        var entries: [[UInt8]] = [], counts: [Int64] = [], ids: [ArraySlice<UInt8>: Int32] = [:]
        entries.reserveCapacity(size)
        for i in 0..<size {
            let word = Array(try file.zeroTerminated())
            let count = try file.little(Int64.self)
            let type = try file.little(UInt8.self)
            guard type == (i < nwords ? 0 : 1) else { throw file.damaged("entry \(i)'s type \(type): words must come before labels") }
            if i >= nwords { counts.append(count) }
            ids[word[...]] = Int32(i)   // a repeated entry: the last one, as fastText's table keeps it
            entries.append(word)
        }
        var pruned: [Int32: Int32]? = nil
        if pruneCount >= 0 {
            guard pruneCount <= Int64(file.remaining / 8) else { throw file.damaged("\(pruneCount) pruned buckets claimed") }
            var map: [Int32: Int32] = [:]
            for _ in 0..<Int(pruneCount) {
                let bucketID = try file.little(Int32.self), row = try file.little(Int32.self)
                map[bucketID] = row
            }
            pruned = map
        }

        // Matrices.
        let quantisedInput = try file.little(UInt8.self) != 0
        let input = try FastTextMatrix.read(&file, quantised: quantisedInput)
        guard !(pruned != nil && !quantisedInput) else { throw file.damaged("a pruned dictionary with an unquantised input matrix") }
        let quantisedOutput = try file.little(UInt8.self) != 0
        let output = try FastTextMatrix.read(&file, quantised: quantisedInput && quantisedOutput)
        // One output row per label (the hierarchical softmax uses the first nlabels − 1, one per inner node).
        guard input.columns == dim, output.columns == dim, output.rows == nlabels else {
            throw file.damaged("matrices of \(input.rows) × \(input.columns) and \(output.rows) × \(output.columns) for dimension \(dim) and \(nlabels) labels")
        }
        // Every id a line can produce must be a row: the words, and the buckets (all of them, or the kept ones).
        let ngramRows = pruned.map { $0.values.max().map { Int($0) + 1 } ?? 0 } ?? bucket
        guard input.rows >= nwords + ngramRows, pruned?.values.allSatisfy({ $0 >= 0 }) ?? true else {
            throw file.damaged("an input matrix of \(input.rows) rows for \(nwords) words and \(ngramRows) n-gram rows")
        }

        self.dimension = dim
        self.loss = loss
        self.minn = minn
        self.maxn = maxn
        self.wordNgrams = wordNgrams
        self.bucket = bucket
        self.entries = entries
        self.wordCount = nwords
        self.labels = entries[nwords...].map { String(decoding: $0, as: UTF8.self) }
        self.ids = ids
        self.prunedBuckets = pruned
        self.input = input
        self.output = output
        if loss == .hierarchicalSoftmax {
            let tree = HuffmanTree(counts: counts)
            // fastText builds it assuming counts under 10^15 (its placeholder for a node not yet
            // made); larger ones make a node its own child, and the search would never end.
            guard tree.isWellFormed else { throw file.damaged("label counts (up to \(counts.max() ?? 0)) that do not make a tree") }
            self.tree = tree
        } else {
            self.tree = nil
        }
        var subwords: [[Int32]] = []
        subwords.reserveCapacity(size)
        for (i, word) in entries.enumerated() {
            var rows: [Int32] = [Int32(i)]
            if word != Self.endOfSentence && maxn > 0 { Self.characterNgrams(of: word, minn: minn, maxn: maxn, bucket: bucket, words: nwords, pruned: pruned, into: &rows) }
            subwords.append(rows)
        }
        self.subwords = subwords
    }

    // MARK: features

    /// fastText's string hash: 32-bit FNV-1a over the bytes taken as *signed* chars (the models
    /// were trained so; fastText keeps the quirk for compatibility).
    static func hash<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(bitPattern: Int32(Int8(bitPattern: b)))) &* 16_777_619 }
        return h
    }

    /// The input row of an n-gram bucket (nil when a pruned model dropped it).
    static func row(ofBucket bucket: Int64, words: Int, pruned: [Int32: Int32]?) -> Int32? {
        guard bucket >= 0 else { return nil }
        guard let pruned else { return Int32(truncatingIfNeeded: Int64(words) + bucket) }
        guard let row = pruned[Int32(truncatingIfNeeded: bucket)] else { return nil }
        return Int32(truncatingIfNeeded: words + Int(row))   // checked against the input's rows at load
    }

    /// `<word>`'s character n-grams of minn…maxn characters (UTF-8 sequences kept whole; a lone
    /// `<` or `>` is not one), as buckets' rows.
    static func characterNgrams(of word: [UInt8], minn: Int, maxn: Int, bucket: Int, words: Int, pruned: [Int32: Int32]?, into rows: inout [Int32]) {
        let bounded = [UInt8(ascii: "<")] + word + [UInt8(ascii: ">")]
        let isContinuation = { (b: UInt8) in b & 0xC0 == 0x80 }
        for i in bounded.indices where !isContinuation(bounded[i]) {
            var j = i, n = 1
            while j < bounded.count && n <= maxn {
                j += 1
                while j < bounded.count && isContinuation(bounded[j]) { j += 1 }
                if n >= minn && !(n == 1 && (i == 0 || j == bounded.count)) {
                    let h = Int64(hash(bounded[i..<j]) % UInt32(max(1, bucket)))
                    if bucket > 0, let row = row(ofBucket: h, words: words, pruned: pruned) { rows.append(row) }
                }
                n += 1
            }
        }
    }

    /// The input rows of one line, as fastText's `getLine` makes them from `text` + "\n": each
    /// whitespace-separated token (ASCII whitespace and NUL split; a label token is skipped) as its
    /// word's rows or, unknown, its character n-grams; then "</s>"; then the word n-grams.
    func features(of text: [UInt8]) -> [Int32] {
        var rows: [Int32] = [], hashes: [Int32] = []
        func add(_ token: ArraySlice<UInt8>) {
            let id = ids[token]
            let isLabel = id.map { Int($0) >= wordCount } ?? token.starts(with: Self.labelPrefix)
            guard !isLabel else { return }
            let h = Self.hash(token)
            if let id {
                if maxn <= 0 { rows.append(id) } else { rows += subwords[Int(id)] }
            } else if maxn > 0 && !token.elementsEqual(Self.endOfSentence) {
                Self.characterNgrams(of: Array(token), minn: minn, maxn: maxn, bucket: bucket, words: wordCount, pruned: prunedBuckets, into: &rows)
            }
            hashes.append(Int32(bitPattern: h))
        }
        var start: Int? = nil
        for (i, b) in text.enumerated() {
            switch b {
            case 0x20, 0x0A, 0x0D, 0x09, 0x0B, 0x0C, 0x00:
                if let s = start { add(text[s..<i]); start = nil }
            default:
                if start == nil { start = i }
            }
        }
        if let s = start { add(text[s...]) }
        add(Self.endOfSentence[...])
        // Word n-grams: fastText widens each 32-bit hash as a signed int to 64 bits.
        if wordNgrams > 1 && bucket > 0 {
            for i in hashes.indices {
                var h = UInt64(bitPattern: Int64(hashes[i]))
                for j in (i + 1)..<min(hashes.count, i + wordNgrams) {
                    h = h &* 116_049_371 &+ UInt64(bitPattern: Int64(hashes[j]))
                    if let row = Self.row(ofBucket: Int64(h % UInt64(bucket)), words: wordCount, pruned: prunedBuckets) { rows.append(row) }
                }
            }
        }
        return rows
    }

    // MARK: prediction

    /// fastText's `std_log`: log(x + 1e-5), the sum taken in double, the result a float.
    static func stdLog(_ x: Float) -> Float { Float(log(Double(x) + 1e-5)) }

    /// fastText's one-vs-all sigmoid: a table of 513 values over [-8, 8], 0 and 1 outside.
    static let sigmoidTable: [Float] = (0...512).map { i in
        let x = Float(i * 2 * 8) / 512 - 8
        return Float(1.0 / (1.0 + exp(-Double(x))))
    }

    static func tableSigmoid(_ x: Float) -> Float {
        if x.isNaN { return x }   // a model with NaN weights: no label scores (fastText's cast is undefined there)
        if x < -8 { return 0 }
        if x > 8 { return 1 }
        return sigmoidTable[min(512, Int((x + 8) * 512 / 8 / 2))]
    }

    /// The `k` most probable labels of `text` (one line: newlines are taken as spaces, as datatrove
    /// feeds its documents), most probable first, each with fastText's probability (p + 1e-5, as
    /// fastText reports it); labels below `threshold` are left out. Empty for a text with no feature.
    public func predict(_ text: String, k: Int = 1, threshold: Float = 0) -> [(label: String, probability: Float)] {
        var bytes = Array(text.utf8)
        for i in bytes.indices where bytes[i] == 0x0A { bytes[i] = 0x20 }
        let rows = features(of: bytes)
        guard !rows.isEmpty, k > 0 else { return [] }
        var hidden = [Float](repeating: 0, count: dimension)
        for row in rows { input.addRow(Int(row), to: &hidden) }
        let scale = Float(1.0 / Double(rows.count))
        for i in hidden.indices { hidden[i] *= scale }
        var best = TopK(k: k)
        switch loss {
        case .hierarchicalSoftmax:
            tree?.search(k: k, threshold: threshold, hidden: hidden, output: output, into: &best)
        case .softmax, .oneVsAll, .negativeSampling:
            var scores = (0..<output.rows).map { output.dot(row: $0, hidden) }
            if loss == .softmax {
                let top = scores.max() ?? 0
                var z: Float = 0
                for i in scores.indices { scores[i] = expf(scores[i] - top); z += scores[i] }
                for i in scores.indices { scores[i] /= z }
            } else {
                for i in scores.indices { scores[i] = Self.tableSigmoid(scores[i]) }
            }
            for (label, p) in scores.enumerated() where p >= threshold {
                let score = Self.stdLog(p)
                if best.isFull, let lowest = best.lowest, score < lowest { continue }
                best.insert(score: score, label: label)
            }
        }
        // A NaN score (a model with NaN weights) is no prediction.
        return best.sorted.filter { !$0.score.isNaN }.map { (labels[$0.label], expf($0.score)) }
    }
}

/// The k best (log-score, label) pairs seen, as fastText keeps them in its heap.
struct TopK {
    let k: Int
    private(set) var items: [(score: Float, label: Int)] = []

    init(k: Int) { self.k = k }

    var isFull: Bool { items.count >= k }
    var lowest: Float? { items.lazy.map(\.score).min() }

    mutating func insert(score: Float, label: Int) {
        items.append((score, label))
        if items.count > k, let worst = items.indices.min(by: { items[$0].score < items[$1].score }) { items.remove(at: worst) }
    }

    var sorted: [(score: Float, label: Int)] { items.sorted { $0.score > $1.score } }
}

/// The hierarchical softmax's binary tree, built from the label counts as fastText builds it
/// (Huffman: the two least frequent nodes joined, labels listed by falling count).
struct HuffmanTree {
    /// left and right children of each node (-1 for a leaf); leaves are 0..<labels, the root last.
    let left: [Int], right: [Int]
    let labels: Int

    init(counts: [Int64]) {
        let n = counts.count, total = 2 * n - 1
        var left = [Int](repeating: -1, count: max(total, 1)), right = left
        var count = [Int64](repeating: 1_000_000_000_000_000, count: max(total, 1))
        for i in 0..<n { count[i] = counts[i] }
        var leaf = n - 1, node = n
        if n > 1 {
            for i in n..<total {
                var pair = [0, 0]
                for j in 0..<2 {
                    // As fastText for counts under its 10^15 placeholder; past it no node is left
                    // to take (-1), which `isWellFormed` refuses.
                    if leaf >= 0 && (node >= total || count[leaf] < count[node]) {
                        pair[j] = leaf; leaf -= 1
                    } else if node < total {
                        pair[j] = node; node += 1
                    } else {
                        pair[j] = -1
                    }
                }
                left[i] = pair[0]
                right[i] = pair[1]
                count[i] = pair.reduce(0) { $0 &+ ($1 >= 0 ? count[$1] : 0) }
            }
        }
        self.left = left
        self.right = right
        labels = n
    }

    /// Every inner node's children were made before it (so the search ends).
    var isWellFormed: Bool {
        guard labels > 1 else { return true }
        return (labels..<(2 * labels - 1)).allSatisfy { left[$0] >= 0 && left[$0] < $0 && right[$0] >= 0 && right[$0] < $0 }
    }

    /// fastText's depth-first search for the k best leaves: a branch is left once its score falls
    /// under log(threshold) or under the k-th best found.
    func search(k: Int, threshold: Float, hidden: [Float], output: FastTextMatrix, into best: inout TopK) {
        guard labels > 0 else { return }
        let floor = FastTextModel.stdLog(threshold)
        // fastText recurses; a stack of its own here (a skewed tree of a million labels is a
        // million deep), visited in the same order: left before right.
        var pending: [(node: Int, score: Float)] = [(2 * labels - 2, 0)]
        while let (node, score) = pending.popLast() {
            if score < floor { continue }
            if best.isFull, let lowest = best.lowest, score < lowest { continue }
            if left[node] == -1 && right[node] == -1 {
                best.insert(score: score, label: node)
                continue
            }
            // As fastText: exp in float, the division in double, kept as a float.
            let f = Float(1.0 / Double(1 + expf(-output.dot(row: node - labels, hidden))))
            pending.append((right[node], score + FastTextModel.stdLog(f)))
            pending.append((left[node], score + FastTextModel.stdLog(Float(1.0 - Double(f)))))
        }
    }
}

/// One of a fastText model's matrices: dense float rows, or product-quantised (each row a code
/// per sub-vector into 256 centroids, optionally times a quantised norm).
struct FastTextMatrix {
    let rows: Int, columns: Int
    private let dense: [Float]
    private let codes: [UInt8]
    private let quantizer: ProductQuantizer?
    private let normCodes: [UInt8]
    private let normQuantizer: ProductQuantizer?

    static func read(_ file: inout ByteCursor, quantised: Bool) throws -> FastTextMatrix {
        if !quantised {
            let m = try file.little(Int64.self), n = try file.little(Int64.self)
            guard m >= 0, n >= 0, n == 0 || m <= Int64(file.remaining / 4) / n else { throw file.damaged("a \(m) × \(n) matrix larger than the file") }
            return FastTextMatrix(rows: Int(m), columns: Int(n), dense: try file.floats(Int(m * n)), codes: [], quantizer: nil, normCodes: [], normQuantizer: nil)
        }
        let hasNorms = try file.little(UInt8.self) != 0
        let m = try file.little(Int64.self), n = try file.little(Int64.self)
        let codeSize = Int(try file.little(Int32.self))
        guard m >= 0, n >= 1, m <= Int64(Int32.max), n <= 65_536, codeSize >= 0 else { throw file.damaged("a quantised \(m) × \(n) matrix") }
        let codes = Array(try file.take(codeSize))
        let quantizer = try ProductQuantizer.read(&file)
        guard quantizer.dimension == Int(n), codeSize == Int(m) * quantizer.subquantizers else {
            throw file.damaged("\(codeSize) codes for \(m) rows of \(quantizer.subquantizers) sub-vectors")
        }
        var normCodes: [UInt8] = [], normQuantizer: ProductQuantizer? = nil
        if hasNorms {
            normCodes = Array(try file.take(Int(m)))
            normQuantizer = try ProductQuantizer.read(&file)
        }
        return FastTextMatrix(rows: Int(m), columns: Int(n), dense: [], codes: codes, quantizer: quantizer, normCodes: normCodes, normQuantizer: normQuantizer)
    }

    private func norm(_ row: Int) -> Float {
        guard let normQuantizer, row < normCodes.count else { return 1 }
        return normQuantizer.centroid(0, normCodes[row]).first ?? 1
    }

    /// x += row `i`.
    func addRow(_ i: Int, to x: inout [Float]) {
        guard i >= 0 && i < rows else { return }
        if let quantizer {
            quantizer.add(code: codes[(i * quantizer.subquantizers)...], scale: norm(i), to: &x)
        } else {
            for j in 0..<columns { x[j] += dense[i * columns + j] }
        }
    }

    /// row `i` · x.
    func dot(row i: Int, _ x: [Float]) -> Float {
        guard i >= 0 && i < rows else { return 0 }
        if let quantizer { return quantizer.dot(code: codes[(i * quantizer.subquantizers)...], x) * norm(i) }
        var sum: Float = 0
        for j in 0..<columns { sum += dense[i * columns + j] * x[j] }
        return sum
    }
}

/// fastText's product quantiser: the vector cut into sub-vectors of `subdimension` (the last may
/// be shorter), each replaced by one of 256 centroids.
struct ProductQuantizer {
    let dimension: Int, subquantizers: Int, subdimension: Int, lastSubdimension: Int
    let centroids: [Float]
    static let centroidsPerSubvector = 256

    static func read(_ file: inout ByteCursor) throws -> ProductQuantizer {
        let dim = Int(try file.little(Int32.self)), nsubq = Int(try file.little(Int32.self))
        let dsub = Int(try file.little(Int32.self)), lastdsub = Int(try file.little(Int32.self))
        guard (1...65_536).contains(dim), nsubq >= 1, dsub >= 1, lastdsub >= 1, lastdsub <= dsub, (nsubq - 1) * dsub + lastdsub == dim else {
            throw file.damaged("a product quantiser of \(nsubq) × \(dsub) (last \(lastdsub)) for dimension \(dim)")
        }
        return ProductQuantizer(dimension: dim, subquantizers: nsubq, subdimension: dsub, lastSubdimension: lastdsub,
                                centroids: try file.floats(dim * centroidsPerSubvector))
    }

    func centroid(_ m: Int, _ code: UInt8) -> ArraySlice<Float> {
        let width = m == subquantizers - 1 ? lastSubdimension : subdimension
        let start = m == subquantizers - 1
            ? m * Self.centroidsPerSubvector * subdimension + Int(code) * lastSubdimension
            : (m * Self.centroidsPerSubvector + Int(code)) * subdimension
        return centroids[start..<(start + width)]
    }

    func add(code: ArraySlice<UInt8>, scale: Float, to x: inout [Float]) {
        var index = code.startIndex
        for m in 0..<subquantizers {
            for (n, c) in centroid(m, code[index]).enumerated() { x[m * subdimension + n] += scale * c }
            index += 1
        }
    }

    func dot(code: ArraySlice<UInt8>, _ x: [Float]) -> Float {
        var sum: Float = 0, index = code.startIndex
        for m in 0..<subquantizers {
            for (n, c) in centroid(m, code[index]).enumerated() { sum += x[m * subdimension + n] * c }
            index += 1
        }
        return sum
    }
}
