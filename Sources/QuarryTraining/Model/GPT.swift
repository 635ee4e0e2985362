import Foundation
import QuarryCore

/// GPT-2: token + position embeddings, pre-LayerNorm blocks of causal self-attention and a
/// GELU MLP of width 4·C, a final LayerNorm and an LM head tied to the token embedding.
/// Parameters, gradients and activations are each one contiguous buffer, allocated when the
/// batch shape is first seen: nothing is allocated per step.
///
/// Dropout (`config.dropout`) applies to training passes only; `forward` never drops.
public final class GPT<T: TrainingScalar> {
    public private(set) var config: ModelConfig
    public var parameters: [T]   // settable: fine-tuning averages and restores weights of the same shape
    public internal(set) var gradients: [T]
    let offsets: [GPT2Tensor: Int]
    private var activations: [T] = []
    private var activationGradients: [T] = []
    private var activationOffsets: [String: Int] = [:]
    private var gradientOffsets: [String: Int] = [:]
    /// Rows of logits computed at a time by the head: the B·T·V logits never exist at once.
    static var headChunkRows: Int { 512 }
    /// Full logits (B·T·V), only for forward passes without targets (inference, `logits()`).
    private var fullLogits: [T] = []
    /// Set by a `.training` pass: the head's gradients (of the LM head and its input) are done.
    private var headGradientsReady = false
    /// Dropout: the seed and how many training forward passes have run (each gets new masks).
    public var dropoutSeed: UInt64 = 0x5EED
    public var dropoutCounter: UInt64 = 0
    /// The masks of the last training forward pass, for its backward.
    private var activeDropout: Layers.Dropout?
    /// Low-rank adapters (LoRA.swift). With them the base is frozen: backward computes the
    /// adapters' gradients and the inputs' only, and the base's gradients are never allocated.
    public internal(set) var adapters: LoRAAdapters<T>?
    /// What an adapter run names as its base (`base_model_name_or_path`).
    public var baseModelName: String?
    /// The last training pass drew LoRA dropout masks (backward draws them again).
    private var adapterDropout = false

    /// Attention backward's T×T scratch (dpre and datt) for each (sequence, head), reused each step.
    private var attentionScratch: [T] = []
    /// The sequences of the last forward pass, and the rows and longest sequence its buffers are laid out for.
    private var sequences = Layers.Sequences(lengths: [])
    private var preparedShape: (rows: Int, longest: Int) = (0, 0)
    private var tokens: [Int32] = []
    private var targets: [Int32] = []
    public private(set) var lastLoss: T = 0

    public init(config: ModelConfig, parameters: [T]? = nil) throws {
        try config.validate()
        self.config = config
        var offsets: [GPT2Tensor: Int] = [:]
        var total = 0
        for (name, shape) in config.tensorShapes {
            offsets[name] = total
            total += shape.reduce(1, *)
        }
        self.offsets = offsets
        if let parameters {
            guard parameters.count == total else { throw QuarryError("expected \(total) parameters, got \(parameters.count)") }
            self.parameters = parameters
        } else {
            self.parameters = [T](repeating: 0, count: total)
        }
        gradients = [T](repeating: 0, count: total)
    }

    /// GPT-2's initialisation: normal(0, 0.02) weights, zero biases, unit LayerNorm gains, and
    /// residual projections scaled by 1/sqrt(2·layers); deterministic for a seed.
    public func initialise(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let residualScale = 1 / (2 * Double(config.nLayer)).squareRoot()
        for (name, shape) in config.tensorShapes {
            let start = offsets[name] ?? 0, count = shape.reduce(1, *)
            for i in 0..<count {
                let value: Double
                switch name.initialisation {
                case .one: value = 1
                case .zero: value = 0
                case .residualProjection: value = rng.normal() * 0.02 * residualScale
                case .normal: value = rng.normal() * 0.02
                }
                parameters[start + i] = T(value)
            }
        }
    }

    // MARK: buffers

    /// Activations kept for backward: (name, size, whether backward needs its gradient).
    /// Scores are normalised in place (no separate pre-softmax copy) and the probabilities
    /// overwrite the logits, then their gradient overwrites them in backward.
    private func activationLayout(rows bt: Int) -> [(String, Int, Bool)] {
        let c = config.nEmbd, l = config.nLayer, v = config.vocabSize
        return [
            ("encoded", bt * c, true), ("ln1", l * bt * c, true), ("ln1mean", l * bt, false), ("ln1rstd", l * bt, false),
            ("qkv", l * bt * 3 * c, true), ("atty", l * bt * c, true),
            // Projection outputs are only summed into the residual stream, and the GELU output is
            // recomputed from its input in backward: one layer's worth of each is enough.
            ("attproj", bt * c, true), ("residual2", l * bt * c, true), ("ln2", l * bt * c, true), ("ln2mean", l * bt, false),
            ("ln2rstd", l * bt, false), ("fch", l * bt * 4 * c, true), ("fchgelu", bt * 4 * c, true), ("fcproj", bt * c, true),
            ("residual3", l * bt * c, true), ("lnf", bt * c, true), ("lnfmean", bt, false), ("lnfrstd", bt, false),
            ("losses", bt, false), ("headChunk", Self.headChunkRows * v, false),
            // Each adapter's H = s·dropout(x)·Aᵀ per layer, and one input with dropout applied.
            ("loraH", l * bt * (adapters?.config.rank ?? 0) * (adapters?.config.targets.count ?? 0), false),
            ("loraX", adapters == nil ? 0 : bt * 4 * c, false),
        ]
    }

    /// Bytes of activations, their gradients and attention scratch that a pass over `rows`
    /// positions (the longest sequence `longest`) needs; nil when that does not even fit an Int.
    public func memoryForBatch(rows: Int, longest: Int) -> Int? {
        let c = config.nEmbd
        let perRow = activationLayout(rows: 1).filter { $0.0 != "headChunk" }.reduce(0) { $0 + $1.1 } + 16 * c
        let fixed = Self.headChunkRows * config.vocabSize
        let (floats, o1) = rows.multipliedReportingOverflow(by: perRow)
        let (square, o2) = longest.multipliedReportingOverflow(by: longest)
        let (scratch, o3) = square.multipliedReportingOverflow(by: 3 * Layers.scratchSlots)
        let (sum, o4) = floats.addingReportingOverflow(fixed + scratch)
        let (bytes, o5) = sum.multipliedReportingOverflow(by: MemoryLayout<T>.size)
        return o1 || o2 || o3 || o4 || o5 ? nil : bytes
    }

    private func prepare(_ sequences: Layers.Sequences) throws {
        self.sequences = sequences
        let bt = sequences.rows, n = sequences.longest
        guard preparedShape.rows != bt || preparedShape.longest != n else { return }
        // A batch size comes from a flag or a file: refused here rather than by the allocator.
        let memory = ProcessInfo.processInfo.physicalMemory
        guard let bytes = memoryForBatch(rows: bt, longest: n), UInt64(bytes) <= memory / 2 else {
            throw QuarryError("a batch of \(bt) positions needs \(memoryForBatch(rows: bt, longest: n).map(ProgressLine.formatBytes) ?? "more than an Int can count") "
                              + "for its activations, more than half this machine's \(ProgressLine.formatBytes(Int(clamping: memory))): lower --batch or --context (--accumulate keeps the tokens per step)")
        }
        var total = 0
        activationOffsets = [:]
        for (name, size, _) in activationLayout(rows: bt) {
            activationOffsets[name] = total
            total += size
        }
        // Backward needs one layer's activation gradients at a time, plus the residual stream's
        // gradient going in and coming out (two buffers used in turn).
        let c = config.nEmbd
        var gradientTotal = 0
        gradientOffsets = [:]
        for (name, size) in [("residualA", bt * c), ("residualB", bt * c), ("ln1", bt * c), ("qkv", bt * 3 * c), ("atty", bt * c),
                             ("attproj", bt * c), ("residual2", bt * c), ("ln2", bt * c), ("fch", bt * 4 * c), ("fchgelu", bt * 4 * c),
                             ("fcproj", bt * c), ("lnf", bt * c)] {
            gradientOffsets[name] = gradientTotal
            gradientTotal += size
        }
        // Buffers only grow: fine-tuning batches change shape every step, and every pass writes
        // what it reads (as same-shape steps already rely on).
        if activations.count < total { activations = [T](repeating: 0, count: total) }
        if activationGradients.count < gradientTotal { activationGradients = [T](repeating: 0, count: gradientTotal) }
        let scratchSize = 3 * Layers.scratchSlots * n * n
        if attentionScratch.count < scratchSize { attentionScratch = [T](repeating: 0, count: scratchSize) }
        preparedShape = (bt, n)
    }

    // MARK: forward

    /// What a pass computes and keeps.
    public enum Pass: Sendable {
        /// Loss (with targets) and logits, no dropout, no gradients: evaluation and generation.
        case inference
        /// Stops at the final LayerNorm (`hidden()`), for task heads such as classification;
        /// `training` applies a new set of dropout masks, and a head's `backward(hiddenGradient:)` follows.
        case hidden(training: Bool)
        /// A training step's forward: new dropout masks, the loss, and the LM head's gradients
        /// (of `gradientScale` × the mean loss) computed chunk by chunk as the loss is, so the
        /// B·T·V probabilities are never stored; `backward()` does the rest.
        case training(gradientScale: T)
        /// The last training pass's dropout masks, no gradients (finite-difference checks).
        case lossWithCurrentDropout

        /// A training step with the loss at full weight.
        public static var training: Pass { .training(gradientScale: 1) }
    }

    /// Runs the model on B×T tokens; with targets, returns the mean cross-entropy loss over the
    /// positions whose target is not -1 (ignored, as PyTorch's `ignore_index`).
    @discardableResult
    public func forward(tokens: [Int32], targets: [Int32]?, B: Int, T n: Int, pass: Pass = .inference) throws -> T? {
        try forward(tokens: tokens, targets: targets, .uniform(B: B, T: n), pass: pass)
    }

    /// The same over texts of different lengths laid end to end in `tokens` (no padding: each
    /// attends to itself only and its positions start at 0); `hidden()` has their states, in order.
    @discardableResult
    func forward(tokens: [Int32], targets: [Int32]?, _ sequences: Layers.Sequences, pass: Pass) throws -> T? {
        let dropout: Layers.Dropout?
        switch pass {
        case .inference, .hidden(training: false):
            dropout = nil
        case .hidden(training: true), .training:
            dropoutCounter &+= 1
            dropout = currentDropout
        case .lossWithCurrentDropout:
            dropout = currentDropout
        }
        switch pass {
        case .hidden(training: true), .training:
            adapters?.dropoutCounter &+= 1
            adapterDropout = true
        case .lossWithCurrentDropout: adapterDropout = true
        case .inference, .hidden(training: false): adapterDropout = false
        }
        var languageModelHead = true, computeHeadGradients = false, gradientScale: T = 1
        if case .hidden = pass { languageModelHead = false }
        if case .training(let scale) = pass { computeHeadGradients = true; gradientScale = scale }
        return try forward(tokens: tokens, targets: targets, sequences, languageModelHead: languageModelHead,
                           computeHeadGradients: computeHeadGradients, dropout: dropout, gradientScale: gradientScale)
    }

    /// Sets the dropout probability of later training passes (fine-tuning may differ from
    /// pre-training); it is saved with the model's config, as Hugging Face's `resid_pdrop` etc.
    public func setDropout(_ probability: Double) throws {
        guard probability >= 0 && probability < 1 else { throw QuarryError("dropout must be in [0, 1) (got \(probability))") }
        config.dropout = probability
    }

    /// This pass's masks (nil when the model has no dropout).
    var currentDropout: Layers.Dropout? {
        config.dropout > 0 ? Layers.Dropout(key: SplitMix64.mix(dropoutSeed ^ (dropoutCounter &* 0xA24B_AED4_963E_E407)),
                                            probability: config.dropout) : nil
    }

    private func forward(tokens: [Int32], targets: [Int32]?, _ sequences: Layers.Sequences, languageModelHead: Bool, computeHeadGradients: Bool,
                         dropout: Layers.Dropout?, gradientScale: T) throws -> T? {
        guard sequences.longest <= config.nPositions else {
            throw QuarryError("context \(sequences.longest) is longer than the model's n_positions \(config.nPositions)")
        }
        guard tokens.count == sequences.rows, targets.map({ $0.count == sequences.rows }) ?? true else { throw QuarryError("tokens must fill the sequences' rows (B×T)") }
        for t in tokens where t < 0 || Int(t) >= config.vocabSize {
            throw QuarryError("token id \(t) is outside the model's vocabulary of \(config.vocabSize)")
        }
        // The mean is over the positions that carry a loss (targets of -1 carry none).
        var counted = 0
        for t in targets ?? [] {
            guard t >= Layers.ignoredTarget && Int(t) < config.vocabSize else {
                throw QuarryError("target id \(t) is outside the model's vocabulary of \(config.vocabSize)")
            }
            if t != Layers.ignoredTarget { counted += 1 }
        }
        let lossScale = 1 / T(max(1, counted))
        try prepare(sequences)
        self.tokens = tokens
        self.targets = targets ?? []
        let c = config.nEmbd, l = config.nLayer, nh = config.nHead, v = config.vocabSize, bt = sequences.rows
        var loss: T?
        headGradientsReady = computeHeadGradients && targets != nil
        activeDropout = dropout
        let lnfGradientOffset = gradientOffsets["lnf"] ?? 0, wteOffset = offsets[.wte] ?? 0
        let lora = adapters, frozen = baseFrozen, adapterDropout = self.adapterDropout
        var loraWeights = lora?.parameters ?? []
        parameters.withUnsafeMutableBufferPointer { pp in
          activationGradients.withUnsafeMutableBufferPointer { dd in
          gradients.withUnsafeMutableBufferPointer { gg in
          loraWeights.withUnsafeMutableBufferPointer { lw in
            let dlnf: UnsafeMutablePointer<T>? = computeHeadGradients ? dd.baseAddress! + lnfGradientOffset : nil
            // A frozen base has no gradient buffer (an empty array's address is not one to write through).
            let dwte: UnsafeMutablePointer<T>? = computeHeadGradients && !frozen ? gg.baseAddress.map { $0 + wteOffset } : nil
            activations.withUnsafeMutableBufferPointer { aa in
                let pBase = pp.baseAddress!, aBase = aa.baseAddress!, loraBase = lw.baseAddress
                let offsets = self.offsets, activationOffsets = self.activationOffsets
                let p = { (name: GPT2Tensor) in pBase + (offsets[name] ?? 0) }
                let a = { (name: String) in aBase + (activationOffsets[name] ?? 0) }
                // out += s·dropout(inp)·Aᵀ·Bᵀ for an adapted projection, keeping H for backward.
                let adapt = { (target: LoRATarget, layer: Int, inp: UnsafeMutablePointer<T>, out: UnsafeMutablePointer<T>) in
                    guard let lora, let loraBase, let slot = lora.config.targets.firstIndex(of: target) else { return }
                    let h = a("loraH") + (slot * l + layer) * bt * lora.config.rank
                    lora.forward(target, layer: layer, inp: inp, out: out, h: h, rows: bt, dropout: adapterDropout, weights: loraBase, buffer: a("loraX"))
                }
                tokens.withUnsafeBufferPointer { tok in
                    Layers.encoderForward(a("encoded"), tok.baseAddress!, p(.wte), p(.wpe), sequences, C: c)
                    if let dropout { Layers.dropout(a("encoded"), N: bt * c, dropout.site(-1, 0)) }
                }
                for layer in 0..<l {
                    let residual = layer == 0 ? a("encoded") : a("residual3") + (layer - 1) * bt * c
                    let ln1 = a("ln1") + layer * bt * c, ln1m = a("ln1mean") + layer * bt, ln1r = a("ln1rstd") + layer * bt
                    let qkv = a("qkv") + layer * bt * 3 * c, atty = a("atty") + layer * bt * c
                    let attproj = a("attproj"), residual2 = a("residual2") + layer * bt * c
                    let ln2 = a("ln2") + layer * bt * c, ln2m = a("ln2mean") + layer * bt, ln2r = a("ln2rstd") + layer * bt
                    let fch = a("fch") + layer * bt * 4 * c, fchg = a("fchgelu")
                    let fcproj = a("fcproj"), residual3 = a("residual3") + layer * bt * c
                    Layers.layernormForward(ln1, ln1m, ln1r, residual, p(.ln1w) + layer * c, p(.ln1b) + layer * c, N: bt, C: c)
                    Layers.matmulForward(qkv, ln1, p(.qkvw) + layer * c * 3 * c, p(.qkvb) + layer * 3 * c, N: bt, C: c, OC: 3 * c)
                    adapt(.fusedQKV, layer, ln1, qkv)
                    attentionScratch.withUnsafeMutableBufferPointer { sc in
                        Layers.attentionForward(atty, sc.baseAddress!, qkv, sequences, C: c, NH: nh, dropout: dropout?.site(layer, 1))
                    }
                    Layers.matmulForward(attproj, atty, p(.attprojw) + layer * c * c, p(.attprojb) + layer * c, N: bt, C: c, OC: c)
                    adapt(.output, layer, atty, attproj)
                    if let dropout { Layers.dropout(attproj, N: bt * c, dropout.site(layer, 2)) }
                    Layers.residualForward(residual2, residual, attproj, N: bt * c)
                    Layers.layernormForward(ln2, ln2m, ln2r, residual2, p(.ln2w) + layer * c, p(.ln2b) + layer * c, N: bt, C: c)
                    Layers.matmulForward(fch, ln2, p(.fcw) + layer * c * 4 * c, p(.fcb) + layer * 4 * c, N: bt, C: c, OC: 4 * c)
                    adapt(.up, layer, ln2, fch)
                    Layers.geluForward(fchg, fch, N: bt * 4 * c)
                    Layers.matmulForward(fcproj, fchg, p(.fcprojw) + layer * 4 * c * c, p(.fcprojb) + layer * c, N: bt, C: 4 * c, OC: c)
                    adapt(.down, layer, fchg, fcproj)
                    if let dropout { Layers.dropout(fcproj, N: bt * c, dropout.site(layer, 3)) }
                    Layers.residualForward(residual3, residual2, fcproj, N: bt * c)
                }
                let last = a("residual3") + (l - 1) * bt * c
                Layers.layernormForward(a("lnf"), a("lnfmean"), a("lnfrstd"), last, p(.lnfw), p(.lnfb), N: bt, C: c)
                guard languageModelHead else { return }
                let wte = p(.wte), lnf = a("lnf")
                guard let targets else {
                    // Inference: all logits, lnf · wteᵀ.
                    if fullLogits.count != bt * v { fullLogits = [T](repeating: 0, count: bt * v) }
                    fullLogits.withUnsafeMutableBufferPointer { out in
                        T.gemm(transA: false, transB: true, m: bt, n: v, k: c, a: lnf, lda: c, b: wte, ldb: c, beta: 0, c: out.baseAddress!, ldc: v)
                    }
                    return
                }
                // The tied head, fused with the loss a chunk of rows at a time.
                let chunk = a("headChunk"), losses = a("losses")
                targets.withUnsafeBufferPointer { tg in
                    for start in stride(from: 0, to: bt, by: Self.headChunkRows) {
                        let rows = min(Self.headChunkRows, bt - start)
                        T.gemm(transA: false, transB: true, m: rows, n: v, k: c, a: lnf + start * c, lda: c, b: wte, ldb: c, beta: 0, c: chunk, ldc: v)
                        Layers.softmaxCrossEntropyForward(chunk, losses + start, chunk, tg.baseAddress! + start, N: rows, V: v)
                        if computeHeadGradients {
                            // dlogits = (probs − onehot) / counted; dlnf = dlogits · wte; dwte += dlogitsᵀ · lnf
                            Layers.softmaxCrossEntropyBackwardInPlace(chunk, tg.baseAddress! + start, dloss: lossScale * gradientScale, N: rows, V: v)
                            T.gemm(transA: false, transB: false, m: rows, n: c, k: v, a: chunk, lda: v, b: wte, ldb: c, beta: 0,
                                   c: dlnf! + start * c, ldc: c)
                            if let dwte {
                                T.gemm(transA: true, transB: false, m: v, n: c, k: rows, a: chunk, lda: v, b: lnf + start * c, ldb: c, beta: 1,
                                       c: dwte, ldc: c)
                            }
                        }
                    }
                }
                var sum: T = 0
                for i in 0..<bt { sum += losses[i] }
                loss = sum * lossScale
            }
          }
          }
          }
        }
        if let loss { lastLoss = loss }
        return loss
    }

    /// The logits of the last forward pass without targets, (B, T, V).
    public func logits() -> ArraySlice<T> {
        fullLogits[...]
    }

    /// The final hidden states of the last forward pass, (B, T, C) (rows × C for packed texts).
    public func hidden() -> ArraySlice<T> {
        let start = activationOffsets["lnf"] ?? 0
        return activations[start..<(start + sequences.rows * config.nEmbd)]
    }

    public func zeroGradients() {
        for i in gradients.indices { gradients[i] = 0 }
        adapters?.gradients.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] = 0 } }
    }

    // MARK: backward

    /// Gradients of the mean loss of the last forward pass (which needed targets), accumulated.
    /// The probabilities are overwritten by their gradient: call forward again before another backward.
    public func backward() throws {
        guard headGradientsReady else { throw QuarryError("backward needs a .training forward pass first") }
        try backward(hiddenGradient: nil)
    }

    /// Backward of two objectives at once: the LM loss of the last `.training` pass and a task
    /// head's, whose gradient with respect to the final hidden states is `hiddenGradient`.
    func backward(addingHiddenGradient hiddenGradient: [T]) throws {
        guard headGradientsReady else { throw QuarryError("backward(addingHiddenGradient:) needs a .training forward pass first") }
        let start = gradientOffsets["lnf"] ?? 0
        for i in 0..<min(hiddenGradient.count, sequences.rows * config.nEmbd) { activationGradients[start + i] += hiddenGradient[i] }
        try backward(hiddenGradient: nil)
    }

    /// Backward from a task head: `hiddenGradient` is the loss's gradient with respect to the
    /// final hidden states (B, T, C, or rows × C) of the last forward pass.
    public func backward(hiddenGradient: [T]?) throws {
        let sequences = self.sequences
        let c = config.nEmbd, l = config.nLayer, nh = config.nHead, bt = sequences.rows
        headGradientsReady = false
        let dropout = activeDropout
        let frozen = baseFrozen, adapterDropout = self.adapterDropout
        // The adapters' weights and gradients, moved out for the pass and back after it.
        let lora = adapters
        var loraWeights = lora?.parameters ?? [], loraGradients = adapters?.gradients ?? []
        adapters?.gradients = []
        defer { adapters?.gradients = loraGradients }
        var loraScratch = [T](repeating: 0, count: lora == nil ? 0 : bt * ((lora?.config.rank ?? 0) + 2 * 4 * c))
        // Moved out and back (not copied: a second reference would make the write below copy 2 MB).
        var scratch: [T] = []
        swap(&scratch, &attentionScratch)
        defer { swap(&scratch, &attentionScratch) }
        parameters.withUnsafeMutableBufferPointer { pp in
          loraWeights.withUnsafeMutableBufferPointer { lw in
            loraGradients.withUnsafeMutableBufferPointer { lg in
              loraScratch.withUnsafeMutableBufferPointer { ls in
            gradients.withUnsafeMutableBufferPointer { gg in
                activations.withUnsafeMutableBufferPointer { aa in
                    activationGradients.withUnsafeMutableBufferPointer { dd in
                        let pBase = pp.baseAddress!, gBase = frozen ? nil : gg.baseAddress, aBase = aa.baseAddress!, dBase = dd.baseAddress!
                        let offsets = self.offsets, activationOffsets = self.activationOffsets, gradientOffsets = self.gradientOffsets
                        let p = { (name: GPT2Tensor) in pBase + (offsets[name] ?? 0) }
                        // A base weight's gradient; none when the base is frozen.
                        let g = { (name: GPT2Tensor) -> UnsafeMutablePointer<T>? in gBase.map { $0 + (offsets[name] ?? 0) } }
                        let a = { (name: String) in aBase + (activationOffsets[name] ?? 0) }
                        let d = { (name: String) in dBase + (gradientOffsets[name] ?? 0) }
                        let loraWeightsBase = lw.baseAddress, loraGradientsBase = lg.baseAddress, loraScratchBase = ls.baseAddress
                        let adapt = { (target: LoRATarget, layer: Int, dout: UnsafeMutablePointer<T>, inp: UnsafeMutablePointer<T>, dinp: UnsafeMutablePointer<T>) in
                            guard let lora, let weights = loraWeightsBase, let gradients = loraGradientsBase, let scratch = loraScratchBase,
                                  let slot = lora.config.targets.firstIndex(of: target) else { return }
                            let h = a("loraH") + (slot * l + layer) * bt * lora.config.rank
                            lora.backward(target, layer: layer, weights: weights, gradients: gradients, dout: dout, inp: inp, dinp: dinp,
                                          h: h, rows: bt, dropout: adapterDropout, scratch: scratch)
                        }
                        if let hiddenGradient {
                            let dl = d("lnf")
                            for i in 0..<(bt * c) { dl[i] = i < hiddenGradient.count ? hiddenGradient[i] : 0 }
                        }
                        // Without a hidden gradient, the LM head's part (dlnf) was done in the .training pass.
                        let last = a("residual3") + (l - 1) * bt * c
                        // The residual stream's gradient: into a layer in one buffer, out of it in the other.
                        var incoming = d("residualA"), outgoing = d("residualB")
                        for i in 0..<(bt * c) { incoming[i] = 0 }
                        Layers.layernormBackward(incoming, g(.lnfw), g(.lnfb), d("lnf"), last, p(.lnfw), a("lnfmean"), a("lnfrstd"), N: bt, C: c)
                        let localStart = d("ln1"), localCount = (d("lnf") - d("ln1"))
                        for layer in stride(from: l - 1, through: 0, by: -1) {
                            let residual = layer == 0 ? a("encoded") : a("residual3") + (layer - 1) * bt * c
                            for i in 0..<localCount { localStart[i] = 0 }
                            for i in 0..<(bt * c) { outgoing[i] = 0 }
                            let dresidual = outgoing
                            let off = layer * bt * c, off3 = layer * bt * 3 * c, off4 = layer * bt * 4 * c
                            Layers.residualBackward(d("residual2"), d("fcproj"), incoming, N: bt * c)
                            if let dropout { Layers.dropout(d("fcproj"), N: bt * c, dropout.site(layer, 3)) }
                            Layers.geluForward(a("fchgelu"), a("fch") + off4, N: bt * 4 * c)   // recomputed, not stored per layer
                            Layers.matmulBackward(d("fchgelu"), g(.fcprojw).map { $0 + layer * 4 * c * c }, g(.fcprojb).map { $0 + layer * c }, d("fcproj"),
                                                  a("fchgelu"), p(.fcprojw) + layer * 4 * c * c, N: bt, C: 4 * c, OC: c)
                            adapt(.down, layer, d("fcproj"), a("fchgelu"), d("fchgelu"))
                            Layers.geluBackward(d("fch"), a("fch") + off4, d("fchgelu"), N: bt * 4 * c)
                            Layers.matmulBackward(d("ln2"), g(.fcw).map { $0 + layer * c * 4 * c }, g(.fcb).map { $0 + layer * 4 * c }, d("fch"),
                                                  a("ln2") + off, p(.fcw) + layer * c * 4 * c, N: bt, C: c, OC: 4 * c)
                            adapt(.up, layer, d("fch"), a("ln2") + off, d("ln2"))
                            Layers.layernormBackward(d("residual2"), g(.ln2w).map { $0 + layer * c }, g(.ln2b).map { $0 + layer * c }, d("ln2"),
                                                     a("residual2") + off, p(.ln2w) + layer * c, a("ln2mean") + layer * bt, a("ln2rstd") + layer * bt, N: bt, C: c)
                            Layers.residualBackward(dresidual, d("attproj"), d("residual2"), N: bt * c)
                            if let dropout { Layers.dropout(d("attproj"), N: bt * c, dropout.site(layer, 2)) }
                            Layers.matmulBackward(d("atty"), g(.attprojw).map { $0 + layer * c * c }, g(.attprojb).map { $0 + layer * c }, d("attproj"),
                                                  a("atty") + off, p(.attprojw) + layer * c * c, N: bt, C: c, OC: c)
                            adapt(.output, layer, d("attproj"), a("atty") + off, d("atty"))
                            scratch.withUnsafeMutableBufferPointer { sc in
                                Layers.attentionBackward(d("qkv"), sc.baseAddress!, d("atty"), a("qkv") + off3, sequences, C: c, NH: nh,
                                                         dropout: dropout?.site(layer, 1))
                            }
                            Layers.matmulBackward(d("ln1"), g(.qkvw).map { $0 + layer * c * 3 * c }, g(.qkvb).map { $0 + layer * 3 * c }, d("qkv"),
                                                  a("ln1") + off, p(.qkvw) + layer * c * 3 * c, N: bt, C: c, OC: 3 * c)
                            adapt(.fusedQKV, layer, d("qkv"), a("ln1") + off, d("ln1"))
                            Layers.layernormBackward(dresidual, g(.ln1w).map { $0 + layer * c }, g(.ln1b).map { $0 + layer * c }, d("ln1"),
                                                     residual, p(.ln1w) + layer * c, a("ln1mean") + layer * bt, a("ln1rstd") + layer * bt, N: bt, C: c)
                            swap(&incoming, &outgoing)
                        }
                        tokens.withUnsafeBufferPointer { tok in
                            if let dropout { Layers.dropout(incoming, N: bt * c, dropout.site(-1, 0)) }
                            if let dwte = g(.wte), let dwpe = g(.wpe) {
                                Layers.encoderBackward(dwte, dwpe, incoming, tok.baseAddress!, sequences, C: c)
                            }
                        }
                    }
                }
            }
              }
            }
          }
        }
    }

    /// Sets one parameter (gradient checks).
    func setParameter(_ index: Int, _ value: T) { parameters[index] = value }

    // MARK: adapters

    /// Puts new adapters on the model (PEFT's initialisation: the model's outputs do not change)
    /// and freezes the base. `config.targets` are GPT-2's (`LoRATarget.forGPT2` maps q,k,v to qkv).
    public func attachAdapters(_ config: LoRAConfig, seed: UInt64) throws {
        adapters = try LoRAAdapters(config: config, model: self.config, seed: seed)
        gradients = []
        preparedShape = (0, 0)   // the activations gain the adapters' buffers
    }

    /// The base takes no gradient: adapters are on.
    var baseFrozen: Bool { adapters != nil }

    /// Folds the adapters into the weights and takes them off: a plain model with the adapted
    /// model's outputs. GPT-2's Conv1D weights are [in, out], so each gets (s·B·A)ᵀ.
    public func mergeAdapters() {
        guard let lora = adapters else { return }
        let tensors: [LoRATarget: GPT2Tensor] = [.fusedQKV: .qkvw, .output: .attprojw, .up: .fcw, .down: .fcprojw]
        for target in lora.config.targets {
            guard let (inputs, outputs) = lora.shapes[target], let tensor = tensors[target], let base = offsets[tensor] else { continue }
            for l in 0..<config.nLayer {
                let w = base + l * inputs * outputs
                let delta = lora.delta(target, layer: l)   // [out, in]
                for o in 0..<outputs { for i in 0..<inputs { parameters[w + i * outputs + o] += delta[o * inputs + i] } }
            }
        }
        adapters = nil
        gradients = [T](repeating: 0, count: parameters.count)
        preparedShape = (0, 0)
    }
}
