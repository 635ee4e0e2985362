import Foundation

/// SplitMix64: a small, fast, seedable generator (reproducible runs: initialisation, data order,
/// sampling) and its finaliser, the 64-bit mixer quarry's hashes end with.
public struct SplitMix64: Sendable {
    public static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    public var state: UInt64

    @inlinable public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= Self.golden
        return Self.finalise(state)
    }

    /// A double in [0, 1) from the top 53 bits.
    @inlinable
    public mutating func uniform() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }

    /// A standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Fisher–Yates with this generator: the same order for the same seed.
    public mutating func shuffle<Element>(_ items: inout [Element]) {
        for i in stride(from: items.count - 1, to: 0, by: -1) { items.swapAt(i, Int(next() % UInt64(i + 1))) }
    }

    /// The finaliser: spreads nearby inputs over the whole 64-bit range.
    @inlinable @inline(__always)
    public static func finalise(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// One generator step from `x` as state: a stateless hash of a 64-bit key (MinHash rows,
    /// dropout masks).
    @inlinable @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 { finalise(x &+ golden) }
}
