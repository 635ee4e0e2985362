import Foundation
import QuarryCore

/// A Hugging Face Hub of the test's own on 127.0.0.1: the routes `quarry pull` uses (the
/// repository listing, `resolve` HEADs with ETags and redirects, a CDN route with range requests),
/// one connection at a time, each closed after its answer. It can drop a download midway, serve
/// wrong bytes, and records every request so a test can see what was asked and with which headers.
final class LoopbackHub: @unchecked Sendable {
    struct Request {
        let method: String
        let path: String
        /// Names lower-cased.
        let headers: [String: String]
    }

    struct File {
        let name: String
        let bytes: [UInt8]
        /// LFS files are named by their SHA-256 and served from the CDN route after a redirect.
        let isLFS: Bool
        var etag: String {
            if isLFS { var hasher = SHA256(); hasher.update(bytes); return hasher.hexDigest() }
            var hasher = SHA256(); hasher.update(Array("blob \(bytes.count)\0".utf8) + bytes)
            return String(hasher.hexDigest().prefix(40))  // a git blob id's shape
        }
    }

    let repository: String
    let commit = "0123456789abcdef0123456789abcdef01234567"
    private(set) var port: UInt16 = 0
    /// Extra entries in the listing (hostile names).
    var extraListing: [String] = []
    /// The next CDN download of an LFS file stops after this many bytes (then the connection closes).
    var dropNextDownloadAfter: Int?
    /// Serve LFS bytes that do not match their SHA-256.
    var corruptLFS = false

    private var files: [String: File]
    private let lock = NSLock()
    private var log: [Request] = []
    private var listener: Int32 = -1
    private let stopped = DispatchSemaphore(value: 0)

    init(repository: String, files: [File]) throws {
        self.repository = repository
        self.files = Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0) })
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw QuarryError("socket: \(describeErrno(errno))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(listener, 16) == 0 else { throw QuarryError("bind/listen: \(describeErrno(errno))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }
    var requests: [Request] { lock.withLock { log } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        stopped.wait()
    }

    private func serve() {
        defer { stopped.signal() }
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 { if errno == EINTR { continue } else { return } }
            handle(connection)
            close(connection)
        }
    }

    private func handle(_ connection: Int32) {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !buffer.containsHeaderEnd {
            let n = recv(connection, &chunk, chunk.count, 0)
            if n <= 0 { return }
            buffer += chunk[0..<n]
        }
        let lines = String(decoding: buffer, as: UTF8.self).components(separatedBy: "\r\n")
        let start = lines[0].split(separator: " ")
        guard start.count >= 2 else { return }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where line.contains(":") {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        let request = Request(method: String(start[0]), path: String(start[1]), headers: headers)
        lock.withLock { log.append(request) }
        let (status, replyHeaders, body, dropAfter) = answer(request)
        var head = "HTTP/1.1 \(status) \(status == 200 ? "OK" : status == 206 ? "Partial Content" : "Status")\r\n"
        var fields = replyHeaders
        if fields["Content-Length"] == nil { fields["Content-Length"] = "\(body.count)" }
        fields["Connection"] = "close"
        for (name, value) in fields { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var out = Array(head.utf8)
        if request.method != "HEAD" { out += body.prefix(dropAfter ?? body.count) }
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    private func answer(_ request: Request) -> (Int, [String: String], [UInt8], Int?) {
        let path = request.path.removingPercentEncoding ?? request.path
        if path == "/api/models/\(repository)/revision/main" || path == "/api/models/\(repository)/revision/\(commit)" {
            let names = files.keys.sorted() + extraListing
            let siblings = names.map { "{\"rfilename\": \(JSONText.quoted($0))}" }.joined(separator: ",")
            return (200, ["Content-Type": "application/json"], Array("{\"id\": \"\(repository)\", \"sha\": \"\(commit)\", \"siblings\": [\(siblings)]}".utf8), nil)
        }
        let resolve = "/\(repository)/resolve/\(commit)/"
        if path.hasPrefix(resolve), let file = files[String(path.dropFirst(resolve.count))] {
            if file.isLFS {
                return (302, ["Location": "http://localhost:\(port)/cdn/\(file.etag)", "X-Linked-Etag": "\"\(file.etag)\"",
                              "X-Linked-Size": "\(file.bytes.count)", "X-Repo-Commit": commit, "ETag": "\"\(file.etag.prefix(40))\"",
                              "Content-Length": "0"], [], nil)
            }
            return (200, ["ETag": "\"\(file.etag)\"", "X-Repo-Commit": commit, "Content-Length": "\(file.bytes.count)"], file.bytes, nil)
        }
        if path.hasPrefix("/cdn/"), let file = files.values.first(where: { $0.isLFS && "/cdn/" + $0.etag == path }) {
            var bytes = file.bytes
            if corruptLFS { bytes[bytes.count / 2] ^= 0xFF }
            let drop = lock.withLock { () -> Int? in defer { dropNextDownloadAfter = nil }; return dropNextDownloadAfter }
            if let range = request.headers["range"], range.hasPrefix("bytes="), range.hasSuffix("-"),
               let from = Int(range.dropFirst(6).dropLast()), from < bytes.count {
                let rest = Array(bytes[from...])
                return (206, ["Content-Range": "bytes \(from)-\(bytes.count - 1)/\(bytes.count)", "Content-Length": "\(rest.count)"], rest, drop)
            }
            return (200, ["Content-Length": "\(bytes.count)"], bytes, drop)
        }
        return (404, [:], Array("Entry not found".utf8), nil)
    }
}

private extension Array where Element == UInt8 {
    var containsHeaderEnd: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return true }
        return false
    }
}
