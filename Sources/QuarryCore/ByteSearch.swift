/// Where `needle` first occurs in `haystack` at or after `start`. Needles here are short
/// markers ("<meta", a stop sequence): a first-byte scan is enough.
public func firstOccurrence(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
    guard let first = needle.first else { return start <= haystack.count ? start : nil }
    guard start >= 0, haystack.count - start >= needle.count else { return nil }
    return haystack.withUnsafeBufferPointer { h in
        needle.withUnsafeBufferPointer { n in
            var i = start
            let last = h.count - n.count
            while i <= last {
                if h[i] == first {
                    var k = 1
                    while k < n.count && h[i + k] == n[k] { k += 1 }
                    if k == n.count { return i }
                }
                i += 1
            }
            return nil
        }
    }
}

/// Whether `needle` occurs in `haystack`.
public func bytesContain(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    firstOccurrence(of: needle, in: haystack) != nil
}
