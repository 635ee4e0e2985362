import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import QuarryCore

/// `quarry pull`: a model repository downloaded into the Hugging Face cache the way
/// `huggingface-cli download` lays it out (see `HubCache`), so that transformers, huggingface_hub
/// and quarry all find it there:
///
///     GET  {endpoint}/api/models/ORG/NAME/revision/REV     → the commit and the file names
///     HEAD {endpoint}/ORG/NAME/resolve/COMMIT/FILE         → ETag (a blob's id; an LFS file's
///                                                            SHA-256), size, Location (the CDN)
///     GET  Location, Range: bytes=N-                       → blobs/ETAG.incomplete, resumed
///     blobs/ETAG.incomplete → blobs/ETAG                    (renamed once its size and SHA-256 check)
///     snapshots/COMMIT/FILE → ../../blobs/ETAG              (a relative symlink, renamed into place)
///     refs/REV ← COMMIT                                    (last: a ref only names a whole snapshot)
///
/// The token goes to the endpoint's own host only, never to a host a redirect names. Blobs are
/// locked while written with the same lock files huggingface_hub uses (`.locks/…/ETAG.lock`), so
/// the two can fill one cache at once.
public enum HubDownload {
    public struct Settings: Sendable {
        public var endpoint: String
        public var token: String?
        public var offline: Bool
        public var cacheRoot: String
        /// Attempts at one file when the connection drops (each resumes where the last stopped).
        public var attempts = 5
        /// The first wait before a retry, doubled each time.
        public var retryDelay: TimeInterval = 1

        public init(endpoint: String = "https://huggingface.co", token: String? = nil, offline: Bool = false, cacheRoot: String) {
            self.endpoint = endpoint
            self.token = token
            self.offline = offline
            self.cacheRoot = cacheRoot
        }

        /// `HF_ENDPOINT`, `HF_TOKEN` (else `HUGGING_FACE_HUB_TOKEN`, else the token file
        /// `huggingface-cli login` writes), `HF_HUB_OFFLINE`, and the cache `HubCache` reads.
        public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Settings {
            var settings = Settings(cacheRoot: HubCache.root(environment: environment))
            if let endpoint = environment["HF_ENDPOINT"], !endpoint.isEmpty {
                settings.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            }
            let home = environment["HF_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache/huggingface"
            let tokenFile = environment["HF_TOKEN_PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/token"
            settings.token = [environment["HF_TOKEN"], environment["HUGGING_FACE_HUB_TOKEN"],
                              (try? String(contentsOfFile: tokenFile, encoding: .utf8))]
                .compactMap { $0?.trimmingCharacters(in: .whitespacesAndNewlines) }.first { !$0.isEmpty }
            let offline = (environment["HF_HUB_OFFLINE"] ?? environment["TRANSFORMERS_OFFLINE"] ?? "").uppercased()
            settings.offline = ["1", "ON", "YES", "TRUE"].contains(offline)
            return settings
        }
    }

    /// What a pull did.
    public struct Outcome: Sendable {
        public let snapshot: String
        public let commit: String
        /// Files fetched now, and files already in the cache.
        public var downloaded: [String] = []
        public var cached: [String] = []
        public var bytes = 0
        /// True when HF_HUB_OFFLINE answered from the cache without asking the Hub.
        public var offline = false
    }

    /// Progress while downloading: bytes so far of the total still to fetch, and files done.
    public typealias Progress = (_ bytes: Int, _ totalBytes: Int, _ files: Int) -> Void

    /// Downloads `name` (`ORG/NAME`, or `ORG/NAME@REVISION`) at `revision` (a branch, tag or
    /// commit; default main), the files matching any of `include` (shell globs, `*` crossing `/`
    /// as huggingface_hub's do; all files when empty).
    public static func pull(_ name: String, revision: String? = nil, include: [String] = [], settings: Settings,
                            progress: Progress = { _, _, _ in }) throws -> Outcome {
        let (repository, revision) = try parse(name, revision: revision)
        if settings.offline { return try cachedSnapshot(repository, revision: revision, settings: settings) }
        let hub = HubClient(settings: settings)
        let listing = try hub.listing(repository, revision: revision)
        let wanted = listing.files.filter { file in include.isEmpty || include.contains { matches(file, pattern: $0) } }
        guard !wanted.isEmpty else {
            let shown = listing.files.prefix(12).joined(separator: ", ")
            throw QuarryError("no file of \(repository)@\(revision) matches --include \(include.joined(separator: " ")) (its files: \(shown)\(listing.files.count > 12 ? ", …" : ""))")
        }
        let layout = CacheLayout(root: settings.cacheRoot, repository: repository)
        let snapshot = layout.snapshot(listing.commit)
        var outcome = Outcome(snapshot: snapshot, commit: listing.commit)

        // Ask for every missing file's blob first, so the progress line knows the total.
        var missing: [(file: String, blob: HubClient.Blob)] = []
        for file in wanted {
            if layout.isComplete(file, commit: listing.commit) { outcome.cached.append(file); continue }
            missing.append((file, try hub.blob(repository, commit: listing.commit, file: file)))
        }
        let total = missing.reduce(0) { $0 + $1.blob.size }
        for (index, (file, blob)) in missing.enumerated() {
            let before = outcome.bytes
            let fetched = try layout.storeBlob(blob, file: file) { bytes in
                try hub.download(blob, into: bytes) { done in progress(before + done, total, index) }
            }
            outcome.bytes += fetched
            try layout.link(file, commit: listing.commit, to: blob.etag)
            if fetched > 0 { outcome.downloaded.append(file) } else { outcome.cached.append(file) }
            progress(outcome.bytes, total, index + 1)
        }
        if revision != listing.commit { try layout.setReference(revision, to: listing.commit) }
        return outcome
    }

    static func parse(_ name: String, revision: String?) throws -> (repository: String, revision: String) {
        guard HubCache.isModelName(name) else {
            throw QuarryError("\(name) is not a Hub model name: ORG/NAME (as on huggingface.co), optionally @REVISION")
        }
        let pieces = name.split(separator: "@", maxSplits: 1).map(String.init)
        if pieces.count > 1, let revision, revision != pieces[1] {
            throw QuarryError("\(name) names revision \(pieces[1]) and --revision says \(revision): give one")
        }
        let chosen = revision ?? (pieces.count > 1 ? pieces[1] : "main")
        guard !chosen.isEmpty, !chosen.contains(".."), !chosen.hasPrefix("/"), !chosen.contains("\0") else {
            throw QuarryError("\(chosen) is not a branch, tag or commit")
        }
        return (pieces[0], chosen)
    }

    static func cachedSnapshot(_ repository: String, revision: String, settings: Settings) throws -> Outcome {
        let snapshot: String
        do { snapshot = try HubCache.snapshot(repository + "@" + revision, root: settings.cacheRoot) } catch {
            throw QuarryError("HF_HUB_OFFLINE is set and \(repository)@\(revision) is not in the cache (\(settings.cacheRoot)): unset HF_HUB_OFFLINE to download it (\(error))")
        }
        var outcome = Outcome(snapshot: snapshot, commit: URL(fileURLWithPath: snapshot).lastPathComponent)
        outcome.offline = true
        return outcome
    }

    /// fnmatch as Python's `fnmatch.fnmatchcase`: `*` and `?` cross `/`; a pattern ending in `/`
    /// means everything under that folder.
    static func matches(_ file: String, pattern: String) -> Bool {
        let pattern = pattern.hasSuffix("/") ? pattern + "*" : pattern
        return fnmatch(pattern, file, 0) == 0
    }
}

/// The Hub's HTTP routes, spoken with the settings' endpoint and token.
struct HubClient {
    let settings: HubDownload.Settings
    let http = HTTPTransfer()

    struct Listing {
        let commit: String
        let files: [String]
    }

    /// What the Hub says of one file: its blob id, size and where its bytes are.
    struct Blob {
        let etag: String
        let size: Int
        let url: URL
        /// An LFS file's ETag is its SHA-256: the download is checked against it.
        var sha256: String? { etag.count == 64 && etag.allSatisfy { $0.isHexDigit && !$0.isUppercase } ? etag : nil }
    }

    func listing(_ repository: String, revision: String) throws -> Listing {
        let url = try endpointURL("/api/models/\(repository)/revision/\(Self.escape(revision, keepingSlashes: false))")
        let response: HTTPTransfer.Response
        do { response = try http.send(request(url, method: "GET")) } catch let error as QuarryError {
            throw QuarryError("\(error.message): the Hub cannot be reached (set HF_ENDPOINT for a mirror, or HF_HUB_OFFLINE=1 to use what is cached)")
        }
        try check(response, what: "\(repository)@\(revision)")
        guard let json = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
              let commit = json["sha"] as? String, Self.isCommit(commit),
              let siblings = json["siblings"] as? [[String: Any]] else {
            throw QuarryError("\(settings.endpoint) answered \(url.path) with no commit and file list (not a Hugging Face Hub?)")
        }
        let files = try siblings.compactMap { $0["rfilename"] as? String }.map { file -> String in
            guard CacheLayout.isSafeRelativePath(file) else {
                throw QuarryError("\(repository) lists a file named \(file.debugDescription), which would be written outside its snapshot: refused")
            }
            return file
        }
        return Listing(commit: commit, files: files.sorted())
    }

    func blob(_ repository: String, commit: String, file: String) throws -> Blob {
        var url = try endpointURL("/\(repository)/resolve/\(commit)/\(Self.escape(file, keepingSlashes: true))")
        var response = try http.send(request(url, method: "HEAD", extraHeaders: ["Accept-Encoding": "identity"]))
        // Relative redirects stay on the Hub (a renamed repository); follow them as huggingface_hub does.
        var hops = 0
        while response.isRedirect, let location = response.header("location"), location.hasPrefix("/"), hops < 5 {
            guard let next = URL(string: location, relativeTo: url)?.absoluteURL else { break }
            url = next
            response = try http.send(request(url, method: "HEAD", extraHeaders: ["Accept-Encoding": "identity"]))
            hops += 1
        }
        if !response.isRedirect { try check(response, what: "\(repository)/\(file)") }
        let etag = Self.normalizedETag(response.header("x-linked-etag") ?? response.header("etag"))
        guard let etag, CacheLayout.isSafeBlobName(etag) else {
            throw QuarryError("\(repository)/\(file): the Hub gave no usable ETag (\(response.header("etag") ?? "none")), so the file cannot be stored in the cache")
        }
        let sizeText = response.header("x-linked-size") ?? (response.isRedirect ? nil : response.header("content-length"))
        guard let sizeText, let size = Int(sizeText), size >= 0 else {
            throw QuarryError("\(repository)/\(file): the Hub gave no size for it")
        }
        var target = url
        if response.isRedirect, let location = response.header("location") {
            guard let next = URL(string: location, relativeTo: url)?.absoluteURL, ["http", "https"].contains(next.scheme ?? "") else {
                throw QuarryError("\(repository)/\(file): the Hub redirected to \(location), which is not an http(s) address")
            }
            target = next
        }
        return Blob(etag: etag, size: size, url: target)
    }

    /// Appends `blob`'s bytes after the `file.offset` already there, resuming with a range
    /// request after a dropped connection; `progress` gets the bytes done so far.
    func download(_ blob: Blob, into file: PartialBlob, progress: (Int) -> Void) throws {
        var failures = 0
        var delay = settings.retryDelay
        while file.size < blob.size {
            let startedAt = file.size
            do {
                try fetch(blob, from: startedAt, into: file, progress: progress)
            } catch let error as QuarryError where file.size < blob.size {
                if file.size > startedAt { failures = 0; delay = settings.retryDelay }  // progress: a fresh set of attempts
                failures += 1
                guard failures < settings.attempts else {
                    throw QuarryError("\(error.message) (gave up after \(settings.attempts) attempts; run pull again to resume from \(ProgressLine.formatBytes(file.size)))")
                }
                Thread.sleep(forTimeInterval: delay)
                delay *= 2
                continue
            }
            if file.size < blob.size && file.size == startedAt {
                throw QuarryError("\(blob.url.absoluteString): the body ended at \(file.size) of \(blob.size) bytes")
            }
        }
        guard file.size == blob.size else {
            throw QuarryError("\(blob.url.absoluteString) sent \(file.size) bytes where the Hub said \(blob.size): nothing kept")
        }
    }

    private func fetch(_ blob: Blob, from offset: Int, into file: PartialBlob, progress: (Int) -> Void) throws {
        var url = blob.url
        var headers = ["Accept-Encoding": "identity"]
        if offset > 0 { headers["Range"] = "bytes=\(offset)-" }
        for _ in 0..<10 {
            var first = true
            let response = try http.send(request(url, method: "GET", extraHeaders: headers)) { status, data in
                // 200 to a range request: the server ignored the range and starts over at byte 0.
                if first && status == 200 && file.size > 0 { try file.truncate() }
                first = false
                try file.append(data)
                progress(file.size)
            }
            if response.isRedirect, let location = response.header("location"),
               let next = URL(string: location, relativeTo: url)?.absoluteURL, ["http", "https"].contains(next.scheme ?? "") {
                url = next
                continue
            }
            switch response.status {
            case 206:
                // A server that sends a different range than asked would corrupt the blob.
                if let range = response.header("content-range"), !range.hasPrefix("bytes \(offset)-") {
                    throw QuarryError("\(url.absoluteString) answered bytes=\(offset)- with \(range): refused")
                }
            case 200:
                return
            case 416 where offset == blob.size:
                return
            default:
                try check(response, what: blob.url.lastPathComponent)
            }
            return
        }
        throw QuarryError("\(blob.url.absoluteString): more than 10 redirects")
    }

    private func request(_ url: URL, method: String, extraHeaders: [String: String] = [:]) -> URLRequest {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = http.timeout
        request.setValue("quarry/0.1", forHTTPHeaderField: "User-Agent")
        if let token = settings.token, isEndpointHost(url) {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        for (name, value) in extraHeaders { request.setValue(value, forHTTPHeaderField: name) }
        return request
    }

    private func isEndpointHost(_ url: URL) -> Bool {
        guard let endpoint = URL(string: settings.endpoint) else { return false }
        return url.host?.lowercased() == endpoint.host?.lowercased() && url.port == endpoint.port && url.scheme == endpoint.scheme
    }

    private func endpointURL(_ path: String) throws -> URL {
        guard let url = URL(string: settings.endpoint + path), ["http", "https"].contains(url.scheme ?? "") else {
            throw QuarryError("HF_ENDPOINT \(settings.endpoint) is not an http(s) address")
        }
        return url
    }

    private func check(_ response: HTTPTransfer.Response, what: String) throws {
        switch response.status {
        case 200..<300: return
        case 401, 403:
            let hint = settings.token == nil ? "set HF_TOKEN to a token that may read it" : "the token in HF_TOKEN may not read it"
            throw QuarryError("\(what): access denied (HTTP \(response.status)): the repository is gated or private: \(hint)")
        case 404:
            throw QuarryError("\(what): not found on \(settings.endpoint) (HTTP 404): check the name and revision")
        default:
            let detail = String(decoding: response.body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw QuarryError("\(what): HTTP \(response.status) from \(response.url.host ?? settings.endpoint)\(detail.isEmpty ? "" : ": " + detail)")
        }
    }

    static func normalizedETag(_ etag: String?) -> String? {
        guard var etag else { return nil }
        if etag.hasPrefix("W/") { etag.removeFirst(2) }
        return etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    static func isCommit(_ text: String) -> Bool { text.count == 40 && text.allSatisfy(\.isHexDigit) }

    static func escape(_ text: String, keepingSlashes: Bool) -> String {
        var allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        if keepingSlashes { allowed.insert("/") }
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
