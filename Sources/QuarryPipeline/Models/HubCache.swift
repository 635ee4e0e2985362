import Foundation
import QuarryCore

/// Models named `ORG/NAME[@REVISION]`, found in the Hugging Face cache exactly as
/// `huggingface_hub` lays it out, so that what `huggingface-cli download` (or transformers)
/// fetched is used as it is, offline:
///
///     $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
///       models--ORG--NAME/refs/REVISION          the commit a branch or tag points to
///       models--ORG--NAME/snapshots/COMMIT/…      the files, as symlinks into blobs/
public enum HubCache {
    public static func root(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let cache = environment["HF_HUB_CACHE"], !cache.isEmpty { return cache }
        if let home = environment["HF_HOME"], !home.isEmpty { return home + "/hub" }
        return NSHomeDirectory() + "/.cache/huggingface/hub"
    }

    /// Whether `spec` has the shape of a Hub model name (and so is looked up in the cache when
    /// no file or directory of that name exists).
    public static func isModelName(_ spec: String) -> Bool {
        let name = spec.split(separator: "@", maxSplits: 1).first.map(String.init) ?? spec
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        return parts.count == 2 && parts.allSatisfy { part in
            !part.isEmpty && part != "." && part != ".." && part.unicodeScalars.allSatisfy(allowed.contains)
        }
    }

    /// The snapshot directory of `ORG/NAME[@REVISION]` (REVISION: a branch or tag with a
    /// `refs/` entry, or a 40-character commit; default main).
    public static func snapshot(_ spec: String, root: String = root()) throws -> String {
        guard isModelName(spec) else { throw QuarryError("\(spec) is not a Hub model name (ORG/NAME or ORG/NAME@REVISION)") }
        let pieces = spec.split(separator: "@", maxSplits: 1).map(String.init)
        let name = pieces[0], revision = pieces.count > 1 ? pieces[1] : "main"
        guard !revision.isEmpty, !revision.contains(".."), !revision.hasPrefix("/") else { throw QuarryError("\(spec): revision \(revision) is not a branch, tag or commit") }
        let repository = root + "/models--" + name.replacingOccurrences(of: "/", with: "--")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: repository, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw QuarryError("\(name): no such file or directory, and no such model in the Hugging Face cache (\(root)): download it first (quarry pull \(name)), or set HF_HUB_CACHE or HF_HOME")
        }
        var commit = revision
        let isCommit = revision.count == 40 && revision.allSatisfy(\.isHexDigit)
        if !isCommit {
            let ref = repository + "/refs/" + revision
            guard let data = FileManager.default.contents(atPath: ref),
                  let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
                throw QuarryError("\(name) is in the cache but has no revision \(revision) (no \(ref)): download that revision, or name a commit with @")
            }
            commit = text
        }
        guard commit.count == 40, commit.allSatisfy(\.isHexDigit) else {
            throw QuarryError("\(name): refs/\(revision) does not hold a commit hash (a damaged cache)")
        }
        let snapshot = repository + "/snapshots/" + commit
        guard FileManager.default.fileExists(atPath: snapshot, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw QuarryError("\(name)@\(revision): the snapshot \(commit) is missing from the cache (\(snapshot)): download it again")
        }
        return snapshot
    }

    /// What a model name resolves to: the snapshot directory when it holds a config.json, else
    /// its one .gguf file (several are refused with their names: give the file's path).
    public static func model(_ spec: String, root: String = root()) throws -> String {
        let directory = try snapshot(spec, root: root)
        if FileManager.default.fileExists(atPath: directory + "/config.json") { return directory }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".gguf") }.sorted()
        if files.count == 1 { return directory + "/" + files[0] }
        if files.isEmpty { throw QuarryError("\(spec): the cached snapshot has neither config.json nor a .gguf file") }
        throw QuarryError("\(spec) holds \(files.count) GGUF files (\(files.prefix(4).joined(separator: ", "))\(files.count > 4 ? ", …" : "")): give one as \(directory)/FILE")
    }

    /// `spec` as a path: itself when it exists, else the cached model it names.
    public static func resolve(_ spec: String) throws -> String {
        if FileManager.default.fileExists(atPath: spec) || !isModelName(spec) { return spec }
        return try model(spec)
    }
}
