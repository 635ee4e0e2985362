/// A cursor over a file's bytes whose every read is bounds-checked: model files come from
/// strangers, and a count or a length in one must never make quarry read past the end or
/// allocate what the file cannot hold.
public struct ByteCursor {
    public let bytes: [UInt8]
    /// Names the file in errors ("lid.176.ftz (a fastText model)").
    public let name: String
    public private(set) var position = 0

    public init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    public var remaining: Int { bytes.count - position }

    public func damaged(_ what: String) -> QuarryError {
        QuarryError("\(name) is truncated or damaged (\(what) at byte \(position))")
    }

    public mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw damaged("a field runs past the end of the file") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    public mutating func little<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let slice = try take(MemoryLayout<T>.size)
        var v: T = 0
        for (i, b) in slice.enumerated() { v |= T(truncatingIfNeeded: b) << (8 * i) }
        return v
    }

    public mutating func float32() throws -> Float { Float(bitPattern: try little(UInt32.self)) }
    public mutating func float64() throws -> Double { Double(bitPattern: try little(UInt64.self)) }

    /// `count` float32 values, refused before anything is allocated when the file is shorter.
    public mutating func floats(_ count: Int) throws -> [Float] {
        guard count >= 0, count <= remaining / 4 else { throw damaged("\(count) numbers claimed, more than the file holds") }
        let slice = try take(4 * count)
        return slice.withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// Bytes up to (not including) the next zero byte, which is consumed.
    public mutating func zeroTerminated() throws -> ArraySlice<UInt8> {
        guard let end = bytes[position...].firstIndex(of: 0) else { throw damaged("a string without its terminating zero") }
        defer { position = end + 1 }
        return bytes[position..<end]
    }
}
