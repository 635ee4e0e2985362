import Foundation
import QuarryCore

/// Encodes text with a `BPEModel`. Not thread-safe (it owns a cache): make one per thread.
///
/// Performance notes (measured on the shared 49 MB corpus):
/// - Most pieces repeat, so a cache of piece bytes → ids answers most of them; it is an
///   open-addressing table over an arena of bytes, so a hit allocates nothing.
/// - A miss merges by repeatedly taking the lowest-ranked adjacent pair (leftmost on ties),
///   the order HF's priority queue produces; pieces are short, so a linear scan of a small
///   rank array beats a heap. Pieces longer than `heapThreshold` use a heap to stay
///   O(n log n) on pathological input (a megabyte of one symbol).
public final class BPEEncoder {
    public let model: BPEModel
    /// Mutable scratch state, moved out for the duration of a call: as a local struct its
    /// accesses are checked at compile time, while a class property's would be checked at run
    /// time on every access (that dynamic exclusivity checking was 20% of encoding time).
    private var work: EncoderWork

    public init(model: BPEModel) {
        self.model = model
        work = EncoderWork()
    }

    /// Encodes `text`, matching added tokens (`<|endoftext|>`) first, as HF does.
    public func encode(_ text: String) -> [Int32] {
        var out: [Int32] = []
        encode(text, into: &out)
        return out
    }

    public func encode(_ text: String, into out: inout [Int32]) {
        session { $0.encode(text, into: &out) }
    }

    /// Runs `body` with the encoder's state moved out once, for many documents in a row: moving
    /// it costs a retain and release of each of its buffers, which per document was a tenth of
    /// encoding time.
    public func session<R>(_ body: (inout EncodingSession) throws -> R) rethrows -> R {
        var session = EncodingSession(model: model, work: work)
        work = EncoderWork.empty
        defer { work = session.work }
        return try body(&session)
    }
}

/// An encoder's state, borrowed by `BPEEncoder.session`.
public struct EncodingSession {
    let model: BPEModel
    var work: EncoderWork

    public mutating func encode(_ text: String, into out: inout [Int32]) {
        work.encode(text, with: model, into: &out)
    }
}

/// The model is passed in, not stored: copying a stored model (an optional unwrapped per
/// document) retained each of its table buffers.
struct EncoderWork {
    var cache: PieceCache
    var symbols: [Int32] = []
    var ranks: [UInt32] = []
    static let heapThreshold = 256

    init() {
        cache = PieceCache()
    }

    private init(placeholderCapacity: Int) {
        cache = PieceCache(capacity: placeholderCapacity)
    }

    static let empty = EncoderWork(placeholderCapacity: 1)

    mutating func encode(_ text: String, with model: BPEModel, into out: inout [Int32]) {
        var text = model.normalizesNFC ? text.precomposedStringWithCanonicalMapping : text
        if model.addPrefixSpace, let first = text.unicodeScalars.first, first != " " { text = " " + text }
        text.withUTF8 { s in
            guard !model.addedTokens.isEmpty else { encodeOrdinary(model, s, range: 0..<s.count, into: &out); return }
            var start = 0
            var i = 0
            let starts = model.startsAddedToken
            while i < s.count {
                if starts[Int(s[i])], let (length, id) = Self.addedToken(model, at: i, in: s) {
                    encodeOrdinary(model, s, range: start..<i, into: &out)
                    out.append(id)
                    i += length
                    start = i
                    continue
                }
                i += 1
            }
            encodeOrdinary(model, s, range: start..<s.count, into: &out)
        }
    }

    private static func addedToken(_ model: BPEModel, at i: Int, in s: UnsafeBufferPointer<UInt8>) -> (Int, Int32)? {
        for token in model.addedTokens {
            let bytes = token.content.utf8
            guard i + bytes.count <= s.count else { continue }
            var match = true
            var k = i
            for b in bytes { if s[k] != b { match = false; break }; k += 1 }
            if match { return (bytes.count, token.id) }
        }
        return nil
    }

    private mutating func encodeOrdinary(_ model: BPEModel, _ s: UnsafeBufferPointer<UInt8>, range: Range<Int>, into out: inout [Int32]) {
        guard !range.isEmpty else { return }
        let slice = UnsafeBufferPointer(rebasing: s[range])
        model.preTokenization.split(slice) { piece in
            let bytes = UnsafeBufferPointer(rebasing: slice[piece])
            if bytes.count == 1 { if model.byteTokens[Int(bytes[0])] >= 0 { out.append(model.byteTokens[Int(bytes[0])]) }; return }
            if cache.lookup(bytes, into: &out) { return }
            let start = out.count
            if model.ignoreMerges, let whole = model.wholeTokens[Array(bytes)] {
                out.append(whole)
            } else if bytes.count <= Self.heapThreshold {
                mergeByScan(model, bytes, into: &out)
            } else {
                Self.mergeByHeap(model, bytes, into: &out)
            }
            cache.insert(bytes, ids: out[start...])
        }
    }

    @inline(__always)
    private static func pairRank(_ model: BPEModel, _ a: Int32, _ b: Int32) -> (UInt32, Int32) {
        guard let v = model.mergeTable.value(UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))) else { return (.max, -1) }
        return (UInt32(v >> 32), Int32(truncatingIfNeeded: v & 0xFFFF_FFFF))
    }

    /// Lowest-ranked adjacent pair first (leftmost on ties), by scanning a small rank array.
    private mutating func mergeByScan(_ model: BPEModel, _ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        symbols.removeAll(keepingCapacity: true)
        // A byte the vocabulary lacks is skipped, as HF's BPE does without an unknown token.
        for b in bytes where model.byteTokens[Int(b)] >= 0 { symbols.append(model.byteTokens[Int(b)]) }
        guard symbols.count > 1 else { out.append(contentsOf: symbols); return }
        ranks.removeAll(keepingCapacity: true)
        for k in 0..<(symbols.count - 1) { ranks.append(Self.pairRank(model, symbols[k], symbols[k + 1]).0) }
        while symbols.count > 1 {
            var best = UInt32.max
            var at = -1
            for k in 0..<ranks.count where ranks[k] < best { best = ranks[k]; at = k }
            if at < 0 { break }
            let merged = Self.pairRank(model, symbols[at], symbols[at + 1]).1
            symbols[at] = merged
            symbols.remove(at: at + 1)
            ranks.remove(at: at)
            if at > 0 { ranks[at - 1] = Self.pairRank(model, symbols[at - 1], merged).0 }
            if at < ranks.count { ranks[at] = Self.pairRank(model, merged, symbols[at + 1]).0 }
        }
        out.append(contentsOf: symbols)
    }

    /// The same merge order with a heap and a linked list, for long pieces.
    private static func mergeByHeap(_ model: BPEModel, _ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        var sym = bytes.map { model.byteTokens[Int($0)] }.filter { $0 >= 0 }
        let n = sym.count
        guard n > 1 else { out.append(contentsOf: sym); return }
        var next = Array(1...n)            // n means none
        var prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = BinaryHeap<PendingMerge>()
        for k in 0..<(n - 1) {
            let r = pairRank(model, sym[k], sym[k + 1]).0
            if r != .max { heap.push(PendingMerge(rank: r, position: k, right: sym[k + 1], left: sym[k])) }
        }
        while let top = heap.pop() {
            let k = top.position
            guard alive[k], sym[k] == top.left, next[k] < n, sym[next[k]] == top.right else { continue }
            let j = next[k]
            sym[k] = pairRank(model, sym[k], sym[j]).1
            alive[j] = false
            next[k] = next[j]
            if next[j] < n { prev[next[j]] = k }
            if prev[k] >= 0 {
                let p = prev[k]
                let r = pairRank(model, sym[p], sym[k]).0
                if r != .max { heap.push(PendingMerge(rank: r, position: p, right: sym[k], left: sym[p])) }
            }
            if next[k] < n {
                let r = pairRank(model, sym[k], sym[next[k]]).0
                if r != .max { heap.push(PendingMerge(rank: r, position: k, right: sym[next[k]], left: sym[k])) }
            }
        }
        var k = 0
        while k < n { out.append(sym[k]); k = next[k] }
    }
}

/// A pair waiting to be merged in a long piece: lowest rank first, the leftmost on ties.
struct PendingMerge: HeapOrdered {
    var rank: UInt32
    var position: Int
    var right: Int32
    var left: Int32

    static func before(_ a: PendingMerge, _ b: PendingMerge) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.position < b.position
    }
}

/// piece bytes → token ids, in an open-addressing table over two arenas; cleared when full.
struct PieceCache {
    private var slots: [Slot]
    private var keyArena: [UInt8] = []
    private var idArena: [Int32] = []
    private var used = 0
    private let capacity: Int

    struct Slot {
        var hash: UInt64 = 0
        var keyStart: Int32 = -1
        var keyLength: Int32 = 0
        var idStart: Int32 = 0
        var idCount: Int32 = 0
    }

    init(capacity: Int = 1 << 18) {
        self.capacity = capacity
        slots = [Slot](repeating: Slot(), count: capacity)
        keyArena.reserveCapacity(capacity * 8)
        idArena.reserveCapacity(capacity * 2)
    }

    @inline(__always) static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        FNV1a.hash(bytes) | 1
    }

    mutating func lookup(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) -> Bool {
        let h = Self.hash(bytes)
        var i = Int(truncatingIfNeeded: h) & (capacity - 1)
        while true {
            let slot = slots[i]
            if slot.keyStart < 0 { return false }
            if slot.hash == h && Int(slot.keyLength) == bytes.count {
                let same = keyArena.withUnsafeBufferPointer { arena in
                    memcmp(arena.baseAddress! + Int(slot.keyStart), bytes.baseAddress!, bytes.count) == 0
                }
                if same {
                    // Through a buffer pointer: an ArraySlice would retain and release the arena.
                    idArena.withUnsafeBufferPointer {
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: $0[Int(slot.idStart)..<Int(slot.idStart + slot.idCount)]))
                    }
                    return true
                }
            }
            i = (i + 1) & (capacity - 1)
        }
    }

    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>, ids: ArraySlice<Int32>) {
        if used * 2 >= capacity || keyArena.count > Int(Int32.max) / 2 {
            slots = [Slot](repeating: Slot(), count: capacity)
            keyArena.removeAll(keepingCapacity: true)
            idArena.removeAll(keepingCapacity: true)
            used = 0
        }
        let h = Self.hash(bytes)
        var i = Int(truncatingIfNeeded: h) & (capacity - 1)
        while slots[i].keyStart >= 0 { i = (i + 1) & (capacity - 1) }
        slots[i] = Slot(hash: h, keyStart: Int32(keyArena.count), keyLength: Int32(bytes.count),
                        idStart: Int32(idArena.count), idCount: Int32(ids.count))
        keyArena.append(contentsOf: bytes)
        idArena.append(contentsOf: ids)
        used += 1
    }
}

extension BPEEncoder: TokenEncoder {}
