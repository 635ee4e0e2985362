import Foundation
import QuarryCore

/// What the training loops (pre-training, fine-tuning a classifier or a chat model) and
/// evaluation need of a model: GPT-2 and the Llama family both train through it. The passes are
/// the models' own, specialised for Float; this only names them alike.
public protocol TrainableLanguageModel: AnyObject {
    /// Every weight, in the model's own order.
    var parameters: [Float] { get }
    /// The weights training changes (all of them, or a frozen model's adapters): what the
    /// optimizer, clipping and fine-tuning's weight averaging work on.
    var trainableParameters: [Float] { get set }
    /// The width of the final hidden states (`features`).
    var width: Int { get }
    var parameterCount: Int { get }
    /// The longest sequence the model takes (n_positions, max_position_embeddings).
    var contextLength: Int { get }
    var vocabularySize: Int { get }
    /// One line on the model's shape, for the user.
    var shapeSummary: String { get }

    /// B sequences of T tokens with their targets; returns the mean loss. `training` turns on
    /// dropout (for models that have it) and keeps what `backward` needs.
    func loss(tokens: [Int32], targets: [Int32], B: Int, T: Int, training: Bool) throws -> Float
    /// The same over texts of `lengths` tokens laid end to end in `tokens` (no padding: each
    /// attends to itself, its positions from 0); targets -1 carry no loss. Nil when none counts.
    func loss(tokens: [Int32], targets: [Int32], lengths: [Int], training: Bool) throws -> Float?
    /// Each row's final (normed) hidden state, [rows, width], for a task head; a training pass
    /// keeps what `backward(featureGradient:)` needs.
    func features(tokens: [Int32], lengths: [Int], training: Bool) throws -> [Float]
    /// Each row's residual stream after block `layer` (1…L; L is the final states before the
    /// last norm), for probing an intermediate block. Inference only: no backward follows.
    func states(tokens: [Int32], lengths: [Int], afterBlock layer: Int) throws -> [Float]
    var layerCount: Int { get }
    /// Adds the gradients of the last training pass's loss.
    func backward() throws
    /// Adds the gradients of a head's loss, given its gradient with respect to the last `features`.
    func backward(featureGradient: [Float]) throws
    func zeroGradients()
    /// Divides every gradient by `divisor` (the mean over accumulated batches).
    func divideGradients(by divisor: Float)
    /// Scales the gradients so their global norm is at most `maxNorm`; returns the norm before.
    func clipGradients(maxNorm: Float) -> Float
    /// AdamW over this model's parameters, decaying its 2-D weights only; `layerDecay` below 1
    /// gives lower blocks and the embeddings smaller steps (block i of L: layerDecay^(L−i)).
    func makeOptimizer(weightDecay: Float, layerDecay: Float) -> AdamW
    func step(_ optimizer: inout AdamW, lr: Float)
    /// Bytes a training pass over `rows` tokens in sequences of `longest` keeps (nil: overflow).
    func memoryForBatch(rows: Int, longest: Int) -> Int?
    /// Dropout masks drawn from `seed`, the `counter`-th training pass next (resume continues them).
    func restartDropout(seed: UInt64, counter: UInt64)
    /// The model's files in a run directory (config.json, model.safetensors), `metadata` in the
    /// safetensors header.
    func saveCheckpoint(to directory: String, endOfTextID: Int32?, metadata: [String: String]) throws
}

extension TrainableLanguageModel {
    public func makeOptimizer(weightDecay: Float) -> AdamW { makeOptimizer(weightDecay: weightDecay, layerDecay: 1) }

    /// Mean loss over `batches` batches of windows drawn with `seed`: the same windows every time
    /// for the same seed (validation during pre-training, `quarry eval` on shards).
    public func meanLoss(on windows: TokenWindows, batch B: Int, context n: Int, batches: Int, seed: UInt64) throws -> Double {
        var rng = SplitMix64(seed: seed)
        var inputs = [Int32](repeating: 0, count: B * n), targets = inputs
        var total = 0.0
        for _ in 0..<batches {
            try windows.sample(B: B, T: n, rng: &rng, inputs: &inputs, targets: &targets)
            total += Double(try loss(tokens: inputs, targets: targets, B: B, T: n, training: false))
        }
        return total / Double(max(1, batches))
    }
}

extension GPT: TrainableLanguageModel where T == Float {
    public var parameterCount: Int { config.parameterCount }
    public var contextLength: Int { config.nPositions }
    public var vocabularySize: Int { config.vocabSize }
    public var shapeSummary: String { "GPT-2, \(config.nLayer) layers × \(config.nEmbd)" }
    public var trainableParameters: [Float] {
        get { adapters?.parameters ?? parameters }
        set { if adapters != nil { adapters?.parameters = newValue } else { parameters = newValue } }
    }
    public var width: Int { config.nEmbd }

    public func loss(tokens: [Int32], targets: [Int32], B: Int, T n: Int, training: Bool) throws -> Float {
        try forward(tokens: tokens, targets: targets, B: B, T: n, pass: training ? .training : .inference) ?? 0
    }

    public func loss(tokens: [Int32], targets: [Int32], lengths: [Int], training: Bool) throws -> Float? {
        try forward(tokens: tokens, targets: targets, Layers.Sequences(lengths: lengths), pass: training ? .training : .inference)
    }

    public func features(tokens: [Int32], lengths: [Int], training: Bool) throws -> [Float] {
        try forward(tokens: tokens, targets: nil, Layers.Sequences(lengths: lengths), pass: .hidden(training: training))
        return Array(hidden())
    }

    public func backward(featureGradient: [Float]) throws { try backward(hiddenGradient: featureGradient) }

    public var layerCount: Int { config.nLayer }
    public func states(tokens: [Int32], lengths: [Int], afterBlock layer: Int) throws -> [Float] {
        throw QuarryError("pooling an intermediate block (--layer) is for Llama-family models so far")
    }

    public func divideGradients(by divisor: Float) {
        if adapters != nil { adapters?.gradients.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] /= divisor } }; return }
        for i in gradients.indices { gradients[i] /= divisor }
    }
    public func makeOptimizer(weightDecay: Float, layerDecay: Float) -> AdamW {
        // Adapters: every A and B is a matrix, decayed (as Hugging Face's Trainer does).
        if let adapters { return AdamW(count: adapters.parameters.count, decay: [Float](repeating: 1, count: adapters.parameters.count), weightDecay: weightDecay) }
        return AdamW(model: self, weightDecay: weightDecay, layerDecay: layerDecay)
    }
    public func step(_ optimizer: inout AdamW, lr: Float) { optimizer.update(self, lr: lr) }

    public func restartDropout(seed: UInt64, counter: UInt64) {
        dropoutSeed = seed
        dropoutCounter = counter
    }

    /// A frozen model with adapters saves the adapters only, in PEFT's layout; else the whole model.
    public func saveCheckpoint(to directory: String, endOfTextID: Int32?, metadata: [String: String]) throws {
        if let adapters {
            try LoRACheckpoint.save(adapters, layers: config.nLayer, base: baseModelName ?? "", to: directory, metadata: metadata)
        } else {
            try Checkpoint.save(self, to: directory, endOfTextID: endOfTextID, metadata: metadata)
        }
    }
}

extension Llama: TrainableLanguageModel where T == Float {
    public var parameterCount: Int { config.parameterCount }
    public var contextLength: Int { config.nPositions }
    public var vocabularySize: Int { config.vocabSize }
    public var shapeSummary: String {
        "\(config.architecture == .llama ? "Llama" : "Qwen2"), \(config.nLayer) layers × \(config.nEmbd), "
            + "\(config.nHead) heads / \(config.nKVHead) KV heads"
    }
    public var width: Int { config.nEmbd }
    public var trainableParameters: [Float] {
        get { adapters?.parameters ?? parameters }
        set { if adapters != nil { adapters?.parameters = newValue } else { parameters = newValue } }
    }

    // No dropout in any pass: the Llama configs quarry reads have none (attention_dropout 0).
    public func loss(tokens: [Int32], targets: [Int32], B: Int, T n: Int, training: Bool) throws -> Float {
        try forward(tokens: tokens, targets: targets, B: B, T: n, training: training) ?? 0
    }

    public func loss(tokens: [Int32], targets: [Int32], lengths: [Int], training: Bool) throws -> Float? {
        try forward(tokens: tokens, targets: targets, Layers.Sequences(lengths: lengths), training: training)
    }

    public func features(tokens: [Int32], lengths: [Int], training: Bool) throws -> [Float] {
        _ = try forward(tokens: tokens, targets: nil, Layers.Sequences(lengths: lengths), headless: true)
        return Array(features())
    }

    public func backward(featureGradient: [Float]) throws { try backwardPass(featureGradient: featureGradient) }

    public var layerCount: Int { config.nLayer }
    public func states(tokens: [Int32], lengths: [Int], afterBlock layer: Int) throws -> [Float] {
        guard (1...config.nLayer).contains(layer) else { throw QuarryError("--layer \(layer): the model has blocks 1…\(config.nLayer)") }
        _ = try forward(tokens: tokens, targets: nil, Layers.Sequences(lengths: lengths), headless: true)
        return Array(residualStream(afterBlock: layer))
    }

    public func divideGradients(by divisor: Float) {
        if adapters != nil { adapters?.gradients.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] /= divisor } }; return }
        for i in gradients.indices { gradients[i] /= divisor }
    }

    public func clipGradients(maxNorm: Float) -> Float {
        // In place: a copy held here would make the scaling copy every gradient.
        if adapters != nil { return adapters?.gradients.clipNorm(to: maxNorm) ?? 0 }
        return gradients.clipNorm(to: maxNorm)
    }

    public func makeOptimizer(weightDecay: Float, layerDecay: Float) -> AdamW {
        // Adapters: every A and B is a matrix, decayed (as Hugging Face's Trainer does).
        if let adapters { return AdamW(count: adapters.parameters.count, decay: [Float](repeating: 1, count: adapters.parameters.count), weightDecay: weightDecay) }
        var decay = [Float](repeating: 0, count: parameters.count)
        var rates = [Float](repeating: 1, count: parameters.count)
        let layers = config.nLayer
        for (tensor, layer, _, range) in config.namedTensors {
            if tensor.isDecayed { for i in range { decay[i] = 1 } }
            let rate: Float = switch (tensor, layer) {
            case (.embedding, _): Float.pow(layerDecay, layers + 1)
            case (_, let layer?): Float.pow(layerDecay, layers - layer)
            default: 1   // the final norm and an untied head
            }
            for i in range { rates[i] = rate }
        }
        return AdamW(count: parameters.count, decay: decay, weightDecay: weightDecay, rateScale: layerDecay == 1 ? nil : rates)
    }

    public func memoryForBatch(rows: Int, longest: Int) -> Int? {
        guard longest > 0 else { return nil }
        return memoryForBatch(lengths: [Int](repeating: longest, count: max(1, rows / longest)))
    }

    public func restartDropout(seed: UInt64, counter: UInt64) {}

    /// A frozen model with adapters saves the adapters only, in PEFT's layout; else the whole model.
    public func saveCheckpoint(to directory: String, endOfTextID: Int32?, metadata: [String: String]) throws {
        if let adapters {
            try LoRACheckpoint.save(adapters, layers: config.nLayer, base: baseModelName ?? "", to: directory, metadata: metadata)
        } else {
            try LlamaCheckpoint.save(self, to: directory, eos: endOfTextID, metadata: metadata)
        }
    }
}

extension Llama where T == Float {
    /// Random weights as transformers initialises a new Llama: every matrix and the embedding
    /// normal(0, 0.02) (`initializer_range`), RMSNorm gains 1, biases 0.
    public func initialise(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var offset = 0
        for (tensor, shape) in config.tensorShapes {
            let count = shape.reduce(1, *)
            for i in offset..<(offset + count) {
                parameters[i] = switch tensor.initialisation {
                case .one: 1
                case .zero: 0
                case .normal: Float(rng.normal() * 0.02)
                }
            }
            offset += count
        }
    }
}

extension LlamaTensor {
    enum Initialisation { case normal, one, zero }

    var initialisation: Initialisation {
        switch self {
        case .attentionNorm, .mlpNorm, .finalNorm: .one
        case .queryBias, .keyBias, .valueBias: .zero
        default: .normal
        }
    }

    /// AdamW decays the matrices and the embedding, not the norms' gains or the biases (as nanoGPT).
    var isDecayed: Bool { initialisation == .normal }
}

extension LlamaConfig {
    /// `pretrain --preset`s of the Llama family; the vocabulary comes from the tokenizer.
    /// `llama-tiny` is `tiny`'s size (4 layers × 256, context 256) with Llama's parts: 2 KV heads
    /// for 4 query heads, a SwiGLU MLP of 8/3 the width (rounded to 16), a tied head.
    public static func preset(_ name: String, vocabSize: Int) throws -> LlamaConfig? {
        switch name {
        case "llama-tiny":
            return LlamaConfig(vocabSize: vocabSize, nLayer: 4, nHead: 4, nKVHead: 2, nEmbd: 256, intermediateSize: 688,
                               nPositions: 256, ropeTheta: 10_000, rmsNormEps: 1e-5, tiedEmbeddings: true)
        case "llama-small":
            return LlamaConfig(vocabSize: vocabSize, nLayer: 6, nHead: 6, nKVHead: 2, nEmbd: 384, intermediateSize: 1024,
                               nPositions: 256, ropeTheta: 10_000, rmsNormEps: 1e-5, tiedEmbeddings: true)
        default: return nil
        }
    }
}
