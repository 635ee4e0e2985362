/// Exact and near-duplicate detection over a document stream; the first copy is kept.
///
/// - exact: a 128-bit hash of the text normalised (lowercased, whitespace collapsed);
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
        let normalised = normalisedWords(text)
        return Fingerprint(exact: hash128(normalised), bands: mode == .near ? bandHashes(normalised) : [])
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

    static func normalisedWords(_ text: String) -> [Substring] {
        text.lowercased().split(whereSeparator: { $0.isWhitespace })
    }

    static func hash128(_ words: [Substring]) -> Hash128 {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x8422_2325_cbf2_9ce4
        for word in words {
            for byte in word.utf8 {
                a = (a ^ UInt64(byte)) &* 0x100_0000_01b3
                b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 &+ 0x9E37_79B9
            }
            a = (a ^ 0x20) &* 0x100_0000_01b3
            b = (b ^ 0x20) &* 0x0000_0100_0000_01b3 &+ 0x9E37_79B9
        }
        return Hash128(a: a, b: b)
    }

    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The 14 band hashes of a document's MinHash signature.
    static func bandHashes(_ words: [Substring]) -> [UInt64] {
        let wordHashes = words.map { w -> UInt64 in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in w.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return h
        }
        var shingles: [UInt64] = []
        if wordHashes.count < shingleSize {
            shingles = [wordHashes.reduce(0x51) { mix($0 ^ $1) }]
        } else {
            for i in 0...(wordHashes.count - shingleSize) {
                var h: UInt64 = 0x51
                for k in 0..<shingleSize { h = mix(h ^ wordHashes[i + k]) }
                shingles.append(h)
            }
        }
        var minima = [UInt64](repeating: .max, count: seeds.count)
        for s in shingles {
            for (j, seed) in seeds.enumerated() {
                let v = mix(s ^ seed)
                if v < minima[j] { minima[j] = v }
            }
        }
        return (0..<bands).map { band in
            var h: UInt64 = UInt64(band) &* 0x9E37_79B9_7F4A_7C15
            for r in 0..<rowsPerBand { h = mix(h ^ minima[band * rowsPerBand + r]) }
            return h
        }
    }
}
