/// Texts joined into groups of near-duplicates, so that a split never puts one family on both
/// sides. A labelled set often holds families of texts that share most of their words (a library
/// and its -dev and -doc packages; dictionaries written from one template): drawn one text at a
/// time, a held-out set rewards memorising siblings and overstates what new texts score (measured
/// on the Debian sections: reports/journal/2026-11-29-issue6-grouped-held-out-tenth.md).
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
            let keys = MinHash.bandKeys(MinHash.signature(text), rowsPerBand: Self.rowsPerBand)
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
