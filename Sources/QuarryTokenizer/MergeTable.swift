/// (left, right) token pair → (rank, merged token), in an open-addressing table with a
/// multiplicative hash. Swift's `Dictionary` hashes with SipHash, which was the largest single
/// cost of encoding; this lookup is a multiply, a shift and usually one probe.
struct MergeTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private let shift: UInt64
    private static let emptyKey = UInt64.max

    init(capacityFor count: Int) {
        var bits: UInt64 = 4
        while (1 << bits) < count * 2 { bits += 1 }
        keys = [UInt64](repeating: Self.emptyKey, count: 1 << Int(bits))
        values = [UInt64](repeating: 0, count: 1 << Int(bits))
        shift = 64 - bits
    }

    /// A copy with storage of its own (see `BPEModel.unshared`).
    func unshared() -> MergeTable {
        var copy = self
        copy.keys = keys.withUnsafeBufferPointer { Array($0) }
        copy.values = values.withUnsafeBufferPointer { Array($0) }
        return copy
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Inserts unless the key is present (the first, lowest-ranked merge of a pair wins).
    mutating func insertIfAbsent(_ key: UInt64, _ value: UInt64) {
        let mask = keys.count - 1
        var i = slot(key)
        while keys[i] != Self.emptyKey {
            if keys[i] == key { return }
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = value
    }

    @inline(__always) func value(_ key: UInt64) -> UInt64? {
        let mask = keys.count - 1
        var i = slot(key)
        return keys.withUnsafeBufferPointer { k in
            while true {
                let found = k[i]
                if found == key { return values[i] }
                if found == Self.emptyKey { return nil }
                i = (i + 1) & mask
            }
        }
    }
}
