import Foundation
import QuarryCore

/// A Llama-family decoder's shape, as a plain value: Llama 2/3, SmolLM2, TinyLlama, Qwen2
/// (q/k/v biases). Its fields are Hugging Face `config.json`'s (LlamaConfig, Qwen2Config).
public struct LlamaConfig: Sendable, Equatable {
    public var architecture: Architecture
    public var vocabSize: Int          // vocab_size
    public var nLayer: Int             // num_hidden_layers
    public var nHead: Int              // num_attention_heads
    public var nKVHead: Int            // num_key_value_heads: grouped-query attention shares each K/V head
    public var nEmbd: Int              // hidden_size
    public var intermediateSize: Int   // intermediate_size: the SwiGLU MLP's width
    public var nPositions: Int         // max_position_embeddings
    public var ropeTheta: Double       // rope_theta: the rotary embedding's base
    public var rmsNormEps: Double      // rms_norm_eps
    public var tiedEmbeddings: Bool    // tie_word_embeddings: the LM head is the token embedding
    public var attentionBias: Bool     // biases on q, k and v (Qwen2)

    public enum Architecture: String, Sendable, CaseIterable {
        case llama, qwen2
        /// Hugging Face's class name for `architectures`.
        public var huggingFaceClass: String { self == .llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM" }
    }

    public init(architecture: Architecture = .llama, vocabSize: Int, nLayer: Int, nHead: Int, nKVHead: Int, nEmbd: Int,
                intermediateSize: Int, nPositions: Int, ropeTheta: Double = 10_000, rmsNormEps: Double = 1e-5,
                tiedEmbeddings: Bool = true, attentionBias: Bool = false) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.nLayer = nLayer
        self.nHead = nHead
        self.nKVHead = nKVHead
        self.nEmbd = nEmbd
        self.intermediateSize = intermediateSize
        self.nPositions = nPositions
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.tiedEmbeddings = tiedEmbeddings
        self.attentionBias = attentionBias
    }

    public var headSize: Int { nEmbd / nHead }
    public var kvWidth: Int { nKVHead * headSize }

    /// Checked before anything is allocated: configs come from files others wrote.
    public func validate() throws {
        guard vocabSize > 0, nLayer > 0, nHead > 0, nKVHead > 0, nEmbd > 0, intermediateSize > 0, nPositions > 0 else {
            throw QuarryError("model sizes must be positive")
        }
        guard nEmbd % nHead == 0, headSize % 2 == 0 else { throw QuarryError("hidden_size (\(nEmbd)) must split into \(nHead) heads of an even size") }
        guard nHead % nKVHead == 0 else { throw QuarryError("num_attention_heads (\(nHead)) must be a multiple of num_key_value_heads (\(nKVHead))") }
        guard ropeTheta > 0, ropeTheta.isFinite, rmsNormEps > 0, rmsNormEps < 1 else { throw QuarryError("rope_theta and rms_norm_eps must be positive") }
        guard vocabSize <= Int(Int32.max) else { throw QuarryError("vocab_size \(vocabSize) is more than int32 token ids can name") }
        guard nLayer <= ModelConfig.maximumLayers, nEmbd <= ModelConfig.maximumWidth, intermediateSize <= 4 * ModelConfig.maximumWidth,
              nPositions <= ModelConfig.maximumPositions else {
            throw QuarryError("the model is too large to be a real one: \(nLayer) layers of width \(nEmbd), MLP \(intermediateSize), context \(nPositions)")
        }
        var total = 0
        for (_, shape) in tensorShapes {
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw QuarryError("the model's parameter count overflows") }
                count = p
            }
            let (sum, o) = total.addingReportingOverflow(count)
            guard !o else { throw QuarryError("the model's parameter count overflows") }
            total = sum
        }
        let bytes = total.multipliedReportingOverflow(by: 4)
        guard !bytes.overflow, UInt64(bytes.partialValue) <= ProcessInfo.processInfo.physicalMemory else {
            throw QuarryError("the model has \(total) parameters: \(ProgressLine.formatBytes(bytes.overflow ? .max : bytes.partialValue)) in float32, "
                              + "more than this machine's \(ProgressLine.formatBytes(Int(clamping: ProcessInfo.processInfo.physicalMemory))) of memory")
        }
    }

    /// Parameters in each tensor, in the order they are laid out in one buffer. Linear weights
    /// are [out, in] per layer (PyTorch's orientation, the one HF and GGUF files store).
    public var tensorShapes: [(name: LlamaTensor, shape: [Int])] {
        let c = nEmbd, l = nLayer, kv = kvWidth, f = intermediateSize
        var shapes: [(LlamaTensor, [Int])] = [(.embedding, [vocabSize, c]), (.attentionNorm, [l, c]), (.query, [l, c, c])]
        if attentionBias { shapes.append((.queryBias, [l, c])) }
        shapes += [(.key, [l, kv, c])]
        if attentionBias { shapes.append((.keyBias, [l, kv])) }
        shapes += [(.value, [l, kv, c])]
        if attentionBias { shapes.append((.valueBias, [l, kv])) }
        shapes += [(.attentionOutput, [l, c, c]), (.mlpNorm, [l, c]), (.gate, [l, f, c]), (.up, [l, f, c]), (.down, [l, c, f]), (.finalNorm, [c])]
        if !tiedEmbeddings { shapes.append((.lmHead, [vocabSize, c])) }
        return shapes
    }

    public var parameterCount: Int { tensorShapes.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

/// The tensors of a Llama-family model, with their names in Hugging Face and GGUF files.
public enum LlamaTensor: CaseIterable, Sendable {
    case embedding, attentionNorm, query, queryBias, key, keyBias, value, valueBias, attentionOutput
    case mlpNorm, gate, up, down, finalNorm, lmHead

    public var isPerLayer: Bool { ![.embedding, .finalNorm, .lmHead].contains(self) }

    public func huggingFaceName(layer: Int?) -> String {
        let block = "model.layers.\(layer ?? 0)."
        switch self {
        case .embedding: return "model.embed_tokens.weight"
        case .attentionNorm: return block + "input_layernorm.weight"
        case .query: return block + "self_attn.q_proj.weight"
        case .queryBias: return block + "self_attn.q_proj.bias"
        case .key: return block + "self_attn.k_proj.weight"
        case .keyBias: return block + "self_attn.k_proj.bias"
        case .value: return block + "self_attn.v_proj.weight"
        case .valueBias: return block + "self_attn.v_proj.bias"
        case .attentionOutput: return block + "self_attn.o_proj.weight"
        case .mlpNorm: return block + "post_attention_layernorm.weight"
        case .gate: return block + "mlp.gate_proj.weight"
        case .up: return block + "mlp.up_proj.weight"
        case .down: return block + "mlp.down_proj.weight"
        case .finalNorm: return "model.norm.weight"
        case .lmHead: return "lm_head.weight"
        }
    }

    public func ggufName(layer: Int?) -> String {
        let block = "blk.\(layer ?? 0)."
        switch self {
        case .embedding: return "token_embd.weight"
        case .attentionNorm: return block + "attn_norm.weight"
        case .query: return block + "attn_q.weight"
        case .queryBias: return block + "attn_q.bias"
        case .key: return block + "attn_k.weight"
        case .keyBias: return block + "attn_k.bias"
        case .value: return block + "attn_v.weight"
        case .valueBias: return block + "attn_v.bias"
        case .attentionOutput: return block + "attn_output.weight"
        case .mlpNorm: return block + "ffn_norm.weight"
        case .gate: return block + "ffn_gate.weight"
        case .up: return block + "ffn_up.weight"
        case .down: return block + "ffn_down.weight"
        case .finalNorm: return "output_norm.weight"
        case .lmHead: return "output.weight"
        }
    }
}

/// A Llama-family model's weights: one contiguous buffer, each tensor a range of it. Float for
/// inference and training, Double for the gradient checks. Training (forward over a batch,
/// backward) is in Llama+Training.swift; generation one token at a time in LlamaGenerator.
public final class Llama<T: TrainingScalar>: @unchecked Sendable {
    public let config: LlamaConfig
    public var parameters: [T]   // settable: fine-tuning averages and restores weights of the same shape
    /// Allocated by the first backward pass: inference never pays for them.
    public internal(set) var gradients: [T] = []
    public let offsets: [LlamaTensor: Int]
    /// Buffers of the last training forward pass (see Llama+Training.swift).
    var pass = LlamaPassState<T>()
    /// Low-rank adapters (LoRA.swift). With them the base is frozen: backward computes the
    /// adapters' gradients and the inputs' only, and never allocates the base's gradients.
    public internal(set) var adapters: LoRAAdapters<T>?
    /// What the model was loaded from (a path or ORG/NAME), written as an adapter run's base.
    public var baseModelName: String?
    /// The loss is taken this many rows at a time: only that many rows of logits exist at once
    /// ([256, V] is 50 MB for SmolLM2's 49,152 tokens; [N, V] at 16 × 128 was 400 MB), and a
    /// training pass turns each chunk into the head's gradients right away, as GPT.swift does.
    var lossChunkRows = 256

    public init(config: LlamaConfig, parameters: [T]) throws {
        try config.validate()
        guard parameters.count == config.parameterCount else {
            throw QuarryError("\(parameters.count) parameters given for a model of \(config.parameterCount)")
        }
        self.config = config
        self.parameters = parameters
        var offsets: [LlamaTensor: Int] = [:]
        var offset = 0
        for (name, shape) in config.tensorShapes {
            offsets[name] = offset
            offset += shape.reduce(1, *)
        }
        self.offsets = offsets
    }
}

extension LlamaConfig {
    /// Each tensor as the files name it (one entry per layer for per-layer tensors), with its
    /// shape and its range of the parameter buffer.
    public var namedTensors: [(tensor: LlamaTensor, layer: Int?, shape: [Int], range: Range<Int>)] {
        layerSlices(tensorShapes, layers: nLayer, isPerLayer: \.isPerLayer)
    }
}

/// Stacked tensors ([layers, …] in one buffer) cut into one entry per layer, as checkpoint files
/// store them; the others whole. Ranges are into the buffer the shapes lay out in order.
func layerSlices<Name>(_ shapes: [(name: Name, shape: [Int])], layers: Int, isPerLayer: (Name) -> Bool)
    -> [(tensor: Name, layer: Int?, shape: [Int], range: Range<Int>)] {
    var out: [(Name, Int?, [Int], Range<Int>)] = []
    var offset = 0
    for (name, shape) in shapes {
        let count = shape.reduce(1, *)
        if isPerLayer(name) {
            let per = count / layers
            for layer in 0..<layers {
                out.append((name, layer, Array(shape.dropFirst()), (offset + layer * per)..<(offset + (layer + 1) * per)))
            }
        } else {
            out.append((name, nil, shape, offset..<(offset + count)))
        }
        offset += count
    }
    return out
}

extension Llama {
    /// Puts new adapters on the model (PEFT's initialisation: the model's outputs do not change).
    public func attachAdapters(_ config: LoRAConfig, seed: UInt64) throws {
        adapters = try LoRAAdapters(config: config, model: self.config, seed: seed)
        gradients = []
    }

    /// The base takes no gradient: adapters are on.
    var baseFrozen: Bool { adapters != nil }

    /// Folds the adapters into the weights (W += s·B·A) and takes them off: a plain model with
    /// the adapted model's outputs, for generation and for `--merge`.
    public func mergeAdapters() {
        guard let lora = adapters else { return }
        for target in lora.config.targets {
            guard let (inputs, outputs) = lora.shapes[target], let tensor = target.tensor, let base = offsets[tensor] else { continue }
            for l in 0..<config.nLayer {
                let w = base + l * outputs * inputs   // [out, in], as s·B·A
                for (i, d) in lora.delta(target, layer: l).enumerated() { parameters[w + i] += d }
            }
        }
        adapters = nil
    }
}
