import Foundation

/// Reads a file (or standard input) in large chunks and hands out whole lines, without the
/// per-line allocations of `FileHandle`/`Data` slicing: the shared input path of the commands
/// that read one record per line (tokenizer encode/decode).
public final class LineReader {
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    private var ended = false
    private var checkedByteOrderMark = false
    public let path: String

    public init(path: String) throws {
        self.path = path
        if path == "-" {
            fd = 0
            ownsDescriptor = false
        } else {
            let opened = open(path, O_RDONLY | O_CLOEXEC)
            guard opened >= 0 else { throw QuarryError("cannot read \(path): \(describeErrno(errno))") }
            var info = stat()
            if fstat(opened, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                close(opened)
                throw QuarryError("cannot read \(path): is a directory")
            }
            fd = opened
            ownsDescriptor = true
        }
    }

    deinit { if ownsDescriptor { close(fd) } }

    /// Up to `maxLines` lines (without `\n`; a trailing `\r` is kept for the caller to judge),
    /// or an empty array at the end of the input.
    public func nextLines(max maxLines: Int) throws -> [String] {
        var lines: [String] = []
        while lines.count < maxLines {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                lines.append(String(decoding: buffer[start..<newline], as: UTF8.self))
                start = newline + 1
                continue
            }
            if ended {
                if start < buffer.count {
                    lines.append(String(decoding: buffer[start...], as: UTF8.self))
                    start = buffer.count
                }
                break
            }
            try refill()
        }
        return lines
    }

    /// The next block of whole lines (each ending in `\n`, except possibly the last line of
    /// the input), about `size` bytes; empty at the end. Splitting a block into lines is left
    /// to the caller, so it can happen on worker threads.
    public func nextBlock(size: Int = 4 << 20) throws -> [UInt8] {
        while true {
            if buffer.count - start >= size || ended {
                let limit = min(buffer.count, start + size)
                var end = limit
                if !ended || limit < buffer.count {
                    // Cut after the last newline within the block (or the first one after it).
                    if let newline = buffer[start..<limit].lastIndex(of: 0x0A) {
                        end = newline + 1
                    } else if let newline = buffer[limit...].firstIndex(of: 0x0A) {
                        end = newline + 1
                    } else if !ended {
                        try refill()
                        continue
                    } else {
                        end = buffer.count
                    }
                }
                let block = Array(buffer[start..<end])
                start = end
                return block
            }
            try refill()
        }
    }

    private func refill() throws {
        buffer.removeSubrange(0..<start)
        start = 0
        let chunk = 1 << 20
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: chunk))
        var n = 0
        try buffer.withUnsafeMutableBytes { raw in
            while true {
                n = read(fd, raw.baseAddress! + old, chunk)
                if n >= 0 { break }
                if errno != EINTR { throw QuarryError("cannot read \(path): \(describeErrno(errno))") }
            }
        }
        buffer.removeSubrange((old + n)...)
        if n == 0 { ended = true }
        // A UTF-8 byte order mark is no part of the first line (editors on Windows write one):
        // left in, it made the first JSONL record unreadable.
        if !checkedByteOrderMark && buffer.count - start >= 3 || ended {
            if !checkedByteOrderMark && buffer[start...].starts(with: [0xEF, 0xBB, 0xBF]) { start += 3 }
            checkedByteOrderMark = true
        }
    }
}

/// Decimal formatting straight into a byte buffer (token id lines are millions of numbers).
@inline(__always)
public func appendDecimal(_ value: Int32, to out: inout [UInt8]) {
    var v = Int64(value)
    if v < 0 { out.append(0x2D); v = -v }
    if v < 10 { out.append(UInt8(48 + v)); return }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    withUnsafeMutableBytes(of: &digits) { d in
        while v > 0 { d[count] = UInt8(48 + v % 10); v /= 10; count += 1 }
        for k in stride(from: count - 1, through: 0, by: -1) { out.append(d[k]) }
    }
}
