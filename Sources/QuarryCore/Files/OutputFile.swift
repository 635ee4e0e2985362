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
    private var interruptSlot: Int?

    /// `path` nil or "-" means standard output. A path that exists and is not a regular file
    /// (`/dev/null`, a FIFO) is written directly: renaming over it would replace the device.
    ///
    /// The temporary file `.NAME.tmp-PID-RANDOM` is created new (`O_EXCL`, never through a
    /// symlink someone planted, `O_NOFOLLOW`), readable by its owner only until it is renamed, and
    /// removed on SIGINT/SIGTERM; temporary files of runs that were killed are removed first.
    public init(path: String?) throws {
        if let path, path != "-", !Self.isSpecialFile(path) {
            let directory = (path as NSString).deletingLastPathComponent
            let name = (path as NSString).lastPathComponent
            let prefix = (directory.isEmpty ? "" : directory + "/") + ".\(name).tmp-"
            Self.removeStaleTemporaries(directory: directory.isEmpty ? "." : directory, name: name)
            var opened: Int32 = -1
            var tmp = ""
            for _ in 0..<16 {
                tmp = prefix + "\(getpid())-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
                opened = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                if opened >= 0 || errno != EEXIST { break }
            }
            guard opened >= 0 else {
                throw QuarryError("cannot write \(path): \(describeErrno(errno))")
            }
            finalPath = path
            temporaryPath = tmp
            fd = opened
            interruptSlot = Interruption.removeOnInterrupt(tmp)
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

    nonisolated(unsafe) static var cleaned = Set<String>()
    static let cleanedLock = NSLock()

    deinit { Interruption.forget(interruptSlot) }

    /// The permissions a new file gets (0666 less the umask), given at commit: until then the
    /// temporary file is its owner's only.
    static let finalMode: mode_t = {
        let mask = umask(0o022)
        umask(mask)
        return 0o666 & ~mask
    }()

    /// Removes `.NAME.tmp-PID-…` files left by killed runs: the owner's own regular files whose
    /// process is gone. A temporary file of a running process (another quarry writing the same
    /// name) is left alone.
    static func removeStaleTemporaries(directory: String, name: String) {
        // Once per output path and process: a manifest rewritten after every shard lists its
        // directory once.
        cleanedLock.lock()
        let first = cleaned.insert(directory + "/" + name).inserted
        cleanedLock.unlock()
        guard first else { return }
        let prefix = ".\(name).tmp-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            let rest = entry.dropFirst(prefix.count)
            guard let pid = Int32(rest.prefix { $0.isNumber }), pid > 0, pid != getpid() else { continue }
            guard kill(pid, 0) == -1 && errno == ESRCH else { continue }
            let path = directory + "/" + entry
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == getuid() else { continue }
            unlink(path)
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
        fchmod(fd, Self.finalMode)
        close(fd)
        guard rename(temporaryPath, finalPath) == 0 else {
            throw QuarryError("cannot rename output into place at \(finalPath): \(describeErrno(errno))")
        }
        Interruption.forget(interruptSlot)
        interruptSlot = nil
    }

    /// Removes the temporary file after a failure; the final path is never touched.
    public func abandon() {
        guard let temporaryPath else { return }
        close(fd)
        unlink(temporaryPath)
        Interruption.forget(interruptSlot)
        interruptSlot = nil
    }
}
