import Foundation
import QuarryCore

/// Low-rank adapters (LoRA, Hu et al. 2021) on a Llama's projections, as PEFT makes them: each
/// adapted projection W [out, in] gains s·B·A with A [r, in], B [out, r], s = alpha / r, and
/// dropout on the adapter's input while training. The base stays frozen: only A and B train.
/// A starts as PEFT's kaiming-uniform (±1/√in), B at zero, so a new adapter changes nothing.
public struct LoRAConfig: Sendable, Equatable {
    public var rank = 8
    public var alpha = 16.0
    public var dropout = 0.05
    public var targets: [LoRATarget] = [.query, .key, .value, .output]

    public init(rank: Int = 8, alpha: Double = 16, dropout: Double = 0.05, targets: [LoRATarget] = [.query, .key, .value, .output]) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets
    }

    public var scale: Double { alpha / Double(rank) }

    public func validate() throws {
        guard (1...4096).contains(rank) else { throw QuarryError("LoRA rank \(rank) must be between 1 and 4096") }
        guard alpha > 0, alpha.isFinite else { throw QuarryError("LoRA alpha \(alpha) must be positive") }
        guard dropout >= 0 && dropout < 1 else { throw QuarryError("LoRA dropout \(dropout) must be in [0, 1)") }
        guard !targets.isEmpty, Set(targets).count == targets.count else { throw QuarryError("LoRA targets must be distinct and at least one") }
    }
}

/// A projection an adapter can sit on, with PEFT's module name for it.
public enum LoRATarget: String, Sendable, CaseIterable, Codable {
    case query = "q", key = "k", value = "v", output = "o", gate, up, down

    public var moduleName: String {
        switch self {
        case .query: "q_proj"
        case .key: "k_proj"
        case .value: "v_proj"
        case .output: "o_proj"
        case .gate: "gate_proj"
        case .up: "up_proj"
        case .down: "down_proj"
        }
    }

    /// The module's path under a Llama's `model.layers.N.`.
    public var modulePath: String { ([.query, .key, .value, .output] as [LoRATarget]).contains(self) ? "self_attn." + moduleName : "mlp." + moduleName }

    var tensor: LlamaTensor {
        switch self {
        case .query: .query
        case .key: .key
        case .value: .value
        case .output: .attentionOutput
        case .gate: .gate
        case .up: .up
        case .down: .down
        }
    }

    /// (in, out) of the projection.
    func shape(_ c: LlamaConfig) -> (inputs: Int, outputs: Int) {
        switch self {
        case .query, .output: (c.nEmbd, c.nEmbd)
        case .key, .value: (c.nEmbd, c.kvWidth)
        case .gate, .up: (c.nEmbd, c.intermediateSize)
        case .down: (c.intermediateSize, c.nEmbd)
        }
    }
}

/// The adapters' weights and gradients, one buffer each: per target, A of every layer
/// ([L, r, in]) then B of every layer ([L, out, r]).
public struct LoRAAdapters<T: TrainingScalar> {
    public let config: LoRAConfig
    public internal(set) var parameters: [T]
    public internal(set) var gradients: [T]
    /// Where each target's A and B start.
    let offsets: [LoRATarget: (a: Int, b: Int)]
    let shapes: [LoRATarget: (inputs: Int, outputs: Int)]
    /// Dropout masks follow this seed and the pass number (made again in backward, never stored).
    var dropoutSeed: UInt64 = 0x10AA
    var dropoutCounter: UInt64 = 0

    init(config: LoRAConfig, model: LlamaConfig, seed: UInt64) throws {
        try config.validate()
        self.config = config
        var offsets: [LoRATarget: (Int, Int)] = [:], shapes: [LoRATarget: (Int, Int)] = [:]
        var total = 0
        var initial: [T] = []
        var rng = SplitMix64(seed: seed ^ 0x10AA_5EED)
        for target in config.targets {
            let (inputs, outputs) = target.shape(model)
            shapes[target] = (inputs, outputs)
            let a = total, b = a + model.nLayer * config.rank * inputs
            offsets[target] = (a, b)
            total = b + model.nLayer * outputs * config.rank
            let bound = 1 / Double(inputs).squareRoot()
            initial += (0..<(b - a)).map { _ in T(rng.uniform() * 2 * bound - bound) }
            initial += [T](repeating: 0, count: total - b)
        }
        self.offsets = offsets
        self.shapes = shapes
        parameters = initial
        gradients = [T](repeating: 0, count: total)
    }

    /// The named tensors as PEFT's adapter_model.safetensors holds them, with their ranges.
    public func namedTensors(layers: Int) -> [(name: String, shape: [Int], range: Range<Int>)] {
        var out: [(String, [Int], Range<Int>)] = []
        for target in config.targets {
            guard let (a, b) = offsets[target], let (inputs, outputs) = shapes[target] else { continue }
            let r = config.rank
            for layer in 0..<layers {
                let prefix = "base_model.model.model.layers.\(layer).\(target.modulePath)."
                out.append((prefix + "lora_A.weight", [r, inputs], (a + layer * r * inputs)..<(a + (layer + 1) * r * inputs)))
                out.append((prefix + "lora_B.weight", [outputs, r], (b + layer * outputs * r)..<(b + (layer + 1) * outputs * r)))
            }
        }
        return out
    }

    /// Whether element `index` of `target`'s input in `layer` is kept by this pass's dropout:
    /// a hash of the seed, the pass, the place and the index, so backward draws the same mask.
    func keeps(_ target: LoRATarget, layer: Int, index: Int) -> Bool {
        var h = dropoutSeed ^ (dropoutCounter &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(layer) << 48) ^ (UInt64(target.hashKey) << 40) ^ UInt64(index)
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
        return Double(h >> 11) * 0x1p-53 >= config.dropout
    }
}

extension LoRATarget {
    var hashKey: Int { LoRATarget.allCases.firstIndex(of: self) ?? 0 }
}
