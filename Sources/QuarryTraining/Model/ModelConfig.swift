import Foundation
import QuarryCore

/// A GPT-2 model's shape, as a plain value (`schemas/model-config.schema.json`). Its JSON form
/// uses Hugging Face's GPT-2 `config.json` keys, so the same file serves both.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int       // tokens in the vocabulary (from the tokenizer)
    public var nLayer: Int          // transformer blocks
    public var nHead: Int           // attention heads; nEmbd must divide by it
    public var nEmbd: Int           // width of the residual stream
    public var nPositions: Int      // longest context (learned position embeddings)
    public var dropout: Double      // on embeddings, attention output and MLP output

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", nLayer = "n_layer", nHead = "n_head", nEmbd = "n_embd"
        case nPositions = "n_positions", dropout
    }

    public init(vocabSize: Int, nLayer: Int, nHead: Int, nEmbd: Int, nPositions: Int, dropout: Double = 0) {
        self.vocabSize = vocabSize
        self.nLayer = nLayer
        self.nHead = nHead
        self.nEmbd = nEmbd
        self.nPositions = nPositions
        self.dropout = dropout
    }

    /// Named presets; the vocabulary comes from the tokenizer.
    public static func preset(_ name: String, vocabSize: Int) throws -> ModelConfig {
        switch name {
        case "tiny": return ModelConfig(vocabSize: vocabSize, nLayer: 4, nHead: 4, nEmbd: 256, nPositions: 256)
        case "small": return ModelConfig(vocabSize: vocabSize, nLayer: 6, nHead: 6, nEmbd: 384, nPositions: 256)
        default: throw QuarryError("unknown preset \"\(name)\" (tiny: 4 layers × 256, small: 6 layers × 384)")
        }
    }

    /// Checked before anything is allocated: a config.json is read from files others wrote.
    public func validate() throws {
        guard vocabSize > 0, nLayer > 0, nHead > 0, nEmbd > 0, nPositions > 0 else { throw QuarryError("model sizes must be positive") }
        guard nEmbd % nHead == 0 else { throw QuarryError("n_embd (\(nEmbd)) must be a multiple of n_head (\(nHead))") }
        guard dropout >= 0 && dropout < 1 else { throw QuarryError("dropout must be in [0, 1)") }
        // Token ids are int32; the other limits keep every product below in range (each tensor's
        // size fits an Int), far above any model a CPU trains.
        guard vocabSize <= Int(Int32.max) else { throw QuarryError("vocab_size \(vocabSize) is more than int32 token ids can name") }
        guard nLayer <= Self.maximumLayers, nEmbd <= Self.maximumWidth, nPositions <= Self.maximumPositions else {
            throw QuarryError("the model is too large to be a real one: n_layer \(nLayer) (at most \(Self.maximumLayers)), "
                              + "n_embd \(nEmbd) (at most \(Self.maximumWidth)), n_positions \(nPositions) (at most \(Self.maximumPositions))")
        }
        var total = 0
        for (_, shape) in tensorShapes {
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (sum, sumOverflow) = total.addingReportingOverflow(count)
            guard !overflow, !sumOverflow else { throw QuarryError("the model's parameter count overflows") }
            total = sum
        }
        // Parameters, gradients and AdamW's two moments: four float32 copies.
        let bytes = total.multipliedReportingOverflow(by: 16)
        guard !bytes.overflow, UInt64(bytes.partialValue) <= ProcessInfo.processInfo.physicalMemory else {
            throw QuarryError("the model has \(total) parameters: training it needs \(ProgressLine.formatBytes(bytes.overflow ? .max : bytes.partialValue)), "
                              + "more than this machine's \(ProgressLine.formatBytes(Int(clamping: ProcessInfo.processInfo.physicalMemory))) of memory")
        }
    }

    static let maximumLayers = 1 << 12
    static let maximumWidth = 1 << 16
    static let maximumPositions = 1 << 24

    /// Parameters in each tensor, in the order they are laid out in one buffer.
    public var tensorShapes: [(name: GPT2Tensor, shape: [Int])] {
        let c = nEmbd, l = nLayer
        return [
            (.wte, [vocabSize, c]), (.wpe, [nPositions, c]),
            (.ln1w, [l, c]), (.ln1b, [l, c]),
            (.qkvw, [l, c, 3 * c]), (.qkvb, [l, 3 * c]),        // Conv1D orientation: [in, out]
            (.attprojw, [l, c, c]), (.attprojb, [l, c]),
            (.ln2w, [l, c]), (.ln2b, [l, c]),
            (.fcw, [l, c, 4 * c]), (.fcb, [l, 4 * c]),
            (.fcprojw, [l, 4 * c, c]), (.fcprojb, [l, c]),
            (.lnfw, [c]), (.lnfb, [c]),
        ]
    }

    public var parameterCount: Int { tensorShapes.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}
