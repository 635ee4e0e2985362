import Foundation
import QuarryCore

/// Llama-family models from GGUF files (llama.cpp, Ollama, the Hub's quantised uploads).
public enum LlamaGGUF {
    /// The model's shape from the file's metadata (`ARCH.block_count`, …), checked before any
    /// tensor is read.
    public static func config(_ file: GGUFFile) throws -> LlamaConfig {
        let name = file.string("general.architecture") ?? "(none)"
        guard let architecture = LlamaConfig.Architecture(rawValue: name) else {
            throw QuarryError("\(file.path): architecture \(name); quarry runs \(LlamaConfig.Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        func required(_ key: String) throws -> Int {
            guard let v = file.integer("\(name).\(key)") else { throw QuarryError("\(file.path) has no \(name).\(key) in its metadata") }
            return v
        }
        if let scaling = file.string("\(name).rope.scaling.type"), scaling != "none" {
            throw QuarryError("\(file.path): rotary embeddings with \(scaling) scaling are not supported yet")
        }
        if file.tensor("rope_freqs.weight") != nil {
            throw QuarryError("\(file.path): rotary embeddings with per-frequency factors (Llama 3.1+ scaling) are not supported yet")
        }
        let heads = try required("attention.head_count")
        guard let embedding = file.tensor(LlamaTensor.embedding.ggufName(layer: nil)), embedding.dimensions.count == 2 else {
            throw QuarryError("\(file.path) has no 2-dimensional \(LlamaTensor.embedding.ggufName(layer: nil))")
        }
        let config = LlamaConfig(
            architecture: architecture,
            vocabSize: file.integer("\(name).vocab_size") ?? embedding.dimensions[1],
            nLayer: try required("block_count"),
            nHead: heads,
            nKVHead: file.integer("\(name).attention.head_count_kv") ?? heads,
            nEmbd: try required("embedding_length"),
            intermediateSize: try required("feed_forward_length"),
            nPositions: try required("context_length"),
            ropeTheta: file.number("\(name).rope.freq_base") ?? 10_000,
            rmsNormEps: file.number("\(name).attention.layer_norm_rms_epsilon") ?? 1e-5,
            tiedEmbeddings: file.tensor(LlamaTensor.lmHead.ggufName(layer: nil)) == nil,
            attentionBias: file.tensor(LlamaTensor.queryBias.ggufName(layer: 0)) != nil)
        do { try config.validate() } catch let error as QuarryError { throw QuarryError("\(file.path): \(error.message)") }
        return config
    }

    /// Reads and dequantises every tensor into one F32 buffer.
    public static func load(_ file: GGUFFile) throws -> Llama<Float> {
        let config = try config(file)
        var parameters = [Float](repeating: 0, count: config.parameterCount)
        for (tensor, layer, shape, range) in config.namedTensors {
            let name = tensor.ggufName(layer: layer)
            guard let info = file.tensor(name) else { throw QuarryError("\(file.path) has no tensor \(name)") }
            guard info.shape == shape else { throw QuarryError("\(file.path): \(name) has shape \(info.shape); the metadata says \(shape)") }
            var values = try file.floats(name)
            // llama.cpp's converter interleaves each head's rotary halves for its own kernels.
            if config.architecture == .llama, tensor == .query || tensor == .key {
                values = unpermuteRotaryRows(values, heads: tensor == .query ? config.nHead : config.nKVHead, columns: config.nEmbd)
            }
            parameters.replaceSubrange(range, with: values)
        }
        return try Llama(config: config, parameters: parameters)
    }

    /// Undoes llama.cpp's `permute` of Q and K: within each head, GGUF row `i·2 + j` holds
    /// Hugging Face row `j·(hs/2) + i` (as transformers' GGUF loader reverses it).
    static func unpermuteRotaryRows(_ w: [Float], heads: Int, columns: Int) -> [Float] {
        let rows = w.count / columns, hs = rows / heads, half = hs / 2
        var out = [Float](repeating: 0, count: w.count)
        for head in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let from = (head * hs + i * 2 + j) * columns, to = (head * hs + j * half + i) * columns
                    out[to..<(to + columns)] = w[from..<(from + columns)]
                }
            }
        }
        return out
    }

    /// llama.cpp's `permute`, the inverse of `unpermuteRotaryRows`: Hugging Face row
    /// `j·(hs/2) + i` of each head goes to row `i·2 + j`.
    public static func permuteRotaryRows(_ w: [Float], heads: Int, columns: Int) -> [Float] {
        let rows = w.count / columns, hs = rows / heads, half = hs / 2
        var out = [Float](repeating: 0, count: w.count)
        for head in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let from = (head * hs + j * half + i) * columns, to = (head * hs + i * 2 + j) * columns
                    out[to..<(to + columns)] = w[from..<(from + columns)]
                }
            }
        }
        return out
    }
}
