import Foundation

/// Serialises documents as JSON Lines, one object per line, keys in a fixed order so output is
/// byte-for-byte reproducible.
public enum DocumentJSON {
    public static func line(_ doc: Document) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(doc.text.utf8.count + 128)
        out.append(contentsOf: Array(#"{"id":"#.utf8))
        appendString(doc.id, to: &out)
        out.append(contentsOf: Array(#","source":"#.utf8))
        appendString(doc.source, to: &out)
        if let title = doc.title {
            out.append(contentsOf: Array(#","title":"#.utf8))
            appendString(title, to: &out)
        }
        if let url = doc.url {
            out.append(contentsOf: Array(#","url":"#.utf8))
            appendString(url, to: &out)
        }
        out.append(contentsOf: Array(#","text":"#.utf8))
        appendString(doc.text, to: &out)
        out.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        return out
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Appends `s` as a JSON string literal; non-ASCII stays raw UTF-8.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            var runStart = 0
            for i in 0..<bytes.count {
                let b = bytes[i]
                if b >= 0x20 && b != 0x22 && b != 0x5C { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                runStart = i + 1
                switch b {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                default:
                    out.append(contentsOf: Array("\\u00".utf8))
                    out.append(hexDigits[Int(b >> 4)])
                    out.append(hexDigits[Int(b & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Where documents go: a file written through a temporary name and renamed when complete (so a
/// crash never leaves a half-written output under the final name), or standard output.
public final class OutputFile {
    private let finalPath: String?
    private let temporaryPath: String?
    private let fd: Int32
    private var buffer: [UInt8] = []
    private static let flushThreshold = 1 << 20
    public private(set) var bytesWritten = 0

    /// `path` nil or "-" means standard output. A path that exists and is not a regular file
    /// (`/dev/null`, a FIFO) is written directly: renaming over it would replace the device.
    public init(path: String?) throws {
        if let path, path != "-", !Self.isSpecialFile(path) {
            let directory = (path as NSString).deletingLastPathComponent
            let name = (path as NSString).lastPathComponent
            let tmp = (directory.isEmpty ? "" : directory + "/") + ".\(name).tmp-\(getpid())"
            let opened = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard opened >= 0 else {
                throw InputError("cannot write \(path): \(FileSource.describeErrno(errno))")
            }
            finalPath = path
            temporaryPath = tmp
            fd = opened
        } else if let path, path != "-" {
            let opened = open(path, O_WRONLY | O_CLOEXEC)
            guard opened >= 0 else {
                throw InputError("cannot write \(path): \(FileSource.describeErrno(errno))")
            }
            finalPath = nil
            temporaryPath = nil
            fd = opened
        } else {
            finalPath = nil
            temporaryPath = nil
            fd = 1
        }
    }

    static func isSpecialFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG
    }

    public func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    public func flush() throws {
        var offset = 0
        try buffer.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw InputError("cannot write \(finalPath ?? "standard output"): \(FileSource.describeErrno(errno))")
                }
                offset += n
            }
        }
        bytesWritten += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and renames the temporary file into place.
    public func commit() throws {
        try flush()
        guard let finalPath, let temporaryPath else { return }
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw InputError("cannot write \(finalPath): \(FileSource.describeErrno(errno))")
        }
        close(fd)
        guard rename(temporaryPath, finalPath) == 0 else {
            throw InputError("cannot rename output into place at \(finalPath): \(FileSource.describeErrno(errno))")
        }
    }

    /// Removes the temporary file after a failure; the final path is never touched.
    public func abandon() {
        guard let temporaryPath else { return }
        close(fd)
        unlink(temporaryPath)
    }
}
