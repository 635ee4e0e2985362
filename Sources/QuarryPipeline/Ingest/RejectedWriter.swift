import Foundation
import QuarryCore
import QuarryIngest

/// `ingest --rejected DIR`: every dropped document, in input order, as a JSONL line (the
/// document's fields, `filter`, `filter_reason`, `value`) in `DIR/<filter>/rejected.jsonl`
/// (`p2of4-rejected.jsonl` for a part), as datatrove's exclusion writers keep them. Each file is
/// written under a temporary name and renamed when the run completes; a rerun (a resumed run
/// reads its input again) writes them anew, so they always match the manifest's counts.
final class RejectedWriter {
    private let directory: String
    private let fileName: String
    private var files: [String: OutputFile] = [:]

    init(directory: String, namePrefix: String) throws {
        self.directory = directory
        fileName = namePrefix + "rejected.jsonl"
        try Self.makeDirectory(directory)
    }

    func write(_ doc: Document, reason: DropReason, value: Double? = nil) throws {
        let filter = reason.filter
        let file: OutputFile
        if let open = files[filter] {
            file = open
        } else {
            let folder = directory + "/" + filter
            try Self.makeDirectory(folder)
            file = try OutputFile(path: folder + "/" + fileName)
            files[filter] = file
        }
        try file.write(DocumentJSON.line(doc, rejection: (reason, value)))
    }

    /// A record that converted to nothing: what is known of it, with empty text.
    func write(_ record: RawRecord, reason: DropReason) throws {
        try write(Document(id: record.id ?? "", source: record.source, title: record.title, url: record.url, text: ""), reason: reason)
    }

    /// Renames the files into place, and removes this part's files of filters that dropped nothing
    /// this time (left by an earlier run with other settings).
    func finish() throws {
        for file in files.values { try file.commit() }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for entry in entries where files[entry] == nil {
            let stale = directory + "/" + entry + "/" + fileName
            if FileManager.default.fileExists(atPath: stale) { try? FileManager.default.removeItem(atPath: stale) }
        }
    }

    /// A directory of our own: created if absent; refused if the path is a symlink or a file.
    static func makeDirectory(_ path: String) throws {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw QuarryError("\(path) exists and is not a directory (a symlink is not followed): choose another --rejected directory")
            }
            return
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw QuarryError("cannot create \(path): \(describeErrno(errno))")
        }
    }
}
