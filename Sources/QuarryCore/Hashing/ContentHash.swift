/// A 64-bit FNV-1a hash as 16 hex digits: a stable, dependency-free document id.
public func stableID(_ s: String) -> String {
    let hex = String(FNV1a.hash(s.utf8), radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// A text's key (labelled examples, near-duplicate groups): FNV-1a, then the SplitMix finaliser
/// so that nearby texts spread over the whole range (it also orders `tag --order random`). Among
/// a million distinct texts the chance of any collision is about 3 in 100 million.
public func contentHash(_ text: String) -> Int64 {
    Int64(bitPattern: SplitMix64.finalise(FNV1a.hash(text.utf8)))
}
