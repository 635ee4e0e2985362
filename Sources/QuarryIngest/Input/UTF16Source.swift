import Foundation

/// UTF-16 (after its byte-order mark) as UTF-8, a lone surrogate replaced by U+FFFD as a
/// browser would: libxml2 stops a whole document at the first one, and a MediaWiki dump is one
/// document (a Bulgarian dump with one broken character lost every page).
public final class UTF16Source: ByteSource {
    private let upstream: ByteSource
    private let bigEndian: Bool
    private var input = [UInt8](repeating: 0, count: 1 << 16)
    private var inputCount = 0
    private var output: [UInt8] = []
    private var outputStart = 0
    private var pendingHigh: UInt16?
    private var startedAfterMark = false
    private var ended = false
    public var bytesConsumed: Int { upstream.bytesConsumed }
    public var recoveredDamage: [String] { upstream.recoveredDamage }

    public init(_ upstream: ByteSource, bigEndian: Bool) {
        self.upstream = upstream
        self.bigEndian = bigEndian
    }

    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while output.count - outputStart < count && !ended { try transcodeMore() }
        let n = min(count, output.count - outputStart)
        guard n > 0 else { return 0 }
        output.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + outputStart, byteCount: n) }
        outputStart += n
        if outputStart == output.count { output.removeAll(keepingCapacity: true); outputStart = 0 }
        return n
    }

    private func transcodeMore() throws {
        let n = try input.withUnsafeMutableBytes { try upstream.read(into: $0.baseAddress! + inputCount, count: $0.count - inputCount) }
        inputCount += n
        if n == 0 {
            ended = true
            if pendingHigh != nil || inputCount % 2 == 1 { append(0xFFFD) }   // cut inside a character
            pendingHigh = nil
            return
        }
        var i = 0
        if !startedAfterMark && inputCount >= 2 {
            startedAfterMark = true
            if (input[0] == 0xFF && input[1] == 0xFE) || (input[0] == 0xFE && input[1] == 0xFF) { i = 2 }
        }
        while i + 1 < inputCount {
            let unit = bigEndian ? UInt16(input[i]) << 8 | UInt16(input[i + 1]) : UInt16(input[i + 1]) << 8 | UInt16(input[i])
            i += 2
            switch unit {
            case 0xD800...0xDBFF:
                if pendingHigh != nil { append(0xFFFD) }
                pendingHigh = unit
            case 0xDC00...0xDFFF:
                if let high = pendingHigh {
                    append(0x10000 + (UInt32(high - 0xD800) << 10) + UInt32(unit - 0xDC00))
                    pendingHigh = nil
                } else {
                    append(0xFFFD)
                }
            default:
                if pendingHigh != nil { append(0xFFFD); pendingHigh = nil }
                append(UInt32(unit))
            }
        }
        // An odd byte waits for its partner in the next read.
        let rest = inputCount - i
        if rest > 0 { input[0] = input[i] }
        inputCount = rest
    }

    @inline(__always) private func append(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80: output.append(UInt8(scalar))
        case 0x80..<0x800:
            output.append(UInt8(0xC0 | scalar >> 6)); output.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            output.append(UInt8(0xE0 | scalar >> 12)); output.append(UInt8(0x80 | scalar >> 6 & 0x3F)); output.append(UInt8(0x80 | scalar & 0x3F))
        default:
            output.append(UInt8(0xF0 | scalar >> 18)); output.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            output.append(UInt8(0x80 | scalar >> 6 & 0x3F)); output.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
