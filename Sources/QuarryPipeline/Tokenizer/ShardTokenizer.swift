import Foundation
import QuarryCore
import QuarryShards
import QuarryTokenizer

/// A tokenizer file loaded to write shards with: the model, and the entry a manifest records of
/// it (path as given, SHA-256, vocabulary size, the id of `<|endoftext|>` that every shard format
/// puts between documents).
public struct ShardTokenizer {
    public let model: BPEModel
    public let manifestEntry: Manifest.Tokenizer

    public init(path: String) throws {
        model = try TokenizerFile.load(path: path)
        guard let endOfText = model.id(of: "<|endoftext|>") else {
            throw QuarryError("\(path) has no <|endoftext|> token, which every shard format needs between documents")
        }
        manifestEntry = Manifest.Tokenizer(path: path, sha256: try SHA256.hexDigest(ofFile: path),
                                           vocabSize: model.vocabularySize, endOfTextID: endOfText)
    }
}

/// Which tokenizer a shard directory was written with, checked against a model's own.
public enum ShardsProvenance {
    /// The file the shards were tokenized with: the manifest's path (as typed at ingest, so
    /// relative to ingest's working directory) or the copy ingest puts beside the shards; nil
    /// when neither holds the recorded SHA-256.
    public static func tokenizerFile(of manifest: Manifest, directory: String) -> String? {
        [manifest.tokenizer.path, directory + "/tokenizer.json"].first {
            (try? SHA256.hexDigest(ofFile: $0)) == manifest.tokenizer.sha256
        }
    }

    /// Refuses shards tokenized differently from a model's own tokenizer (RUN/tokenizer.json, when
    /// the model directory has one): the ids would mean other tokens to the model.
    public static func check(_ manifest: Manifest, directory: String, against modelDirectory: String) throws {
        let own = modelDirectory + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: own) else { return }
        if (try? SHA256.hexDigest(ofFile: own)) == manifest.tokenizer.sha256 { return }
        // Another file may still hold the same vocabulary (written by another tool): compare the models.
        let modelTokenizer = try TokenizerFile.load(path: own)
        if let candidate = tokenizerFile(of: manifest, directory: directory),
           let shardsTokenizer = try? TokenizerFile.load(path: candidate), shardsTokenizer.encodesLike(modelTokenizer) { return }
        throw QuarryError("the shards in \(directory) were tokenized with \(manifest.tokenizer.path) (SHA-256 \(manifest.tokenizer.sha256.prefix(12))…), "
                          + "not with the model's \(own): re-ingest them with --tokenizer \(own)")
    }
}
