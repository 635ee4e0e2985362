/// GPT-2's byte-level alphabet: each of the 256 byte values stands for one printable Unicode
/// character, so any byte string is a string of "characters" a BPE vocabulary can hold.
/// Printable Latin-1 bytes map to themselves; the other 68 bytes to U+0100 onwards, in order.
public enum ByteLevelAlphabet {
    /// The character for each byte value.
    public static let characters: [Unicode.Scalar] = {
        var printable = Set<UInt32>()
        for range in [0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF] { for v in range { printable.insert(UInt32(v)) } }
        var result: [Unicode.Scalar] = []
        var next: UInt32 = 0x100
        for byte in 0..<256 {
            if printable.contains(UInt32(byte)) {
                result.append(Unicode.Scalar(UInt8(byte)))
            } else {
                result.append(Unicode.Scalar(next) ?? "?")
                next += 1
            }
        }
        return result
    }()

    /// The byte for each alphabet character.
    public static let bytes: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in characters.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// A byte string as alphabet characters (how vocabularies and merges store tokens).
    public static func encode<C: Collection>(_ raw: C) -> String where C.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in raw { s.append(characters[Int(b)]) }
        return String(s)
    }

    /// Alphabet characters back to bytes; nil when a character is outside the alphabet.
    public static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let b = bytes[scalar.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
