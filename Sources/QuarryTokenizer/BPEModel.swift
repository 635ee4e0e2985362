import Foundation
import QuarryCore

/// A byte-level BPE vocabulary: tokens, merge ranks and special (added) tokens. The model
/// encodes with GPT-2 pre-tokenization and decodes back to the exact bytes.
public struct BPEModel: Sendable {
    /// Token id → bytes.
    public let tokenBytes: [[UInt8]]
    /// Merges in priority order, as pairs of token ids, with the id each produces.
    public let merges: [(left: Int32, right: Int32, result: Int32)]
    /// Added tokens (`<|endoftext|>`), matched in the raw text before pre-tokenization.
    public let addedTokens: [(content: String, id: Int32, special: Bool)]
    /// The vocabulary's token strings (byte-level characters), kept to write them back exactly.
    public let tokenStrings: [String]
    public let addPrefixSpace: Bool
    public let ignoreMerges: Bool
    /// How text is split into pieces before BPE (GPT-2's pattern, SmolLM2's digits first,
    /// Llama 3's or Qwen2's pattern).
    public let preTokenization: PreTokenization
    /// Text is put in Unicode normalisation form C first (Qwen2's tokenizer.json).
    public let normalizesNFC: Bool
    /// Every digit is a piece of its own before GPT-2's pattern runs (HF's `Digits` pre-tokenizer
    /// with `individual_digits`, llama.cpp's `smollm`): SmolLM2's tokenizer.
    public var splitsDigits: Bool { preTokenization == .gpt2IndividualDigits }

    /// pair (left << 32 | right) → (rank << 32 | result)
    let mergeTable: MergeTable
    /// byte value → id of its single-byte token (-1: none; the byte is skipped)
    let byteTokens: [Int32]
    /// bytes → id, used when `ignoreMerges` is set (HF then looks a whole word up first).
    let wholeTokens: [[UInt8]: Int32]
    /// Whether a byte starts some added token: most positions are ruled out with one load.
    let startsAddedToken: [Bool]

    public var vocabularySize: Int { tokenBytes.count }

    /// Whether two models turn every text into the same ids (the same tokens, merges and added
    /// tokens), however their files were written.
    public func encodesLike(_ other: BPEModel) -> Bool {
        tokenBytes == other.tokenBytes && addPrefixSpace == other.addPrefixSpace && ignoreMerges == other.ignoreMerges
            && preTokenization == other.preTokenization && normalizesNFC == other.normalizesNFC
            && merges.elementsEqual(other.merges) { $0.left == $1.left && $0.right == $1.right && $0.result == $1.result }
            && addedTokens.elementsEqual(other.addedTokens) { $0.content == $1.content && $0.id == $1.id }
    }

    public init(tokenStrings: [String], merges: [(String, String)], addedTokens: [(content: String, id: Int32, special: Bool)],
                addPrefixSpace: Bool = false, ignoreMerges: Bool = false, splitsDigits: Bool = false,
                preTokenization: PreTokenization? = nil, normalizesNFC: Bool = false) throws {
        let ids = TokenIndex(tokenStrings)
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(tokenStrings.count)
        for (id, token) in tokenStrings.enumerated() {
            if let raw = ByteLevelAlphabet.decode(token) {
                bytes.append(raw)
            } else if let added = addedTokens.first(where: { $0.id == Int32(id) }) {
                bytes.append(Array(added.content.utf8))
            } else {
                throw QuarryError("token \(id) (\(token.debugDescription)) is not made of byte-level characters: not a byte-level BPE vocabulary")
            }
        }
        // byte value → id; -1 for a byte the vocabulary lacks (SmolLM2's has no token for 21 bytes
        // that never occur in UTF-8 text or are rare controls): encoding skips it, as HF does.
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            byteTokens[b] = ids.id(of: String(ByteLevelAlphabet.characters[b])) ?? -1
        }
        guard byteTokens.contains(where: { $0 >= 0 }) else {
            throw QuarryError("the vocabulary has no single-byte tokens: not a byte-level BPE vocabulary")
        }
        var table = MergeTable(capacityFor: merges.count)
        var mergeList: [(Int32, Int32, Int32)] = []
        mergeList.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let left = ids.id(of: a), let right = ids.id(of: b), let result = ids.id(of: a, followedBy: b) else {
                throw QuarryError("merge \(rank) (\(a) \(b)) uses a token missing from the vocabulary")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            table.insertIfAbsent(key, UInt64(rank) << 32 | UInt64(UInt32(result)))
            mergeList.append((left, right, result))
        }
        var whole: [[UInt8]: Int32] = [:]
        if ignoreMerges { for (id, b) in bytes.enumerated() { whole[b] = Int32(id) } }
        self.tokenBytes = bytes
        self.tokenStrings = tokenStrings
        self.merges = mergeList
        self.addedTokens = addedTokens
        self.addPrefixSpace = addPrefixSpace
        self.ignoreMerges = ignoreMerges
        self.preTokenization = preTokenization ?? (splitsDigits ? .gpt2IndividualDigits : .gpt2)
        self.normalizesNFC = normalizesNFC
        self.mergeTable = table
        self.byteTokens = byteTokens
        self.wholeTokens = whole
        var starts = [Bool](repeating: false, count: 256)
        for token in addedTokens { if let first = token.content.utf8.first { starts[Int(first)] = true } }
        self.startsAddedToken = starts
    }

    /// A copy that shares no storage with this one. Encoders on different threads each take
    /// one: Swift retains an array's buffer with an atomic write to its header, and two cores
    /// doing that on the same buffers bounce one cache line between them.
    public func unshared() -> BPEModel {
        BPEModel(copying: self)
    }

    private init(copying other: BPEModel) {
        func fresh<T>(_ array: [T]) -> [T] { array.withUnsafeBufferPointer { Array($0) } }
        tokenBytes = other.tokenBytes.map(fresh)
        merges = fresh(other.merges)
        addedTokens = other.addedTokens.map { (String(decoding: Array($0.content.utf8), as: UTF8.self), $0.id, $0.special) }
        tokenStrings = fresh(other.tokenStrings)
        addPrefixSpace = other.addPrefixSpace
        ignoreMerges = other.ignoreMerges
        preTokenization = other.preTokenization
        normalizesNFC = other.normalizesNFC
        mergeTable = other.mergeTable.unshared()
        byteTokens = fresh(other.byteTokens)
        wholeTokens = Dictionary(uniqueKeysWithValues: other.wholeTokens.map { (fresh($0.key), $0.value) })
        startsAddedToken = fresh(other.startsAddedToken)
    }

    public func id(of token: String) -> Int32? {
        tokenStrings.firstIndex(of: token).map(Int32.init)
    }

    // MARK: - Decoding

    /// Ids → bytes. Unknown ids are an error (they cannot come from this vocabulary).
    public func decodeBytes(_ ids: [Int32]) throws -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard id >= 0 && Int(id) < tokenBytes.count else {
                throw QuarryError("token id \(id) is outside the vocabulary (size \(tokenBytes.count))")
            }
            out.append(contentsOf: tokenBytes[Int(id)])
        }
        return out
    }

    public func decode(_ ids: [Int32]) throws -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }
}

/// Token string → id while a model is built, keyed by the FNV-1a hash of the token's UTF-8 and
/// checked byte for byte on a hit. A `[String: Int32]` hashed every key with a Unicode
/// normalisation first (byte-level tokens are mostly non-ASCII: "Ġthe"), a third of loading a
/// 32,768-token tokenizer.json. Byte-level tokens have one spelling each, so bytes decide.
struct TokenIndex {
    private var slots: [Int32]
    private var utf8: [UInt8] = []      // every token's UTF-8, back to back
    private var starts: [Int] = [0]     // token i is utf8[starts[i]..<starts[i + 1]]
    private let mask: Int

    init(_ tokens: [String]) {
        var capacity = 16
        while capacity < tokens.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        slots = [Int32](repeating: -1, count: capacity)
        starts.reserveCapacity(tokens.count + 1)
        for token in tokens {
            utf8.append(contentsOf: token.utf8)
            starts.append(utf8.count)
        }
        for id in tokens.indices {
            let token = utf8[starts[id]..<starts[id + 1]]
            var i = Int(truncatingIfNeeded: FNV1a.hash(token)) & mask
            // A repeated token keeps its last id, as a dictionary assignment would.
            while slots[i] >= 0 && !utf8[starts[Int(slots[i])]..<starts[Int(slots[i]) + 1]].elementsEqual(token) { i = (i + 1) & mask }
            slots[i] = Int32(id)
        }
    }

    /// The id of `prefix` + `suffix` (the token a merge makes), without building the string.
    func id(of prefix: String, followedBy suffix: String = "") -> Int32? {
        var prefix = prefix, suffix = suffix
        return prefix.withUTF8 { p in suffix.withUTF8 { s in id(of: p, followedBy: s) } }
    }

    private func id(of prefix: UnsafeBufferPointer<UInt8>, followedBy suffix: UnsafeBufferPointer<UInt8>) -> Int32? {
        var hash = FNV1a()
        for b in prefix { hash.add(b) }
        for b in suffix { hash.add(b) }
        let length = prefix.count + suffix.count
        return utf8.withUnsafeBufferPointer { all in
            var i = Int(truncatingIfNeeded: hash.value) & mask
            while slots[i] >= 0 {
                let id = Int(slots[i])
                let start = starts[id]
                if starts[id + 1] - start == length
                    && all[start..<(start + prefix.count)].elementsEqual(prefix)
                    && all[(start + prefix.count)..<(start + length)].elementsEqual(suffix) {
                    return slots[i]
                }
                i = (i + 1) & mask
            }
            return nil
        }
    }
}
