import QuarryIngest

/// Texts joined into groups of near-duplicates, so that a split never puts one family on both
/// sides. A labelled set often holds families of texts that share most of their words (a library
/// and its -dev and -doc packages; 203 freedict dictionaries written from one template). With each
/// text drawn alone, a fifth of the held-out tenth of debian-sections-train.jsonl had a sibling in
/// training at TF-IDF cosine ≥ 0.9, against one in twenty of its dev file: held-out figures
/// rewarded memorising siblings and overstated what new texts score.
///
/// MinHash over word 5-grams (the de-duplicator's signature), LSH in 37 bands of 3 rows: two texts
/// are joined with probability 1 − (1 − s³)³⁷ at Jaccard similarity s — 0.26 at 0.2, 0.64 at 0.3,
/// 0.99 at 0.5 — and joins are transitive. A group's key is the least content hash of its texts: a
/// text with no near-duplicate keeps its own, and keys depend on the set of texts, not their order.
public struct NearDuplicateGroups: Sendable {
    /// Each text's group key, in the order given.
    public let keys: [Int64]
    /// How many groups the texts form.
    public let count: Int

    static let bands = 37
    static let rowsPerBand = 3

    public init(_ texts: [String]) {
        var parent = Array(texts.indices)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        var firstInBucket = [[UInt64: Int]](repeating: [:], count: Self.bands)
        for (i, text) in texts.enumerated() {
            let keys = Deduplicator.bandKeys(Deduplicator.minHashSignature(text), rowsPerBand: Self.rowsPerBand)
            for (band, key) in keys.prefix(Self.bands).enumerated() {
                if let first = firstInBucket[band][key] {
                    parent[root(i)] = root(first)
                } else {
                    firstInBucket[band][key] = i
                }
            }
        }
        var least: [Int: UInt64] = [:]
        for (i, text) in texts.enumerated() {
            let hash = UInt64(bitPattern: contentHash(text))
            least[root(i)] = min(least[root(i)] ?? .max, hash)
        }
        count = least.count
        keys = texts.indices.map { Int64(bitPattern: least[root($0)] ?? 0) }
    }
}

/// Without --dev, fine-tuning holds out a tenth of the training file to choose its epoch: a
/// sample like the rest of the file (its last tenth was not, in a file sorted by name or label:
/// debian-sections-train.jsonl is sorted by package, and its last tenth had 3× the `web` share),
/// whole groups of near-duplicates at a time: those whose key is 0 modulo 10. On that file (5,265
/// groups) 71% of the held-out examples then have no training text above cosine 0.3 and none above
/// 0.9 (dev file: 79%, 5%), and TF-IDF + logistic regression scores 0.826 / 0.778 on them (dev
/// 0.830 / 0.806; on texts drawn alone it was 0.873 / 0.832).
/// The low digits are used because `quarry export --split` cuts on the key's top bits, so a
/// `train.jsonl` it wrote still has a tenth to hold out.
public struct HeldOutTenth: Sendable {
    /// Whether each text, in the order given, is held out.
    public let isHeldOut: [Bool]
    /// How many groups of near-duplicates the texts form.
    public let groupCount: Int

    public init(_ texts: [String]) {
        let groups = NearDuplicateGroups(texts)
        groupCount = groups.count
        isHeldOut = groups.keys.map { UInt64(bitPattern: $0) % 10 == 0 }
    }
}
