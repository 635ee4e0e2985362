/// MinHash over word 5-gram shingles: 112 minima of a text, each equal between two texts with
/// probability their shingle sets' Jaccard similarity; banded into LSH keys, texts that share a
/// key are candidates for near-duplicates. Used by ingest's de-duplication (14 bands of 8, as
/// datatrove's MinhashDedup) and by the near-duplicate groups that keep labelled families on one
/// side of a split (37 bands of 3).
public enum MinHash {
    public static let shingleSize = 5
    public static let hashCount = 112

    static let seeds: [UInt64] = {
        var state: UInt64 = 0x5EED_0F_D0C5
        return (0..<hashCount).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state | 1
        }
    }()

    /// One 64-bit FNV-1a hash per word of the normalised text: words split at whitespace, ASCII
    /// letters case-folded (one pass over UTF-8 bytes, no intermediate strings).
    public static func wordHashes(_ text: String) -> [UInt64] {
        var text = text
        return text.withUTF8 { s in
            var hashes: [UInt64] = []
            hashes.reserveCapacity(s.count / 5)
            var h = FNV1a()
            var inWord = false
            for b in s {
                if b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D || b == 0x0C || b == 0x0B {
                    if inWord { hashes.append(h.value); h = FNV1a(); inWord = false }
                    continue
                }
                h.add((b >= 0x41 && b <= 0x5A) ? b | 0x20 : b)
                inWord = true
            }
            if inWord { hashes.append(h.value) }
            return hashes
        }
    }

    /// A text's signature (normalised as `wordHashes`).
    public static func signature(_ text: String) -> [UInt64] {
        signature(wordHashes: wordHashes(text))
    }

    public static func signature(wordHashes: [UInt64]) -> [UInt64] {
        var shingles: [UInt64] = []
        if wordHashes.count < shingleSize {
            shingles = [wordHashes.reduce(0x51) { SplitMix64.mix($0 ^ $1) }]
        } else {
            shingles.reserveCapacity(wordHashes.count - shingleSize + 1)
            for i in 0...(wordHashes.count - shingleSize) {
                var h: UInt64 = 0x51
                for k in 0..<shingleSize { h = SplitMix64.mix(h ^ wordHashes[i + k]) }
                shingles.append(h)
            }
        }
        var minima = [UInt64](repeating: .max, count: seeds.count)
        minima.withUnsafeMutableBufferPointer { m in
            seeds.withUnsafeBufferPointer { seed in
                for s in shingles {
                    for j in 0..<seed.count {
                        let v = SplitMix64.mix(s ^ seed[j])
                        if v < m[j] { m[j] = v }
                    }
                }
            }
        }
        return minima
    }

    /// LSH: one key per band of `rowsPerBand` consecutive minima (the signature's tail left over is
    /// unused); two texts share a band's key with probability sʳ at Jaccard similarity s.
    public static func bandKeys(_ signature: [UInt64], rowsPerBand: Int) -> [UInt64] {
        (0..<(signature.count / rowsPerBand)).map { band in
            var h: UInt64 = UInt64(band) &* SplitMix64.golden
            for r in 0..<rowsPerBand { h = SplitMix64.mix(h ^ signature[band * rowsPerBand + r]) }
            return h
        }
    }
}
