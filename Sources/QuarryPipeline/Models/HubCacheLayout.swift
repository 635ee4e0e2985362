import Foundation
import QuarryCore

/// One repository's folder in the Hugging Face cache, written the way huggingface_hub writes it
/// (`HubCache` reads it): blobs named by ETag, snapshot files as relative symlinks to them, refs
/// naming commits. Every step leaves the cache whole: a blob appears by rename once complete and
/// checked, a symlink by rename, a ref by rename and last.
struct CacheLayout {
    let root: String
    let folder: String
    let repository: String

    init(root: String, repository: String) {
        self.root = root
        self.repository = repository
        self.folder = "models--" + repository.replacingOccurrences(of: "/", with: "--")
    }

    var directory: String { root + "/" + folder }
    func snapshot(_ commit: String) -> String { directory + "/snapshots/" + commit }
    func blob(_ etag: String) -> String { directory + "/blobs/" + etag }

    /// Whether the snapshot already holds `file`: a symlink to a blob that exists (or a plain
    /// file, as huggingface_hub writes where symlinks are off).
    func isComplete(_ file: String, commit: String) -> Bool {
        var status = stat()
        return stat(snapshot(commit) + "/" + file, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    /// Fills `blobs/ETAG` through `fill` (given the partial file to append to, resumed from an
    /// earlier `.incomplete` one) unless it is already there; checks its size and, for an LFS
    /// file, its SHA-256; renames it into place. Returns the bytes fetched now (0: it was cached).
    func storeBlob(_ blob: HubClient.Blob, file: String, fill: (PartialBlob) throws -> Void) throws -> Int {
        let path = self.blob(blob.etag)
        if Self.regularFileSize(path) == blob.size { return 0 }
        try Self.makeDirectory(directory + "/blobs")
        let lock = try BlobLock(path: root + "/.locks/" + folder + "/" + blob.etag + ".lock")
        defer { lock.release() }
        if Self.regularFileSize(path) == blob.size { return 0 }  // another process finished it while we waited

        let partial = try PartialBlob(path: path + ".incomplete")
        defer { partial.close() }
        if partial.size > blob.size { try partial.truncate() }
        let resumedAt = partial.size
        try fill(partial)
        try partial.synchronize()
        guard partial.size == blob.size else {
            throw QuarryError("\(repository)/\(file): \(partial.size) bytes arrived where the Hub said \(blob.size); kept as \(path).incomplete to resume")
        }
        if let expected = blob.sha256 {
            let actual = try SHA256.hexDigest(ofFile: path + ".incomplete")
            guard actual == expected else {
                unlink(path + ".incomplete")
                throw QuarryError("\(repository)/\(file): its SHA-256 is \(actual), not the Hub's \(expected) (corrupted in transit): nothing kept, run pull again")
            }
        }
        guard rename(path + ".incomplete", path) == 0 else {
            throw QuarryError("cannot move \(path).incomplete into place: \(describeErrno(errno))")
        }
        return blob.size - resumedAt
    }

    /// Points `snapshots/COMMIT/FILE` at `blobs/ETAG` with a relative symlink, renamed into place.
    func link(_ file: String, commit: String, to etag: String) throws {
        let pointer = snapshot(commit) + "/" + file
        let parent = (pointer as NSString).deletingLastPathComponent
        try Self.makeDirectory(parent)
        let depth = file.split(separator: "/").count + 1  // up from the file's folder to the repository folder
        let target = String(repeating: "../", count: depth) + "blobs/" + etag
        let temporary = parent + "/.quarry-link-\(getpid())"
        unlink(temporary)
        guard symlink(target, temporary) == 0 else {
            throw QuarryError("cannot create a link in \(parent): \(describeErrno(errno))")
        }
        guard rename(temporary, pointer) == 0 else {
            let code = errno
            unlink(temporary)
            throw QuarryError("cannot put \(pointer) in place: \(describeErrno(code))")
        }
    }

    /// Writes `refs/REVISION` ← commit (a temporary file renamed over the old one).
    func setReference(_ revision: String, to commit: String) throws {
        let path = directory + "/refs/" + revision
        try Self.makeDirectory((path as NSString).deletingLastPathComponent)
        let output = try OutputFile(path: path)
        try output.write(Array(commit.utf8))
        try output.commit()
    }

    /// A file name a repository may list: relative, inside its snapshot, no `.`/`..`/empty parts.
    static func isSafeRelativePath(_ file: String) -> Bool {
        guard !file.isEmpty, file.utf8.count <= 1024, !file.hasPrefix("/"), !file.contains("\0"), !file.contains("\\") else { return false }
        return file.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// An ETag usable as a file name in blobs/.
    static func isSafeBlobName(_ etag: String) -> Bool {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        return (1...128).contains(etag.utf8.count) && etag.unicodeScalars.allSatisfy { $0.isASCII && allowed.contains($0) }
            && !etag.allSatisfy { $0 == "." }
    }

    static func regularFileSize(_ path: String) -> Int? {
        var status = stat()
        guard lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(status.st_size)
    }

    static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw QuarryError("cannot create \(path): \((error as NSError).localizedDescription)")
        }
    }
}

/// `blobs/ETAG.incomplete`, opened to append (never through a planted symlink).
final class PartialBlob {
    let path: String
    private let descriptor: Int32
    private(set) var size: Int

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw QuarryError("cannot write \(path): \(describeErrno(errno))") }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else { throw QuarryError("cannot read the size of \(path): \(describeErrno(errno))") }
        size = Int(end)
    }

    func append(_ data: Data) throws {
        try data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, base + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw QuarryError("cannot write \(path): \(describeErrno(errno))")
                }
                offset += written
            }
        }
        size += data.count
    }

    /// Back to empty: the server sent the whole file again.
    func truncate() throws {
        guard ftruncate(descriptor, 0) == 0, lseek(descriptor, 0, SEEK_SET) == 0 else {
            throw QuarryError("cannot truncate \(path): \(describeErrno(errno))")
        }
        size = 0
    }

    func synchronize() throws {
        guard fsync(descriptor) == 0 else { throw QuarryError("cannot write \(path): \(describeErrno(errno))") }
    }

    func close() { _ = Glibc.close(descriptor) }
}

/// An exclusive `flock` on huggingface_hub's lock file for one blob, so that two downloads of it
/// (quarry's or huggingface_hub's) never write the same `.incomplete` file at once.
struct BlobLock {
    private let descriptor: Int32

    init(path: String) throws {
        try CacheLayout.makeDirectory((path as NSString).deletingLastPathComponent)
        descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw QuarryError("cannot open the lock \(path): \(describeErrno(errno))") }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let code = errno
                _ = Glibc.close(descriptor)
                throw QuarryError("cannot lock \(path): \(describeErrno(code))")
            }
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        _ = Glibc.close(descriptor)
    }
}
