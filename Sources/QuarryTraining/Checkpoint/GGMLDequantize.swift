/// ggml's block formats → F32, as llama.cpp's `dequantize_row_*` computes them (ggml-quants.c).
///
/// Each quantised type stores blocks of 32 or 256 values: a half-precision scale (and for the
/// "_1" and K types a minimum), then small integers. K-quants group a 256-value super-block into
/// sub-blocks of 32 (Q4_K, Q5_K: 6-bit scales and minimums packed into 12 bytes) or 16 (Q6_K:
/// 8-bit scales), whose scales are themselves scaled by the super-block's.
///
/// Performance notes: each loop reads its block once, front to back; loading the 98 MB
/// SmolLM2-135M GGUF dequantises 135 M values (see BENCHMARKS.md).
enum GGMLDequantize {
    static func run(_ type: GGMLType, from raw: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<Float>) {
        guard let src = raw.baseAddress, let dst = out.baseAddress else { return }
        let blocks = out.count / type.blockSize
        switch type {
        case .f32:
            for i in 0..<out.count { dst[i] = Float(bitPattern: le32(src + 4 * i)) }
        case .f16:
            for i in 0..<out.count { dst[i] = half(src + 2 * i) }
        case .bf16:
            for i in 0..<out.count { dst[i] = Float(bitPattern: UInt32(le16(src + 2 * i)) << 16) }
        case .q8_0:
            for b in 0..<blocks {
                let block = src + b * 34, y = dst + b * 32
                let d = half(block)
                for j in 0..<32 { y[j] = Float(Int8(bitPattern: block[2 + j])) * d }
            }
        case .q4_0:
            for b in 0..<blocks {
                let block = src + b * 18, y = dst + b * 32
                let d = half(block), qs = block + 2
                for j in 0..<16 {
                    y[j] = Float(Int(qs[j] & 0x0F) - 8) * d
                    y[j + 16] = Float(Int(qs[j] >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<blocks {
                let block = src + b * 20, y = dst + b * 32
                let d = half(block), m = half(block + 2), qs = block + 4
                for j in 0..<16 {
                    y[j] = Float(qs[j] & 0x0F) * d + m
                    y[j + 16] = Float(qs[j] >> 4) * d + m
                }
            }
        case .q4_K:
            for b in 0..<blocks {
                let block = src + b * 144, y = dst + b * 256
                let d = half(block), dmin = half(block + 2), scales = block + 4
                var q = block + 16
                for group in 0..<4 {   // 64 values: low nibbles with one scale, high nibbles with the next
                    let (s1, m1) = scaleAndMin(2 * group, scales), (s2, m2) = scaleAndMin(2 * group + 1, scales)
                    let d1 = d * Float(s1), min1 = dmin * Float(m1), d2 = d * Float(s2), min2 = dmin * Float(m2)
                    let out = y + 64 * group
                    for l in 0..<32 { out[l] = d1 * Float(q[l] & 0x0F) - min1 }
                    for l in 0..<32 { out[32 + l] = d2 * Float(q[l] >> 4) - min2 }
                    q += 32
                }
            }
        case .q5_K:
            for b in 0..<blocks {
                let block = src + b * 176, y = dst + b * 256
                let d = half(block), dmin = half(block + 2), scales = block + 4, qh = block + 16
                var ql = block + 48
                for group in 0..<4 {
                    let (s1, m1) = scaleAndMin(2 * group, scales), (s2, m2) = scaleAndMin(2 * group + 1, scales)
                    let d1 = d * Float(s1), min1 = dmin * Float(m1), d2 = d * Float(s2), min2 = dmin * Float(m2)
                    let low = UInt8(1) << (2 * group), high = UInt8(2) << (2 * group)   // the fifth bit of each half
                    let out = y + 64 * group
                    for l in 0..<32 { out[l] = d1 * Float(Int(ql[l] & 0x0F) + (qh[l] & low != 0 ? 16 : 0)) - min1 }
                    for l in 0..<32 { out[32 + l] = d2 * Float(Int(ql[l] >> 4) + (qh[l] & high != 0 ? 16 : 0)) - min2 }
                    ql += 32
                }
            }
        case .q6_K:
            for b in 0..<blocks {
                let block = src + b * 210
                var ql = block, qh = block + 128
                var sc = UnsafeRawPointer(block + 192).assumingMemoryBound(to: Int8.self)
                let d = half(block + 208)
                var y = dst + b * 256
                for _ in 0..<2 {   // two halves of 128 values
                    for l in 0..<32 {
                        let s = l / 16
                        let q1 = Int(ql[l] & 0x0F | (qh[l] & 3) << 4) - 32
                        let q2 = Int(ql[l + 32] & 0x0F | (qh[l] >> 2 & 3) << 4) - 32
                        let q3 = Int(ql[l] >> 4 | (qh[l] >> 4 & 3) << 4) - 32
                        let q4 = Int(ql[l + 32] >> 4 | (qh[l] >> 6 & 3) << 4) - 32
                        y[l] = d * Float(sc[s]) * Float(q1)
                        y[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                        y[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                        y[l + 96] = d * Float(sc[s + 6]) * Float(q4)
                    }
                    y += 128; ql += 64; qh += 32; sc += 8
                }
            }
        }
    }

    /// The 6-bit scale and minimum of sub-block `j` of a Q4_K/Q5_K super-block, packed in 12
    /// bytes: the first four of each in the low 6 bits of bytes 0–7, the last four split between
    /// the nibbles of bytes 8–11 and the top 2 bits of bytes 0–7 (llama.cpp's get_scale_min_k4).
    @inline(__always)
    static func scaleAndMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0x0F) | (q[j - 4] >> 6) << 4, (q[j + 4] >> 4) | (q[j] >> 6) << 4)
    }

    @inline(__always) static func le16(_ p: UnsafePointer<UInt8>) -> UInt16 { UInt16(p[0]) | UInt16(p[1]) << 8 }
    @inline(__always) static func le32(_ p: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }
    @inline(__always) static func half(_ p: UnsafePointer<UInt8>) -> Float { halfToFloat(le16(p)) }

    /// IEEE binary16 → binary32, subnormals, infinities and NaN included.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h) & 0x3FF
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) }
        if exponent == 0 {
            // Subnormal (or zero): mantissa × 2^-24.
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
    }

    /// binary32 → binary16, rounding to nearest even (for writing F16 and the scales of Q8_0).
    static func floatToHalf(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16(bits >> 16) & 0x8000
        if f.isNaN { return sign | 0x7E00 }
        let magnitude = abs(f)
        if magnitude >= 65520 { return sign | 0x7C00 }               // rounds to infinity
        if magnitude < Float(sign: .plus, exponent: -14, significand: 1) {
            // Subnormal in half precision: a multiple of 2^-24, rounded to nearest even.
            let units = (magnitude * Float(sign: .plus, exponent: 24, significand: 1)).rounded(.toNearestOrEven)
            return sign | UInt16(units)
        }
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        var mantissa = bits & 0x7F_FFFF
        var half = UInt32(exponent) << 10 | mantissa >> 13
        mantissa &= 0x1FFF
        if mantissa > 0x1000 || (mantissa == 0x1000 && half & 1 == 1) { half += 1 }   // carries into the exponent correctly
        return sign | UInt16(half)
    }
}
