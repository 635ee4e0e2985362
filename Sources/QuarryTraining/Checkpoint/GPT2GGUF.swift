import Foundation
import QuarryCore

/// GPT-2 in a GGUF file, as llama.cpp's converter writes it (`general.architecture` gpt2) and
/// transformers reads it back: the Conv1D weights transposed to [out, in], the tied head written
/// out again as `output.weight`, LayerNorm ε 1e-5.
public enum GPT2GGUF {
    /// The shape metadata (`gpt2.*`) and every tensor, named and shaped for GGUF (PyTorch order).
    public static func tensors(_ model: GPT<Float>) -> [(name: String, shape: [Int], values: [Float])] {
        let c = model.config
        var out: [(String, [Int], [Float])] = []
        for (tensor, layer, shape, range) in layerSlices(c.tensorShapes, layers: c.nLayer, isPerLayer: \.isPerLayer) {
            var values = Array(model.parameters[range]), shape = shape
            if tensor.isConv1DWeight {
                values = transposed(values, rows: shape[0], columns: shape[1])
                shape = [shape[1], shape[0]]
            }
            out.append((tensor.ggufName(layer: layer), shape, values))
            if tensor == .wte { out.append(("output.weight", shape, values)) }
        }
        return out
    }

    public static func setShape(_ config: ModelConfig, in writer: inout GGUFWriter) {
        writer.set("general.architecture", .string("gpt2"))
        for (key, value) in [("block_count", config.nLayer), ("context_length", config.nPositions), ("embedding_length", config.nEmbd),
                             ("feed_forward_length", 4 * config.nEmbd), ("attention.head_count", config.nHead)] {
            writer.set("gpt2.\(key)", uint32: value)
        }
        writer.set("gpt2.attention.layer_norm_epsilon", float32: 1e-5)
    }

    static func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows { for col in 0..<columns { out[col * rows + r] = values[r * columns + col] } }
        return out
    }
}
