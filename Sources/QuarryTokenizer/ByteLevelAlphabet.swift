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

    /// The byte for each alphabet character, indexed by its scalar value (all are below
    /// U+0144); -1 for scalars outside the alphabet. A table, not a dictionary: decoding every
    /// vocabulary token is part of loading a tokenizer.
    static let byteOfScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in characters.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
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
        let table = byteOfScalar
        for scalar in token.unicodeScalars {
            let v = Int(scalar.value)
            guard v < table.count, table[v] >= 0 else { return nil }
            out.append(UInt8(table[v]))
        }
        return out
    }
}
