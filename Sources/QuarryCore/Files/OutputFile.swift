import Foundation

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
                throw QuarryError("cannot write \(path): \(describeErrno(errno))")
            }
            finalPath = path
            temporaryPath = tmp
            fd = opened
        } else if let path, path != "-" {
            let opened = open(path, O_WRONLY | O_CLOEXEC)
            guard opened >= 0 else {
                throw QuarryError("cannot write \(path): \(describeErrno(errno))")
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
                    throw QuarryError("cannot write \(finalPath ?? "standard output"): \(describeErrno(errno))")
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
            throw QuarryError("cannot write \(finalPath): \(describeErrno(errno))")
        }
        close(fd)
        guard rename(temporaryPath, finalPath) == 0 else {
            throw QuarryError("cannot rename output into place at \(finalPath): \(describeErrno(errno))")
        }
    }

    /// Removes the temporary file after a failure; the final path is never touched.
    public func abandon() {
        guard let temporaryPath else { return }
        close(fd)
        unlink(temporaryPath)
    }
}
