import Foundation
import QuarryCore

/// Low-rank adapters (LoRA, Hu et al. 2021) on a Llama's or a GPT-2's projections, as PEFT makes them: each
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

/// A projection an adapter can sit on, with PEFT's module name for it. A Llama's q, k and v are
/// three projections; GPT-2's are one (`c_attn`, `qkv`), which PEFT adapts as a whole.
public enum LoRATarget: String, Sendable, CaseIterable, Codable {
    case query = "q", key = "k", value = "v", output = "o", gate, up, down
    case fusedQKV = "qkv"

    public var moduleName: String {
        switch self {
        case .query: "q_proj"
        case .key: "k_proj"
        case .value: "v_proj"
        case .output: "o_proj"
        case .gate: "gate_proj"
        case .up: "up_proj"
        case .down: "down_proj"
        case .fusedQKV: "c_attn"
        }
    }

    /// The module's path under a Llama's `model.layers.N.`.
    public var modulePath: String { ([.query, .key, .value, .output] as [LoRATarget]).contains(self) ? "self_attn." + moduleName : "mlp." + moduleName }

    /// The module's path under GPT-2's `transformer.h.N.` (nil: GPT-2 has no such projection).
    /// Both of GPT-2's output projections are `c_proj`, so the path names which one.
    public var gpt2ModulePath: String? {
        switch self {
        case .fusedQKV: "attn.c_attn"
        case .output: "attn.c_proj"
        case .up: "mlp.c_fc"
        case .down: "mlp.c_proj"
        case .query, .key, .value, .gate: nil
        }
    }

    /// Targets as `adapter_config.json`'s `target_modules` may name them (PEFT matches a name
    /// against the end of each module's path, so GPT-2's bare `c_proj` means both projections).
    static func named(_ module: String) -> [LoRATarget]? {
        if module == "c_proj" { return [.output, .down] }
        if let target = allCases.first(where: { $0.moduleName == module }) { return [target] }
        if let target = allCases.first(where: { $0.gpt2ModulePath.map { $0 == module || $0.hasSuffix("." + module) } ?? false }) { return [target] }
        return nil
    }

    /// The targets on GPT-2 for targets named as for a Llama: q, k and v together are `c_attn`;
    /// o, up and down keep their meaning. A part of q, k, v, or gate, has no GPT-2 projection.
    public static func forGPT2(_ targets: [LoRATarget]) throws -> [LoRATarget] {
        let qkv: Set<LoRATarget> = [.query, .key, .value]
        let named = Set(targets).intersection(qkv)
        guard named.isEmpty || named == qkv else {
            throw QuarryError("GPT-2's q, k and v are one projection (c_attn): adapt all three (q,k,v or qkv) or none")
        }
        guard !targets.contains(.gate) else { throw QuarryError("GPT-2's MLP has no gate projection: use up and down") }
        var out: [LoRATarget] = []
        for target in targets where !out.contains(qkv.contains(target) ? .fusedQKV : target) {
            out.append(qkv.contains(target) ? .fusedQKV : target)
        }
        return out
    }

    var tensor: LlamaTensor? {
        switch self {
        case .query: .query
        case .key: .key
        case .value: .value
        case .output: .attentionOutput
        case .gate: .gate
        case .up: .up
        case .down: .down
        case .fusedQKV: nil
        }
    }

    /// (in, out) of the projection on a Llama (nil: a Llama has no such projection).
    func shape(_ c: LlamaConfig) -> (inputs: Int, outputs: Int)? {
        switch self {
        case .query, .output: (c.nEmbd, c.nEmbd)
        case .key, .value: (c.nEmbd, c.kvWidth)
        case .gate, .up: (c.nEmbd, c.intermediateSize)
        case .down: (c.intermediateSize, c.nEmbd)
        case .fusedQKV: nil
        }
    }

    /// (in, out) of the projection on GPT-2 (nil: GPT-2 has no such projection).
    func shape(_ c: ModelConfig) -> (inputs: Int, outputs: Int)? {
        switch self {
        case .fusedQKV: (c.nEmbd, 3 * c.nEmbd)
        case .output: (c.nEmbd, c.nEmbd)
        case .up: (c.nEmbd, 4 * c.nEmbd)
        case .down: (4 * c.nEmbd, c.nEmbd)
        case .query, .key, .value, .gate: nil
        }
    }
}

/// The model family adapters belong to: it names their tensors as PEFT does.
public enum LoRAFamily: Sendable {
    case llama, gpt2

    func modulePrefix(_ target: LoRATarget, layer: Int) -> String {
        switch self {
        case .llama: "base_model.model.model.layers.\(layer).\(target.modulePath)."
        case .gpt2: "base_model.model.transformer.h.\(layer).\(target.gpt2ModulePath ?? target.moduleName)."
        }
    }

    /// The name `adapter_config.json` lists the target under.
    func moduleName(_ target: LoRATarget) -> String {
        switch self {
        case .llama: target.moduleName
        case .gpt2: target == .fusedQKV ? "c_attn" : target.gpt2ModulePath ?? target.moduleName
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

    public let family: LoRAFamily
    let layers: Int

    init(config: LoRAConfig, model: LlamaConfig, seed: UInt64) throws {
        var shapes: [(LoRATarget, Int, Int)] = []
        for target in config.targets {
            guard let (inputs, outputs) = target.shape(model) else {
                throw QuarryError("a Llama has no \(target.rawValue) projection: its targets are q, k, v, o, gate, up, down")
            }
            shapes.append((target, inputs, outputs))
        }
        try self.init(config: config, family: .llama, layers: model.nLayer, shapes: shapes, seed: seed)
    }

    init(config: LoRAConfig, model: ModelConfig, seed: UInt64) throws {
        var shapes: [(LoRATarget, Int, Int)] = []
        for target in config.targets {
            guard let (inputs, outputs) = target.shape(model) else {
                throw QuarryError("GPT-2 has no \(target.rawValue) projection: its targets are qkv (q,k,v), o, up, down")
            }
            shapes.append((target, inputs, outputs))
        }
        try self.init(config: config, family: .gpt2, layers: model.nLayer, shapes: shapes, seed: seed)
    }

    /// `shapes`: each target's (in, out), in the order of `config.targets`.
    private init(config: LoRAConfig, family: LoRAFamily, layers: Int, shapes targetShapes: [(LoRATarget, Int, Int)], seed: UInt64) throws {
        try config.validate()
        self.config = config
        self.family = family
        self.layers = layers
        var offsets: [LoRATarget: (Int, Int)] = [:], shapes: [LoRATarget: (Int, Int)] = [:]
        var total = 0
        var initial: [T] = []
        var rng = SplitMix64(seed: seed ^ 0x10AA_5EED)
        for (target, inputs, outputs) in targetShapes {
            shapes[target] = (inputs, outputs)
            let a = total, b = a + layers * config.rank * inputs
            offsets[target] = (a, b)
            total = b + layers * outputs * config.rank
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
                let prefix = family.modulePrefix(target, layer: layer)
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

/// The adapters' arithmetic over a pass's rows, shared by the model families (shapes: rows × in
/// for an input, rows × out for an output, H = s·dropout(inp)·Aᵀ rows × r kept for backward).
extension LoRAAdapters {
    typealias P = UnsafeMutablePointer<T>

    /// out += s·dropout(inp)·Aᵀ·Bᵀ for `target` in `layer`, keeping H in `h`; `buffer` (rows × in) takes the dropped input.
    func forward(_ target: LoRATarget, layer l: Int, inp: P, out: P, h: P, rows: Int, dropout: Bool, weights: P, buffer: P) {
        guard let (a, b) = offsets[target], let (inputs, outputs) = shapes[target] else { return }
        let r = config.rank
        let dropped = input(inp, target, layer: l, rows: rows, inputs: inputs, dropout: dropout, into: buffer)
        T.gemm(transA: false, transB: true, m: rows, n: r, k: inputs, a: dropped, lda: inputs, b: weights + a + l * r * inputs, ldb: inputs,
               beta: 0, c: h, ldc: r)
        let s = T(config.scale)
        for i in 0..<(rows * r) { h[i] *= s }
        T.gemm(transA: false, transB: true, m: rows, n: outputs, k: r, a: h, lda: r, b: weights + b + l * outputs * r, ldb: r,
               beta: 1, c: out, ldc: outputs)
    }

    /// An adapter's input: `inp` itself, or with this pass's dropout applied (into `buffer`).
    func input(_ inp: P, _ target: LoRATarget, layer: Int, rows: Int, inputs: Int, dropout: Bool, into buffer: P) -> P {
        guard dropout, config.dropout > 0 else { return inp }
        let keep = 1 / T(1 - config.dropout)
        for i in 0..<(rows * inputs) { buffer[i] = keeps(target, layer: layer, index: i) ? inp[i] * keep : 0 }
        return buffer
    }

    /// An adapter's backward: dB += doutᵀ·H, dH = s·dout·B, dA += dHᵀ·dropout(inp),
    /// dinp += dropout′(dH·A). `scratch` holds rows × (r + 2·in).
    func backward(_ target: LoRATarget, layer l: Int, weights: P, gradients: P, dout: P, inp: P, dinp: P, h: P, rows: Int, dropout: Bool, scratch: P) {
        guard let (a, b) = offsets[target], let (inputs, outputs) = shapes[target] else { return }
        let r = config.rank, s = T(config.scale)
        let dh = scratch, dropped = scratch + rows * r, dx = dropped + rows * inputs
        T.gemm(transA: true, transB: false, m: outputs, n: r, k: rows, a: dout, lda: outputs, b: h, ldb: r, beta: 1,
               c: gradients + b + l * outputs * r, ldc: r)
        T.gemm(transA: false, transB: false, m: rows, n: r, k: outputs, a: dout, lda: outputs, b: weights + b + l * outputs * r, ldb: r,
               beta: 0, c: dh, ldc: r)
        for i in 0..<(rows * r) { dh[i] *= s }
        let input = input(inp, target, layer: l, rows: rows, inputs: inputs, dropout: dropout, into: dropped)
        T.gemm(transA: true, transB: false, m: r, n: inputs, k: rows, a: dh, lda: r, b: input, ldb: inputs, beta: 1,
               c: gradients + a + l * r * inputs, ldc: inputs)
        guard dropout, config.dropout > 0 else {
            T.gemm(transA: false, transB: false, m: rows, n: inputs, k: r, a: dh, lda: r, b: weights + a + l * r * inputs, ldb: inputs,
                   beta: 1, c: dinp, ldc: inputs)
            return
        }
        T.gemm(transA: false, transB: false, m: rows, n: inputs, k: r, a: dh, lda: r, b: weights + a + l * r * inputs, ldb: inputs,
               beta: 0, c: dx, ldc: inputs)
        let keep = 1 / T(1 - config.dropout)
        for i in 0..<(rows * inputs) where keeps(target, layer: l, index: i) { dinp[i] += dx[i] * keep }
    }

    /// s·B·A of `target` in `layer`, [out, in]: what merging adds to the base's weight.
    func delta(_ target: LoRATarget, layer l: Int) -> [T] {
        guard let (a, b) = offsets[target], let (inputs, outputs) = shapes[target] else { return [] }
        let r = config.rank, s = T(config.scale), aStart = a + l * r * inputs, bStart = b + l * outputs * r
        var out = [T](repeating: 0, count: outputs * inputs)
        for o in 0..<outputs {
            for i in 0..<inputs {
                var sum: T = 0
                for k in 0..<r { sum += parameters[bStart + o * r + k] * parameters[aStart + k * inputs + i] }
                out[o * inputs + i] = s * sum
            }
        }
        return out
    }
}
