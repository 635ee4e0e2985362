/// Line- and length-oriented reading over a `ByteSource`, for the record formats whose headers
/// are text lines (WARC, ARC, HTTP, JSONL).
public final class BufferedReader {
    private let source: ByteSource
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var ended = false
    /// Offset, in the decompressed stream, of the next byte to be returned.
    public private(set) var offset = 0

    public init(_ source: ByteSource, chunkSize: Int = 1 << 18) {
        self.source = source
        buffer = [UInt8](repeating: 0, count: chunkSize)
    }

    public var bytesConsumed: Int { source.bytesConsumed }

    /// Refills so that at least one byte is available; false at the end of the stream.
    private func fill() throws -> Bool {
        if start < end { return true }
        if ended { return false }
        start = 0
        end = try buffer.withUnsafeMutableBytes { try source.read(into: $0.baseAddress!, count: $0.count) }
        if end == 0 { ended = true }
        return end > 0
    }

    /// The index of the next `\n` among the buffered bytes, if there is one.
    private func newlineInBuffer() -> Int? {
        buffer.withUnsafeBufferPointer { b -> Int? in
            var i = start
            while i < end { if b[i] == 0x0A { return i }; i += 1 }
            return nil
        }
    }

    /// The next line without its `\n` (and `\r`), nil at the end of the stream. Lines longer than
    /// `limit` are cut there (the rest follows as the next line) so garbage cannot grow memory.
    public func readLine(limit: Int = 1 << 16) throws -> [UInt8]? {
        var line: [UInt8] = []
        while true {
            guard try fill() else { return line.isEmpty ? nil : line }
            let found = newlineInBuffer()
            let stop = found ?? end
            let take = min(stop - start, limit - line.count)
            line.append(contentsOf: buffer[start..<(start + take)])
            start += take
            offset += take
            if line.count >= limit { return line }
            if found != nil {
                start += 1
                offset += 1
                while line.last == 0x0D { line.removeLast() }
                return line
            }
        }
    }

    /// The next line including its `\n` (the last line may lack one), nil at the end.
    public func readLineWithEnding(limit: Int = 1 << 26) throws -> [UInt8]? {
        var line: [UInt8] = []
        while true {
            guard try fill() else { return line.isEmpty ? nil : line }
            let found = newlineInBuffer()
            let lineStart = start
            let stop = found.map { $0 + 1 } ?? end
            let take = min(stop - lineStart, limit - line.count)
            line.append(contentsOf: buffer[lineStart..<(lineStart + take)])
            start += take
            offset += take
            if found != nil && take == stop - lineStart { return line } // the newline is in
            if line.count >= limit { return line }
        }
    }

    /// Exactly `count` bytes, or fewer when the stream ends first.
    public func read(count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(count, 1 << 26))
        while out.count < count, try fill() {
            let take = min(count - out.count, end - start)
            out.append(contentsOf: buffer[start..<(start + take)])
            start += take
            offset += take
        }
        return out
    }

    /// Skips `count` bytes; returns how many were actually skipped.
    @discardableResult
    public func skip(count: Int) throws -> Int {
        var skipped = 0
        while skipped < count, try fill() {
            let take = min(count - skipped, end - start)
            start += take
            offset += take
            skipped += take
        }
        return skipped
    }
}
