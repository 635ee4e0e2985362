import Foundation
import QuarryCore

/// Writes one split (train or val) as a sequence of shards in one format, rolling to a new
/// shard at `shardTokens`. Each shard is complete on disk (renamed into place) before the
/// next starts, and `onShard` is told, so the manifest can record progress after every shard.
/// Ingest writes its train and val splits with it; a labelled export, one writer per split.
public final class SplitWriter {
    let split: String
    let format: ShardFormat
    let width: TokenWidth
    let directory: String
    let namePrefix: String
    let shardTokens: Int
    let endOfText: Int32
    public private(set) var finished: [ShardFile] = []
    /// Documents of this split fully written to finished shards, and tokens of the next
    /// document already written (llm.c shards split documents): the resume point.
    public private(set) var resumePoint = ResumePoint(documents: 0, skipTokens: 0)

    private var file: HashedFile?
    private var index: HashedFile?
    private var tokensInShard = 0
    private var documentsInShard = 0
    private var sequenceLengths: [Int32] = []      // megatron: per document
    private var buffer: [UInt8] = []
    private var documentsSeen = 0                  // documents of this split given to add()

    public var onShard: ((SplitWriter) throws -> Void)?

    /// `resumingAfter`: the split's shards a killed run finished; `resume`: where it stopped.
    public init(split: String, format: ShardFormat, width: TokenWidth, directory: String, namePrefix: String = "",
                shardTokens: Int, endOfText: Int32, resumingAfter completed: [ShardFile] = [],
                resume: ResumePoint = ResumePoint(documents: 0, skipTokens: 0)) {
        self.split = split
        self.format = format
        self.width = width
        self.directory = directory
        self.namePrefix = namePrefix
        self.shardTokens = shardTokens
        self.endOfText = endOfText
        finished = completed
        resumePoint = resume
    }

    /// Whether the document with this ordinal in the split is already on disk.
    public func isWritten(ordinal: Int) -> Bool { ordinal < resumePoint.documents }

    /// Adds the next document of the split (its ordinal is implied by order).
    public func add(_ tokens: [Int32]) throws {
        let ordinal = documentsSeen
        documentsSeen += 1
        if ordinal < resumePoint.documents { return }
        var doc: [Int32]
        switch format {
        case .llmc: doc = [endOfText] + tokens
        case .megatron, .nanogpt: doc = tokens + [endOfText]
        }
        if ordinal == resumePoint.documents && resumePoint.skipTokens > 0 {
            doc.removeFirst(min(resumePoint.skipTokens, doc.count))
        }
        var written = resumePoint.documents == ordinal ? resumePoint.skipTokens : 0
        var remaining = doc[...]
        while !remaining.isEmpty {
            if file == nil { try openShard() }
            let take: Int
            if format == .llmc {
                take = min(remaining.count, shardTokens - tokensInShard)
            } else {
                take = remaining.count
            }
            buffer.removeAll(keepingCapacity: true)
            width.pack(remaining.prefix(take), into: &buffer)
            try file?.write(buffer)
            tokensInShard += take
            written += take
            remaining = remaining.dropFirst(take)
            if format == .llmc && tokensInShard >= shardTokens && !remaining.isEmpty {
                // The shard is full inside this document: the resume point is mid-document.
                try closeShard(resume: ResumePoint(documents: ordinal, skipTokens: written))
            }
        }
        documentsInShard += 1
        if format == .megatron { sequenceLengths.append(Int32(doc.count)) }
        let full = format != .nanogpt && tokensInShard >= shardTokens
        if full { try closeShard(resume: ResumePoint(documents: ordinal + 1, skipTokens: 0)) }
    }

    private func shardName(_ number: Int) -> String {
        switch format {
        case .nanogpt: return "\(namePrefix)\(split).bin"
        case .llmc, .megatron: return String(format: "%@%@-%05d.bin", namePrefix, split, number)
        }
    }

    private func openShard() throws {
        let name = shardName(finished.count)
        // llm.c's header holds the token count, known only at the end: its tokens go to a side
        // file first and the shard is assembled (header + tokens) when it closes.
        file = try HashedFile(path: directory + "/" + name + (format == .llmc ? ".tokens" : ""))
        tokensInShard = 0
        documentsInShard = 0
        sequenceLengths = []
    }

    /// Finishes the open shard (if it holds anything).
    public func finish() throws {
        if file != nil { try closeShard(resume: ResumePoint(documents: documentsSeen, skipTokens: 0)) }
    }

    private func closeShard(resume: ResumePoint) throws {
        guard let file else { return }
        self.file = nil
        let name = shardName(finished.count)
        let shard: ShardFile
        switch format {
        case .llmc:
            // Prepend the 1 KiB header: llm.c needs the count before the tokens.
            let (bytes, sha) = try prependLLMCHeader(file)
            shard = ShardFile(path: name, split: split, tokens: tokensInShard, documents: documentsInShard, bytes: bytes, sha256: sha)
        case .megatron:
            let (bytes, sha) = try file.commit()
            let indexName = (name as NSString).deletingPathExtension + ".idx"
            let (indexBytes, indexSHA) = try writeMegatronIndex(directory + "/" + indexName)
            shard = ShardFile(path: name, split: split, tokens: tokensInShard, documents: documentsInShard, bytes: bytes, sha256: sha,
                              indexPath: indexName, indexBytes: indexBytes, indexSHA256: indexSHA)
        case .nanogpt:
            let (bytes, sha) = try file.commit()
            shard = ShardFile(path: name, split: split, tokens: tokensInShard, documents: documentsInShard, bytes: bytes, sha256: sha)
        }
        finished.append(shard)
        resumePoint = resume
        try onShard?(self)
    }

    /// Megatron `.idx`: magic, version 1, dtype code, sequence count, document count + 1, then
    /// int32 lengths, int64 byte offsets, int64 document indices.
    private func writeMegatronIndex(_ path: String) throws -> (Int, String) {
        let index = try HashedFile(path: path)
        var header: [UInt8] = Array("MMIDIDX".utf8) + [0, 0]
        header.appendLittleEndian(UInt64(1))
        header.append(width == .uint16 ? 8 : 4)
        header.appendLittleEndian(UInt64(sequenceLengths.count))
        header.appendLittleEndian(UInt64(sequenceLengths.count + 1))
        try index.write(header)
        var body: [UInt8] = []
        body.reserveCapacity(sequenceLengths.count * 20 + 8)
        for length in sequenceLengths { body.appendLittleEndian(length) }
        var pointer: Int64 = 0
        for length in sequenceLengths {
            body.appendLittleEndian(pointer)
            pointer += Int64(length) * Int64(width.bytes)
        }
        for i in 0...sequenceLengths.count { body.appendLittleEndian(Int64(i)) }
        try index.write(body)
        return try index.commit()
    }

    /// The tokens are complete in `NAME.tokens`; the shard is the 1 KiB header, then them.
    private func prependLLMCHeader(_ tokens: HashedFile) throws -> (Int, String) {
        _ = try tokens.commit()
        defer { unlink(tokens.finalPath) }
        let final = try HashedFile(path: directory + "/" + shardName(finished.count))
        do {
            try final.write(LLMCHeader.encoded(tokens: tokensInShard, width: width))
            guard let handle = FileHandle(forReadingAtPath: tokens.finalPath) else {
                throw QuarryError("cannot read back \(tokens.finalPath)")
            }
            defer { try? handle.close() }
            while true {
                let chunk = handle.readData(ofLength: 1 << 20)
                if chunk.isEmpty { break }
                try final.write(Array(chunk))
            }
            return try final.commit()
        } catch {
            final.abandon()
            throw error
        }
    }
}

public struct ResumePoint: Codable, Sendable, Equatable {
    public var documents: Int
    public var skipTokens: Int
    enum CodingKeys: String, CodingKey { case documents, skipTokens = "skip_tokens" }
    public init(documents: Int, skipTokens: Int) {
        self.documents = documents
        self.skipTokens = skipTokens
    }
}

