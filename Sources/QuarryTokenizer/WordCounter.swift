import QuarryCore

/// Counts pre-tokenized words (byte strings) without allocating per word: an open-addressing
/// table over a byte arena. One per thread while counting; `merge` combines them.
struct WordCounter {
    private(set) var keyArena: [UInt8] = []
    private var slots: [Slot]
    private(set) var count = 0

    struct Slot {
        var hash: UInt64 = 0
        var start: Int32 = -1
        var length: Int32 = 0
        var frequency: Int64 = 0
    }

    init(capacity: Int = 1 << 16) {
        slots = [Slot](repeating: Slot(), count: capacity)
    }

    @inline(__always) static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let h = FNV1a.hash(bytes)
        return h ^ (h >> 29)   // the low bits index the table: fold the high ones in
    }

    mutating func add(_ bytes: UnsafeBufferPointer<UInt8>, frequency: Int64 = 1) {
        add(bytes, hash: Self.hash(bytes), frequency: frequency)
    }

    private mutating func add(_ bytes: UnsafeBufferPointer<UInt8>, hash h: UInt64, frequency: Int64) {
        if (count + 1) * 2 > slots.count { grow() }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = slots[i]
            if slot.start < 0 {
                slots[i] = Slot(hash: h, start: Int32(keyArena.count), length: Int32(bytes.count), frequency: frequency)
                keyArena.append(contentsOf: bytes)
                count += 1
                return
            }
            if slot.hash == h && Int(slot.length) == bytes.count && equal(slot, bytes) {
                slots[i].frequency += frequency
                return
            }
            i = (i + 1) & mask
        }
    }

    private func equal(_ slot: Slot, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        keyArena.withUnsafeBufferPointer { arena in
            var k = 0
            let start = Int(slot.start)
            while k < bytes.count { if arena[start + k] != bytes[k] { return false }; k += 1 }
            return true
        }
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        let mask = slots.count - 1
        for slot in old where slot.start >= 0 {
            var i = Int(truncatingIfNeeded: slot.hash) & mask
            while slots[i].start >= 0 { i = (i + 1) & mask }
            slots[i] = slot
        }
    }

    mutating func merge(_ other: WordCounter) {
        other.keyArena.withUnsafeBufferPointer { arena in
            for slot in other.slots where slot.start >= 0 {
                let bytes = UnsafeBufferPointer(rebasing: arena[Int(slot.start)..<Int(slot.start + slot.length)])
                add(bytes, hash: slot.hash, frequency: slot.frequency)
            }
        }
    }

    /// Every word with its frequency.
    func forEach(_ body: (UnsafeBufferPointer<UInt8>, Int64) -> Void) {
        keyArena.withUnsafeBufferPointer { arena in
            for slot in slots where slot.start >= 0 {
                body(UnsafeBufferPointer(rebasing: arena[Int(slot.start)..<Int(slot.start + slot.length)]), slot.frequency)
            }
        }
    }
}
