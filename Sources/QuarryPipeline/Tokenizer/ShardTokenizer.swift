import Foundation
import QuarryCore
import QuarryShards
import QuarryTokenizer
import QuarryTraining

/// A tokenizer file loaded to write shards with: the model, and the entry a manifest records of
/// it (path as given, SHA-256, vocabulary size, the id of `<|endoftext|>` that every shard format
/// puts between documents).
public struct ShardTokenizer {
    public let model: BPEModel
    public let manifestEntry: Manifest.Tokenizer

    /// `spec`: a tokenizer.json, or a model's tokenizer (a model directory, a .gguf file, ORG/NAME
    /// in the Hugging Face cache). Documents are separated by `<|endoftext|>`, else by the
    /// model's end-of-sequence token; the manifest records the file read and its SHA-256.
    public init(path spec: String) throws {
        let resolved = try HubCache.resolve(spec)
        var isDirectory: ObjCBool = false
        let isModelDirectory = FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) && isDirectory.boolValue
        let file = isModelDirectory ? resolved + "/tokenizer.json" : resolved
        model = try TokenizerSource.load(resolved)
        guard let endOfText = model.id(of: "<|endoftext|>") ?? Self.endOfSequence(of: resolved, isDirectory: isModelDirectory, vocabulary: model.vocabularySize) else {
            throw QuarryError("\(spec) has no <|endoftext|> token (nor a model's end-of-sequence token), which every shard format needs between documents")
        }
        manifestEntry = Manifest.Tokenizer(path: file, sha256: try SHA256.hexDigest(ofFile: file),
                                           vocabSize: model.vocabularySize, endOfTextID: endOfText)
    }

    /// A pre-trained model's end-of-sequence token: a GGUF's `tokenizer.ggml.eos_token_id`, a
    /// directory's config.json `eos_token_id` (the first, when a list).
    static func endOfSequence(of model: String, isDirectory: Bool, vocabulary: Int) -> Int32? {
        var id: Int?
        if isDirectory {
            let config = FileManager.default.contents(atPath: model + "/config.json").flatMap { try? JSONValue.parse(String(decoding: $0, as: UTF8.self)) }
            id = config?["eos_token_id"]?.integer ?? config?["eos_token_id"]?.array?.first?.integer
        } else if LanguageModel.isGGUF(model) {
            id = (try? GGUFFile(path: model))?.integer("tokenizer.ggml.eos_token_id")
        }
        guard let id, id >= 0, id < vocabulary else { return nil }
        return Int32(id)
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

    /// Refuses shards tokenized differently from `tokenizer`, a pre-trained model's own (from a
    /// GGUF file or a Hugging Face directory): the ids would mean other tokens to the model.
    public static func check(_ manifest: Manifest, directory: String, againstTokenizer tokenizer: BPEModel, of model: String) throws {
        guard let candidate = tokenizerFile(of: manifest, directory: directory) else {
            throw QuarryError("the tokenizer the shards in \(directory) were made with (\(manifest.tokenizer.path)) is not found, so they cannot be "
                              + "checked against \(model)'s: re-ingest them with --tokenizer \(model)")
        }
        let shardsTokenizer = try TokenizerSource.load(candidate)
        guard shardsTokenizer.encodesLike(tokenizer) else {
            throw QuarryError("the shards in \(directory) were tokenized with \(manifest.tokenizer.path), not with \(model)'s tokenizer: "
                              + "re-ingest them with --tokenizer \(model)")
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
