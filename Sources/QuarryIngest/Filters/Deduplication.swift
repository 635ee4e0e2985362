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
    public enum Verdict: Sendable, Equatable { case unique, exactDuplicate, nearDuplicate }

    public let mode: Mode
    private var seenExact: Set<Hash128> = []
    private var bandBuckets: [Set<UInt64>]

    public static let shingleSize = 5
    public static let bands = 14
    public static let rowsPerBand = 8
    static let seeds: [UInt64] = {
        var state: UInt64 = 0x5EED_0F_D0C5
        return (0..<(bands * rowsPerBand)).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state | 1
        }
    }()

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
        let words = wordHashes(text)
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

    /// One 64-bit hash per word of the normalised text: words split at whitespace, ASCII
    /// letters case-folded (one pass over UTF-8 bytes, no intermediate strings).
    static func wordHashes(_ text: String) -> [UInt64] {
        var text = text
        return text.withUTF8 { s in
            var hashes: [UInt64] = []
            hashes.reserveCapacity(s.count / 5)
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            var inWord = false
            for b in s {
                if b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D || b == 0x0C || b == 0x0B {
                    if inWord { hashes.append(h); h = 0xcbf2_9ce4_8422_2325; inWord = false }
                    continue
                }
                let folded = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
                h = (h ^ UInt64(folded)) &* 0x100_0000_01b3
                inWord = true
            }
            if inWord { hashes.append(h) }
            return hashes
        }
    }

    static func hash128(_ words: [UInt64]) -> Hash128 {
        var a: UInt64 = 0x243F_6A88_85A3_08D3, b: UInt64 = 0x1319_8A2E_0370_7344
        for w in words {
            a = mix(a ^ w)
            b = mix(b &+ w &* 0x9E37_79B9_7F4A_7C15)
        }
        return Hash128(a: a ^ UInt64(words.count), b: b)
    }

    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The 14 band hashes of a document's MinHash signature.
    static func bandHashes(_ wordHashes: [UInt64]) -> [UInt64] {
        bandKeys(minHashSignature(wordHashes), rowsPerBand: rowsPerBand)
    }

    /// LSH: one key per band of `rowsPerBand` consecutive minima (the signature's tail left over is
    /// unused); two texts share a band's key with probability sʳ at Jaccard similarity s.
    public static func bandKeys(_ signature: [UInt64], rowsPerBand: Int) -> [UInt64] {
        (0..<(signature.count / rowsPerBand)).map { band in
            var h: UInt64 = UInt64(band) &* 0x9E37_79B9_7F4A_7C15
            for r in 0..<rowsPerBand { h = mix(h ^ signature[band * rowsPerBand + r]) }
            return h
        }
    }

    /// A text's MinHash signature over word 5-gram shingles (normalised as for de-duplication):
    /// 112 minima, each equal between two texts with probability their shingles' Jaccard similarity.
    public static func minHashSignature(_ text: String) -> [UInt64] {
        minHashSignature(wordHashes(text))
    }

    static func minHashSignature(_ wordHashes: [UInt64]) -> [UInt64] {
        var shingles: [UInt64] = []
        if wordHashes.count < shingleSize {
            shingles = [wordHashes.reduce(0x51) { mix($0 ^ $1) }]
        } else {
            shingles.reserveCapacity(wordHashes.count - shingleSize + 1)
            for i in 0...(wordHashes.count - shingleSize) {
                var h: UInt64 = 0x51
                for k in 0..<shingleSize { h = mix(h ^ wordHashes[i + k]) }
                shingles.append(h)
            }
        }
        var minima = [UInt64](repeating: .max, count: seeds.count)
        minima.withUnsafeMutableBufferPointer { m in
            seeds.withUnsafeBufferPointer { seed in
                for s in shingles {
                    for j in 0..<seed.count {
                        let v = mix(s ^ seed[j])
                        if v < m[j] { m[j] = v }
                    }
                }
            }
        }
        return minima
    }
}
