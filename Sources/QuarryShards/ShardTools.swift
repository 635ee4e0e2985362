import Foundation
import QuarryCore

/// `quarry shards verify|stats|merge`: checks, summaries and joins of shard directories.
public enum ShardTools {
    // MARK: - verify

    /// Every problem found, one line each; empty when the directory is intact.
    public static func verify(directory: String) throws -> [String] {
        guard let manifest = try Manifest.load(directory: directory) else {
            throw QuarryError("\(directory)/\(Manifest.fileName) not found: not a quarry shard directory")
        }
        var problems: [String] = []
        if !manifest.complete { problems.append("the manifest is not complete (the run was interrupted: rerun the same ingest command to resume)") }
        let width = manifest.settings.tokenWidth
        let vocabulary = manifest.tokenizer.vocabSize
        if !(1...Int(Int32.max)).contains(vocabulary) {
            problems.append("the manifest's vocab_size \(vocabulary) is not a vocabulary size")
        } else if let expected = try? TokenWidth.forFormat(manifest.settings.format, vocabularySize: vocabulary), expected != width {
            problems.append("the manifest's token width \(width.rawValue) does not fit vocab_size \(vocabulary) in \(manifest.settings.format.rawValue) shards (\(expected.rawValue) expected)")
        }
        if !(0..<Int32(clamping: vocabulary)).contains(manifest.tokenizer.endOfTextID) {
            problems.append("the manifest's end_of_text_id \(manifest.tokenizer.endOfTextID) is outside the vocabulary")
        }
        var listed = Set<String>()
        for name in manifest.shards.flatMap({ [$0.path, $0.indexPath].compactMap { $0 } }) where !listed.insert(name).inserted {
            problems.append("\(name) is listed twice in the manifest")
        }
        for shard in manifest.shards {
            let path = directory + "/" + shard.path
            guard let (size, sha) = hashFile(path) else { problems.append("\(shard.path): missing or unreadable"); continue }
            if size != shard.bytes { problems.append("\(shard.path): \(size) bytes, the manifest says \(shard.bytes)") }
            if sha != shard.sha256 { problems.append("\(shard.path): SHA-256 differs from the manifest (the file changed or is corrupt)") }
            switch manifest.settings.format {
            case .nanogpt:
                if size != shard.tokens * width.bytes { problems.append("\(shard.path): size is not \(shard.tokens) tokens × \(width.bytes) bytes") }
            case .llmc:
                do {
                    let reader = try ShardReader(path: path, format: .llmc, width: width)
                    if let problem = reader.llmcHeaderProblem(expectedTokens: shard.tokens) { problems.append("\(shard.path): \(problem)") }
                } catch {
                    problems.append("\(shard.path): unreadable")
                }
            case .megatron:
                guard let indexPath = shard.indexPath else { problems.append("\(shard.path): no .idx listed"); continue }
                let full = directory + "/" + indexPath
                guard let (indexSize, indexSHA) = hashFile(full) else { problems.append("\(indexPath): missing or unreadable"); continue }
                if indexSize != shard.indexBytes { problems.append("\(indexPath): size differs from the manifest") }
                if indexSHA != shard.indexSHA256 { problems.append("\(indexPath): SHA-256 differs from the manifest") }
                do {
                    let index = try MegatronIndex(path: full)
                    if index.dtypeCode != (width == .uint16 ? 8 : 4) { problems.append("\(indexPath): dtype code \(index.dtypeCode) does not match \(width.rawValue)") }
                    if index.totalTokens != shard.tokens { problems.append("\(indexPath): \(index.totalTokens) tokens, the manifest says \(shard.tokens)") }
                    if index.totalTokens * width.bytes != size { problems.append("\(indexPath): lengths do not add up to the .bin size") }
                    if index.sequenceCount != shard.documents { problems.append("\(indexPath): \(index.sequenceCount) sequences, the manifest says \(shard.documents) documents") }
                } catch {
                    problems.append("\(indexPath): \(error)")
                }
            }
            if (1...Int(Int32.max)).contains(vocabulary), let reader = try? ShardReader(path: path, format: manifest.settings.format, width: width) {
                var outside = 0
                for i in 0..<reader.tokenCount where !(0..<vocabulary).contains(Int(reader.token(i))) { outside += 1 }
                if outside > 0 { problems.append("\(shard.path): \(outside) token id(s) outside the vocabulary of \(vocabulary)") }
            }
        }
        return problems
    }

    static func hashFile(_ path: String) -> (Int, String)? {
        SHA256.digest(ofFile: path).map { ($0.bytes, $0.hex) }
    }

    // MARK: - stats

    public struct Stats: Sendable {
        public var manifest: Manifest
        /// Document lengths in tokens, bucketed by powers of two: bucket k holds 2^k ..< 2^(k+1).
        public var histogram: [Int: Int]
    }

    public static func stats(directory: String) throws -> Stats {
        guard let manifest = try Manifest.load(directory: directory) else {
            throw QuarryError("\(directory)/\(Manifest.fileName) not found: not a quarry shard directory")
        }
        var histogram: [Int: Int] = [:]
        func count(_ length: Int) {
            guard length > 0 else { return }
            histogram[Int.bitWidth - 1 - length.leadingZeroBitCount, default: 0] += 1
        }
        let width = manifest.settings.tokenWidth
        let eot = manifest.tokenizer.endOfTextID
        var carried = 0
        for shard in manifest.shards.sorted(by: { ($0.split, $0.path) < ($1.split, $1.path) }) {
            let path = directory + "/" + shard.path
            switch manifest.settings.format {
            case .megatron:
                guard let indexPath = shard.indexPath else { continue }
                for length in try MegatronIndex(path: directory + "/" + indexPath).lengths { count(Int(length)) }
            case .llmc, .nanogpt:
                let reader: ShardReader
                do { reader = try ShardReader(path: path, format: manifest.settings.format, width: width) } catch {
                    throw QuarryError("\(shard.path): unreadable")
                }
                // llm.c puts <|endoftext|> before each document, nanoGPT after.
                var length = carried
                for i in 0..<reader.tokenCount {
                    if reader.token(i) == eot {
                        if manifest.settings.format == .nanogpt { count(length + 1); length = 0 } else { count(length); length = 1 }
                    } else {
                        length += 1
                    }
                }
                carried = manifest.settings.format == .llmc ? length : 0
                if manifest.settings.format == .nanogpt { count(length) }
            }
        }
        if manifest.settings.format == .llmc { count(carried) }
        return Stats(manifest: manifest, histogram: histogram)
    }

    // MARK: - merge

    /// Joins the directories of `--part K/N` runs into `output`: shards are hard-linked (copied
    /// across file systems) and the manifests combined.
    public static func merge(_ directories: [String], into output: String) throws -> Manifest {
        var manifests: [Manifest] = []
        for directory in directories {
            guard let m = try Manifest.load(directory: directory) else {
                throw QuarryError("\(directory)/\(Manifest.fileName) not found: not a quarry shard directory")
            }
            guard m.complete else { throw QuarryError("\(directory) is not complete: finish (rerun) its ingest before merging") }
            manifests.append(m)
        }
        guard let first = manifests.first else { throw QuarryError("give at least one directory to merge") }
        for (m, directory) in zip(manifests, directories) {
            var settings = m.settings
            settings.part = first.settings.part
            guard settings == first.settings, m.tokenizer.sha256 == first.tokenizer.sha256 else {
                throw QuarryError("\(directory) was made with another tokenizer or other options than \(directories[0]): only parts of one job can be merged")
            }
        }
        let fm = FileManager.default
        try fm.createDirectory(atPath: output, withIntermediateDirectories: true)
        if fm.fileExists(atPath: output + "/" + Manifest.fileName) {
            throw QuarryError("\(output) already holds a manifest: merge into a new directory")
        }
        var merged = first
        merged.settings.part = .merged(parts: manifests.count)
        merged.sources = Array(Set(manifests.flatMap(\.sources))).sorted()
        merged.shards = []
        merged.dropped = [:]
        merged.documentsRead = 0
        merged.documentsKept = 0
        var seen = Set<String>()
        for (m, directory) in zip(manifests, directories) {
            for shard in m.shards {
                for name in [shard.path, shard.indexPath].compactMap({ $0 }) {
                    guard seen.insert(name).inserted else {
                        throw QuarryError("two parts both have \(name): were they run with distinct --part K/N?")
                    }
                    let target = output + "/" + name
                    if link(directory + "/" + name, target) != 0 {
                        try fm.copyItem(atPath: directory + "/" + name, toPath: target)
                    }
                }
                merged.shards.append(shard)
            }
            for (k, v) in m.dropped { merged.dropped[k, default: 0] += v }
            for (k, v) in m.languages ?? [:] { merged.languages = merged.languages ?? [:]; merged.languages?[k, default: 0] += v }
            merged.documentsRead += m.documentsRead
            merged.documentsKept += m.documentsKept
        }
        merged.totals = Manifest.totals(of: merged.shards)
        try merged.save(directory: output)
        return merged
    }
}

/// A Megatron `.idx` file, read back.
public struct MegatronIndex {
    public var dtypeCode: UInt8
    public var sequenceCount: Int
    public var documentCount: Int
    public var lengths: [Int32]
    public var pointers: [Int64]
    public var documentIndices: [Int64]
    public var totalTokens: Int { lengths.reduce(0) { $0 + Int($1) } }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw QuarryError("unreadable") }
        guard data.count >= 34, data.prefix(9) == Data(Array("MMIDIDX".utf8) + [0, 0]) else {
            throw QuarryError("not a Megatron index (bad magic)")
        }
        func u64(_ offset: Int) -> UInt64 { data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) } }
        guard u64(9) == 1 else { throw QuarryError("unsupported Megatron index version \(u64(9))") }
        // The counts are the file's: each entry takes at least 4 bytes, so a count larger than
        // the file is corrupt, and checking that first keeps every product below in range.
        let (rawSequences, rawDocuments) = (u64(18), u64(26))
        guard rawSequences <= UInt64(data.count / 4), rawDocuments <= UInt64(data.count / 8) else {
            throw QuarryError("corrupt Megatron index (its counts, \(rawSequences) sequences and \(rawDocuments) documents, do not fit its \(data.count) bytes)")
        }
        let sequences = Int(rawSequences), documentsPlusOne = Int(rawDocuments)
        dtypeCode = data[17]
        sequenceCount = sequences
        documentCount = documentsPlusOne
        let expected = 34 + sequenceCount * 4 + sequenceCount * 8 + documentCount * 8
        guard data.count >= expected else { throw QuarryError("truncated Megatron index (\(data.count) bytes, \(expected) expected)") }
        var offset = 34
        var lengths: [Int32] = [], pointers: [Int64] = [], documents: [Int64] = []
        data.withUnsafeBytes { raw in
            for _ in 0..<sequences { lengths.append(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self))); offset += 4 }
            for _ in 0..<sequences { pointers.append(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))); offset += 8 }
            for _ in 0..<documentsPlusOne { documents.append(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))); offset += 8 }
        }
        self.lengths = lengths
        self.pointers = pointers
        self.documentIndices = documents
    }
}
