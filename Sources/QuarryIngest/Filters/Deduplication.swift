import QuarryCore

/// Exact and near-duplicate detection over a document stream; the first copy is kept.
///
/// - exact: a 128-bit hash of the text normalised (words split at whitespace, ASCII letters
///   case-folded);
/// - near: MinHash over word 5-gram shingles, 112 hash functions in 14 bands of 8 (the
///   defaults of datatrove's MinhashDedup), with LSH: a document whose signature matches an
///   earlier one in any band is a near duplicate. Two documents with Jaccard similarity s
///   collide with probability 1 − (1 − s⁸)¹⁴: about 0.5 at s = 0.72, 0.98 at s = 0.85,
///   under 0.03 at s = 0.5.
/// Memory is 16 bytes per kept document (exact) plus 14 × 8 bytes (near).
public struct Deduplicator: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case exact, near, off }
    public enum Verdict: Sendable, Equatable {
        case unique, exactDuplicate, nearDuplicate

        /// Why a duplicate is dropped; nil for a document that is kept.
        public var dropReason: DropReason? {
            switch self {
            case .unique: return nil
            case .exactDuplicate: return .exactDuplicate
            case .nearDuplicate: return .nearDuplicate
            }
        }
    }

    public let mode: Mode
    private var seenExact: Set<Hash128> = []
    private var bandBuckets: [Set<UInt64>]

    public static let bands = 14
    public static let rowsPerBand = 8

    public init(mode: Mode) {
        self.mode = mode
        bandBuckets = mode == .near ? Array(repeating: [], count: Self.bands) : []
    }

    struct Hash128: Hashable, Sendable { var a: UInt64; var b: UInt64 }

    /// What the judgement needs of a document; pure, so it is computed on worker threads.
    public struct Fingerprint: Sendable {
        var exact: Hash128
        var bands: [UInt64]
    }

    public static func fingerprint(_ text: String, mode: Mode) -> Fingerprint {
        guard mode != .off else { return Fingerprint(exact: Hash128(a: 0, b: 0), bands: []) }
        let words = MinHash.wordHashes(text)
        return Fingerprint(exact: hash128(words), bands: mode == .near ? bandHashes(words) : [])
    }

    /// Judges a document (in stream order) and remembers it when it is kept.
    public mutating func judge(_ fingerprint: Fingerprint) -> Verdict {
        guard mode != .off else { return .unique }
        if seenExact.contains(fingerprint.exact) { return .exactDuplicate }
        if mode == .near {
            if fingerprint.bands.enumerated().contains(where: { bandBuckets[$0.offset].contains($0.element) }) { return .nearDuplicate }
            for (i, h) in fingerprint.bands.enumerated() { bandBuckets[i].insert(h) }
        }
        seenExact.insert(fingerprint.exact)
        return .unique
    }

    public mutating func judge(_ text: String) -> Verdict {
        judge(Self.fingerprint(text, mode: mode))
    }

    static func hash128(_ words: [UInt64]) -> Hash128 {
        var a: UInt64 = 0x243F_6A88_85A3_08D3, b: UInt64 = 0x1319_8A2E_0370_7344
        for w in words {
            a = SplitMix64.mix(a ^ w)
            b = SplitMix64.mix(b &+ w &* SplitMix64.golden)
        }
        return Hash128(a: a ^ UInt64(words.count), b: b)
    }

    /// The 14 band hashes of a document's MinHash signature.
    static func bandHashes(_ wordHashes: [UInt64]) -> [UInt64] {
        MinHash.bandKeys(MinHash.signature(wordHashes: wordHashes), rowsPerBand: rowsPerBand)
    }
}
