/// 64-bit FNV-1a over bytes: the hash quarry's own tables use for short keys (element names,
/// pre-tokenized pieces, vocabulary tokens). Swift's `Hasher` (SipHash, and for `String` a
/// Unicode normalisation first) costs several times more per key; these tables check equality
/// on a hit, so FNV's weaker mixing only costs an occasional extra probe.
public struct FNV1a {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    @usableFromInline var state: UInt64

    /// The hash of the bytes added so far.
    @inlinable public var value: UInt64 { state }

    @inlinable public init() { state = Self.offsetBasis }

    @inlinable @inline(__always)
    public mutating func add(_ byte: UInt8) { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }

    @inlinable
    public mutating func add<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes { add(byte) }
    }

    @inlinable
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var h = FNV1a()
        h.add(bytes)
        return h.value
    }
}
