import CCompression
import Foundation
import QuarryCore

/// A pull-based stream of bytes: a file, standard input, or a decompressor over another stream.
/// Used from one thread at a time.
public protocol ByteSource: AnyObject {
    /// Reads up to `count` bytes into `buffer`; returns 0 only at the end of the stream.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int
    /// Bytes taken from the underlying file so far (compressed bytes for a decompressor),
    /// for progress and for error messages that name an offset.
    var bytesConsumed: Int { get }
    /// Damage a decompressor read past (a corrupt gzip member skipped to the next): one line each,
    /// reported as warnings once the input is read.
    var recoveredDamage: [String] { get }
}

extension ByteSource {
    public var recoveredDamage: [String] { [] }
}

/// What went wrong with one input; the message is one line and names no file (the caller adds it).
public struct InputError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A file descriptor read with read(2): files and standard input alike.
public final class FileSource: ByteSource {
    private let fd: Int32
    private let ownsDescriptor: Bool
    public private(set) var bytesConsumed = 0

    /// Opens `path` for reading, or standard input for "-".
    public init(path: String) throws {
        if path == "-" {
            fd = 0
            ownsDescriptor = false
            return
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw InputError(describeErrno(errno)) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw InputError("is a directory") }
        let opened = open(path, O_RDONLY | O_CLOEXEC)
        guard opened >= 0 else { throw InputError(describeErrno(errno)) }
        fd = opened
        ownsDescriptor = true
    }

    deinit { if ownsDescriptor { close(fd) } }

    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while true {
            let n = Foundation.read(fd, buffer, count)
            if n >= 0 {
                bytesConsumed += n
                return n
            }
            if errno == EINTR { continue }
            throw InputError("read failed: \(describeErrno(errno))")
        }
    }
}

/// Bytes already in memory (tests, and stdin sniffed into a buffer).
public final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var position = 0
    public var bytesConsumed: Int { position }

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        let n = min(count, bytes.count - position)
        if n > 0 {
            bytes.withUnsafeBytes { raw in
                buffer.copyMemory(from: raw.baseAddress! + position, byteCount: n)
            }
            position += n
        }
        return n
    }
}

/// Puts back bytes that were read ahead to sniff the format, then continues with the stream.
public final class PrefixedSource: ByteSource {
    private var prefix: [UInt8]
    private var prefixPosition = 0
    private let rest: ByteSource
    public var bytesConsumed: Int { rest.bytesConsumed }
    public var recoveredDamage: [String] { rest.recoveredDamage }

    public init(prefix: [UInt8], rest: ByteSource) {
        self.prefix = prefix
        self.rest = rest
    }

    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        if prefixPosition < prefix.count {
            let n = min(count, prefix.count - prefixPosition)
            prefix.withUnsafeBytes { raw in
                buffer.copyMemory(from: raw.baseAddress! + prefixPosition, byteCount: n)
            }
            prefixPosition += n
            if prefixPosition == prefix.count { prefix = []; prefixPosition = 0 }
            return n
        }
        return try rest.read(into: buffer, count: count)
    }
}

extension ByteSource {
    /// Reads until `count` bytes or the end of the stream, whichever comes first.
    public func readUpTo(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        try out.withUnsafeMutableBytes { raw in
            while filled < count {
                let n = try read(into: raw.baseAddress! + filled, count: count - filled)
                if n == 0 { break }
                filled += n
            }
        }
        out.removeSubrange(filled...)
        return out
    }

    /// Reads the whole rest of the stream (for inputs that are one document: an HTML page).
    public func readAll(limit: Int = 1 << 31) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0.baseAddress!, count: $0.count) }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw InputError("larger than \(limit) bytes") }
        }
    }
}
