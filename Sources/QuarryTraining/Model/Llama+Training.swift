import Foundation
import QuarryCore

/// The Llama family over a batch: forward with the loss, and backward by hand, in the style of
/// GPT.swift (shapes in comments: N rows = positions of the pass, C width, KV = nKVHead·hs,
/// F MLP width, V vocabulary, NH heads of size hs). Linear weights are [out, in].
///
///     x₀ = embed[tokens]
///     per block l:  n = rmsnorm(x)·w₁;  q, k = rope(n·Wqᵀ (+b)), rope(n·Wkᵀ (+b));  v = n·Wvᵀ (+b)
///                   m = x + attention(q, k, v)·Woᵀ
///                   n' = rmsnorm(m)·w₂;  x = m + (silu(n'·Wgateᵀ) ⊙ n'·Wupᵀ)·Wdownᵀ
///     logits = rmsnorm(x)·w_f · headᵀ          (head = embed when tied)
///
/// Sequences may differ in length (packed rows, no padding): rotary positions restart and
/// attention stays within each. Backward gets what it needs, kept or made again: the residual
/// stream, q/k/v, the attention output and the MLP's gate and up are kept; the normed inputs,
/// SwiGLU's product and the attention weights are recomputed (cheap next to the matrix products,
/// and together 0.9 GB of SmolLM2's 16 × 128 batch); the loss and the head's gradients are taken
/// in chunks of rows, so the [N, V] logits never exist at once. Memory is checked before a pass
/// allocates.
struct LlamaPassState<T: TrainingScalar> {
    var sequences = Layers.Sequences(lengths: [])
    var tokens: [Int32] = []
    var targets: [Int32] = []
    var countedTargets = 0
    var activations: [T] = []
    var offsets: [String: Int] = [:]
    var hasLogits = false
    var hasLoss = false
    /// The last pass stopped at the final norm (`features()`), for a task head.
    var hasFeatures = false
    /// The last pass was a training pass with targets: the head's gradients are added and the
    /// final states' gradient is in "dnf", for `backwardPass`.
    var isTraining = false
    /// The last pass drew LoRA dropout masks (backward draws them again).
    var adapterDropout = false
}

extension Llama {
    typealias P = UnsafeMutablePointer<T>

    /// Activations kept for backward, by name: (name, element count).
    /// `logitRows`: rows of logits kept (all of them for a pass without targets, a chunk with
    /// targets, none when headless); `training` adds the final states' gradient.
    private func activationLayout(rows n: Int, attention: Int, logitRows: Int? = nil, training: Bool = true) -> [(String, Int)] {
        let c = config.nEmbd, l = config.nLayer, kv = config.kvWidth, f = config.intermediateSize
        return [
            ("x", (l + 1) * n * c), ("mid", l * n * c), ("n1", n * c), ("r1", l * n), ("n2", n * c), ("r2", l * n),
            ("q", l * n * c), ("k", l * n * kv), ("v", l * n * kv), ("att", attention), ("y", l * n * c),
            ("g", l * n * f), ("u", l * n * f), ("a", n * f), ("nf", n * c), ("rf", n), ("logits", (logitRows ?? min(n, lossChunkRows)) * config.vocabSize),
            ("dnf", training ? n * c : 0),
            // Each adapter's s·dropout(x)·Aᵀ per layer, and one input with dropout applied.
            ("loraH", l * n * (adapters?.config.rank ?? 0) * (adapters?.config.targets.count ?? 0)),
            ("loraX", adapters == nil ? 0 : n * max(c, f)),
            ("losses", n),
        ]
    }

    /// Bytes a pass over these sequences keeps, and the scratch its backward adds; nil when
    /// it does not fit an Int.
    public func memoryForBatch(lengths: [Int]) -> Int? {
        let rows = lengths.reduce(0) { $0 &+ $1 }
        let longest = lengths.max() ?? 0
        guard rows >= 0, lengths.allSatisfy({ $0 >= 0 }) else { return nil }
        // Per row: the activations (no logits) and the backward's scratch; then one chunk of
        // logits, and one (sequence, head)'s attention weights and their gradient.
        let perRow = activationLayout(rows: 1, attention: 0, logitRows: 0).reduce(0) { $0 + $1.1 } + 4 * config.nEmbd + 3 * config.intermediateSize
        let (rowBytes, o0) = rows.multipliedReportingOverflow(by: perRow)
        let (a, o1) = rowBytes.addingReportingOverflow(min(rows, lossChunkRows) * config.vocabSize)
        let (square, o2) = longest.multipliedReportingOverflow(by: longest)
        let (sum, o3) = a.addingReportingOverflow(2 * min(square, Int.max / 4))
        let (bytes, o4) = sum.multipliedReportingOverflow(by: MemoryLayout<T>.size)
        return o0 || o1 || o2 || o3 || o4 ? nil : bytes
    }

    /// The pass over packed sequences (the public entry points are below, per element type).
    /// `headless` stops at the final norm: `features()` holds each row's state, for a task head
    /// whose gradient `backwardPass(featureGradient:)` takes (the [N, V] logits are never made).
    /// `training` (with targets): the head's gradients are added to `gradients` as the loss is
    /// taken, and `backwardPass` does the rest; without it the pass only measures the loss.
    func forward(tokens: [Int32], targets: [Int32]?, _ sequences: Layers.Sequences, headless: Bool = false, training: Bool = false) throws -> T? {
        let c = config.nEmbd, kv = config.kvWidth, f = config.intermediateSize, v = config.vocabSize
        let rows = sequences.rows, hs = config.headSize, nh = config.nHead, group = nh / config.nKVHead
        guard sequences.longest <= config.nPositions else { throw QuarryError("a sequence of \(sequences.longest) tokens is longer than the model's context (\(config.nPositions))") }
        for token in tokens where token < 0 || Int(token) >= v { throw QuarryError("token \(token) is outside the vocabulary (\(v))") }
        let memory = ProcessInfo.processInfo.physicalMemory
        guard let bytes = memoryForBatch(lengths: sequences.lengths), UInt64(bytes) <= memory / 2 else {
            throw QuarryError("a batch of \(rows) positions needs more than half this machine's memory for its activations: lower --batch or --context")
        }
        // One (sequence, head)'s attention weights at a time, made again in backward.
        let attention = sequences.longest * sequences.longest
        pass.sequences = sequences
        pass.tokens = tokens
        pass.targets = targets ?? []
        var total = 0
        pass.offsets = [:]
        let dropoutOn = training   // LoRA dropout in any training pass, headless ones included
        let training = training && targets != nil && !headless
        let logitRows = headless ? 0 : targets == nil ? rows : min(rows, lossChunkRows)
        for (name, size) in activationLayout(rows: rows, attention: attention, logitRows: logitRows, training: training) {
            pass.offsets[name] = total; total += size
        }
        if training && !baseFrozen && gradients.count != parameters.count { zeroGradients() }
        if dropoutOn { adapters?.dropoutCounter &+= 1 }
        let lora = adapters, parameterCount = parameters.count
        var loraWeights = lora?.parameters ?? []
        if pass.activations.count < total {
            pass.activations = []   // freed before the larger one is made, not after: no moment holding both
            pass.activations = [T](repeating: 0, count: total)
        }
        let rotation = rotationTable(longest: sequences.longest)
        let eps = T(config.rmsNormEps)
        let offsets = pass.offsets
        var loss: T? = nil
        let counted = targets?.filter { $0 != Layers.ignoredTarget }.count ?? 0
        pass.countedTargets = counted

        parameters.withUnsafeMutableBufferPointer { pp in
            pass.activations.withUnsafeMutableBufferPointer { ab in
              loraWeights.withUnsafeMutableBufferPointer { lb in
                let weights = pp.baseAddress!, activations = ab.baseAddress!, tensorOffsets = self.offsets
                let w = { (name: LlamaTensor) -> P in weights + (tensorOffsets[name] ?? 0) }
                let act = { (name: String) -> P in activations + (offsets[name] ?? 0) }
                // out += s·dropout(inp)·Aᵀ·Bᵀ for an adapted projection, keeping s·dropout(inp)·Aᵀ.
                let loraBase = lb.baseAddress
                let adapt = { (target: LoRATarget, l: Int, inp: P, out: P) in
                    guard let lora, let base = loraBase, let slot = lora.config.targets.firstIndex(of: target) else { return }
                    let h = act("loraH") + ((slot * self.config.nLayer + l) * rows * lora.config.rank)
                    lora.forward(target, layer: l, inp: inp, out: out, h: h, rows: rows, dropout: dropoutOn, weights: base, buffer: act("loraX"))
                }
                let x = act("x"), embedding = w(.embedding)
                for row in 0..<rows { for i in 0..<c { x[row * c + i] = embedding[Int(tokens[row]) * c + i] } }
                for l in 0..<config.nLayer {
                    let xl = x + l * rows * c, mid = act("mid") + l * rows * c, next = x + (l + 1) * rows * c
                    // The normed inputs are one layer's buffers: backward recomputes them from x, mid and the kept 1/rms.
                    let n1 = act("n1"), r1 = act("r1") + l * rows, n2 = act("n2"), r2 = act("r2") + l * rows
                    let q = act("q") + l * rows * c, k = act("k") + l * rows * kv, vv = act("v") + l * rows * kv
                    let att = act("att"), y = act("y") + l * rows * c
                    // a = silu(g) ⊙ u is one layer's buffer: backward recomputes it from g and u.
                    let g = act("g") + l * rows * f, u = act("u") + l * rows * f, a = act("a")
                    Self.rmsNormForward(n1, r1, xl, w(.attentionNorm) + l * c, rows: rows, width: c, eps: eps)
                    let hasBias = config.attentionBias
                    let bias = { (t: LlamaTensor, size: Int) -> P? in hasBias ? w(t) + l * size : nil }
                    Self.linearForward(q, n1, w(.query) + l * c * c, bias(.queryBias, c), rows: rows, inputs: c, outputs: c)
                    Self.linearForward(k, n1, w(.key) + l * kv * c, bias(.keyBias, kv), rows: rows, inputs: c, outputs: kv)
                    Self.linearForward(vv, n1, w(.value) + l * kv * c, bias(.valueBias, kv), rows: rows, inputs: c, outputs: kv)
                    adapt(.query, l, n1, q); adapt(.key, l, n1, k); adapt(.value, l, n1, vv)
                    rotate(q, heads: nh, rotation, sequences, inverse: false)
                    rotate(k, heads: config.nKVHead, rotation, sequences, inverse: false)
                    let scale = 1 / T.squareRoot(T(hs))
                    for (s, start) in sequences.starts.enumerated() {
                        let len = sequences.lengths[s]
                        for h in 0..<nh {
                            // Per (sequence, head): scores = Q·Kᵀ and out = W·V as two matrix products;
                            // the masked upper triangle is computed and then zeroed.
                            let kvh = h / group, weights = att
                            let qh = q + start * c + h * hs, kh = k + start * kv + kvh * hs, vh = vv + start * kv + kvh * hs
                            Self.attentionWeights(weights, qh, kh, length: len, headSize: hs, queryStride: c, keyStride: kv, scale: scale)
                            T.gemm(transA: false, transB: false, m: len, n: hs, k: len, a: weights, lda: len, b: vh, ldb: kv, beta: 0,
                                   c: y + start * c + h * hs, ldc: c)
                        }
                    }
                    Self.linearForward(mid, y, w(.attentionOutput) + l * c * c, nil, rows: rows, inputs: c, outputs: c)
                    adapt(.output, l, y, mid)
                    for i in 0..<(rows * c) { mid[i] += xl[i] }
                    Self.rmsNormForward(n2, r2, mid, w(.mlpNorm) + l * c, rows: rows, width: c, eps: eps)
                    Self.linearForward(g, n2, w(.gate) + l * f * c, nil, rows: rows, inputs: c, outputs: f)
                    Self.linearForward(u, n2, w(.up) + l * f * c, nil, rows: rows, inputs: c, outputs: f)
                    adapt(.gate, l, n2, g); adapt(.up, l, n2, u)
                    for i in 0..<(rows * f) { a[i] = g[i] / (1 + T.exponential(-g[i])) * u[i] }
                    Self.linearForward(next, a, w(.down) + l * c * f, nil, rows: rows, inputs: f, outputs: c)
                    adapt(.down, l, a, next)
                    for i in 0..<(rows * c) { next[i] += mid[i] }
                }
                let nf = act("nf"), logits = act("logits")
                Self.rmsNormForward(nf, act("rf"), x + config.nLayer * rows * c, w(.finalNorm), rows: rows, width: c, eps: eps)
                if headless { return }
                let head = config.tiedEmbeddings ? embedding : w(.lmHead)
                guard let targets else {
                    Self.linearForward(logits, nf, head, nil, rows: rows, inputs: c, outputs: v)
                    return
                }
                guard counted > 0 else { return }
                let losses = act("losses"), dnf = act("dnf")
                if training { for i in 0..<(rows * c) { dnf[i] = 0 } }
                gradients.withUnsafeMutableBufferPointer { gb in
                    targets.withUnsafeBufferPointer { tb in
                        // The head's gradient, unless the base is frozen (an empty array's storage is no buffer to write to).
                        let dhead = training && gb.count == parameterCount
                            ? gb.baseAddress.map { $0 + (tensorOffsets[config.tiedEmbeddings ? .embedding : .lmHead] ?? 0) } : nil
                        for first in stride(from: 0, to: rows, by: lossChunkRows) {
                            let n = min(lossChunkRows, rows - first)
                            Self.linearForward(logits, nf + first * c, head, nil, rows: n, inputs: c, outputs: v)
                            Layers.softmaxCrossEntropyForward(logits, losses + first, logits, tb.baseAddress! + first, N: n, V: v)
                            guard training else { continue }
                            // The loss is the mean over counted targets: softmax − one-hot, divided by their number.
                            Layers.softmaxCrossEntropyBackwardInPlace(logits, tb.baseAddress! + first, dloss: 1 / T(counted), N: n, V: v)
                            Self.linearBackward(dnf + first * c, dhead, nil, logits, nf + first * c, head, rows: n, inputs: c, outputs: v)
                        }
                    }
                }
                var sum: T = 0
                for i in 0..<rows { sum += losses[i] }
                loss = sum / T(counted)
              }
            }
        }
        pass.hasLogits = targets == nil && !headless
        pass.hasLoss = loss != nil
        pass.isTraining = training && loss != nil
        pass.adapterDropout = dropoutOn
        pass.hasFeatures = headless
        return loss
    }

    /// The residual stream after block `layer` (1…L) of the last pass ([rows, C]).
    func residualStream(afterBlock layer: Int) -> ArraySlice<T> {
        guard let start = pass.offsets["x"] else { return [] }
        let size = pass.sequences.rows * config.nEmbd
        return pass.activations[(start + layer * size)..<(start + (layer + 1) * size)]
    }

    /// Every row's final (normed) state of the last headless pass ([rows, C]).
    func features() -> ArraySlice<T> {
        guard pass.hasFeatures, let start = pass.offsets["nf"] else { return [] }
        return pass.activations[start..<(start + pass.sequences.rows * config.nEmbd)]
    }

    /// Every row's logits of the last forward pass without targets ([rows, V]).
    public func logits() -> ArraySlice<T> {
        guard pass.hasLogits, let start = pass.offsets["logits"] else { return [] }
        return pass.activations[start..<(start + pass.sequences.rows * config.vocabSize)]
    }

    /// Zeroes what backward adds to: the adapters' gradients when the base is frozen (its own are
    /// never allocated), else the model's.
    public func zeroGradients() {
        if adapters != nil {
            adapters?.gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            return
        }
        if gradients.count != parameters.count { gradients = [T](repeating: 0, count: parameters.count); return }
        gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Adds the gradients of the last forward pass's mean loss to `gradients`; or, after a
    /// headless pass, of a head's loss whose gradient with respect to `features()` is
    /// `featureGradient` ([rows, C]).
    func backwardPass(featureGradient: [T]? = nil) throws {
        if featureGradient == nil {
            guard pass.isTraining else { throw QuarryError("backward needs a training forward pass with targets first") }
        } else {
            guard pass.hasFeatures, featureGradient?.count == pass.sequences.rows * config.nEmbd else {
                throw QuarryError("backward(featureGradient:) needs a headless forward pass first, and one gradient per feature")
            }
        }
        let frozen = baseFrozen
        if !frozen && gradients.count != parameters.count { zeroGradients() }
        let c = config.nEmbd, kv = config.kvWidth, f = config.intermediateSize
        let sequences = pass.sequences, rows = sequences.rows, hs = config.headSize, nh = config.nHead, group = nh / config.nKVHead
        let offsets = pass.offsets
        let rotation = rotationTable(longest: sequences.longest)
        // One layer's activation gradients at a time, and the residual stream's going down.
        // dx dn dy dmid dq, dk dv, dg du da, and one (sequence, head)'s attention scores.
        var scratch = [T](repeating: 0, count: rows * (6 * c + 2 * kv + 3 * f) + sequences.longest * sequences.longest)
        let eps = T(config.rmsNormEps)
        let tokens = pass.tokens
        // The adapters' weights and gradients, moved out for the pass and back after it.
        let lora = adapters, adapterDropout = pass.adapterDropout
        var loraWeights = lora?.parameters ?? [], loraGradients = adapters?.gradients ?? []
        adapters?.gradients = []
        defer { adapters?.gradients = loraGradients }
        var loraScratch = [T](repeating: 0, count: lora == nil ? 0 : rows * ((lora?.config.rank ?? 0) + 2 * max(c, f)))
        parameters.withUnsafeMutableBufferPointer { pp in
          loraWeights.withUnsafeMutableBufferPointer { lw in
            loraGradients.withUnsafeMutableBufferPointer { lg in
              loraScratch.withUnsafeMutableBufferPointer { ls in
            gradients.withUnsafeMutableBufferPointer { gb in
                pass.activations.withUnsafeMutableBufferPointer { ab in
                    scratch.withUnsafeMutableBufferPointer { sb in
                        let weights = pp.baseAddress!, grads = gb.baseAddress, activations = ab.baseAddress!, tensorOffsets = self.offsets
                        let w = { (name: LlamaTensor) -> P in weights + (tensorOffsets[name] ?? 0) }
                        // A base weight's gradient at `offset` within its tensor; none when the base is frozen.
                        let dw = { (name: LlamaTensor, offset: Int) -> P? in frozen ? nil : grads.map { $0 + (tensorOffsets[name] ?? 0) + offset } }
                        let act = { (name: String) -> P in activations + (offsets[name] ?? 0) }
                        let loraWeightsBase = lw.baseAddress, loraGradientsBase = lg.baseAddress, loraScratchBase = ls.baseAddress
                        let adapt = { (target: LoRATarget, l: Int, dout: P, inp: P, dinp: P) in
                            guard let lora, let lwBase = loraWeightsBase, let lgBase = loraGradientsBase, let scratch = loraScratchBase,
                                  let slot = lora.config.targets.firstIndex(of: target) else { return }
                            let h = act("loraH") + (slot * self.config.nLayer + l) * rows * lora.config.rank
                            lora.backward(target, layer: l, weights: lwBase, gradients: lgBase, dout: dout, inp: inp, dinp: dinp,
                                                 h: h, rows: rows, dropout: adapterDropout, scratch: scratch)
                        }
                        let dx = sb.baseAddress!, dn = dx + rows * c, dy = dn + rows * c, dmid = dy + rows * c
                        let dq = dmid + rows * c, dk = dq + rows * c, dv = dk + rows * kv
                        let dg = dv + rows * kv, du = dg + rows * f, da = du + rows * f, normed = da + rows * f, dscores = normed + rows * c
                        let x = act("x")
                        // The final states' gradient: the head's (taken with the loss, chunk by chunk) or a task head's.
                        for i in 0..<(rows * c) { dx[i] = 0 }
                        if let featureGradient {
                            for i in 0..<(rows * c) { dn[i] = featureGradient[i] }
                        } else {
                            let dnf = act("dnf")
                            for i in 0..<(rows * c) { dn[i] = dnf[i] }
                        }
                        Self.rmsNormBackward(dx, dw(.finalNorm, 0), dn, x + config.nLayer * rows * c, w(.finalNorm), act("rf"), rows: rows, width: c)
                        for l in stride(from: config.nLayer - 1, through: 0, by: -1) {
                            let xl = x + l * rows * c, mid = act("mid") + l * rows * c
                            let r1 = act("r1") + l * rows, r2 = act("r2") + l * rows
                            let q = act("q") + l * rows * c, k = act("k") + l * rows * kv, vv = act("v") + l * rows * kv
                            let att = act("att"), y = act("y") + l * rows * c
                            let g = act("g") + l * rows * f, u = act("u") + l * rows * f
                            // MLP: x_{l+1} = mid + down(a); dx holds d x_{l+1}.
                            for i in 0..<(rows * c) { dmid[i] = dx[i] }
                            for i in 0..<(rows * f) { da[i] = 0 }
                            let a = du   // a = silu(g) ⊙ u again, in du until du is computed below
                            for i in 0..<(rows * f) { a[i] = g[i] / (1 + T.exponential(-g[i])) * u[i] }
                            Self.linearBackward(da, dw(.down, l * c * f), nil, dx, a, w(.down) + l * c * f, rows: rows, inputs: f, outputs: c)
                            adapt(.down, l, dx, a, da)
                            for i in 0..<(rows * f) {
                                let s = 1 / (1 + T.exponential(-g[i]))
                                du[i] = da[i] * g[i] * s
                                dg[i] = da[i] * u[i] * s * (1 + g[i] * (1 - s))
                            }
                            for i in 0..<(rows * c) { dn[i] = 0 }
                            let n2 = normed   // rmsnorm(mid)·w₂ again, the same arithmetic as forward
                            Self.rmsNormForward(n2, r2, mid, w(.mlpNorm) + l * c, rows: rows, width: c, eps: eps)
                            Self.linearBackward(dn, dw(.gate, l * f * c), nil, dg, n2, w(.gate) + l * f * c, rows: rows, inputs: c, outputs: f)
                            Self.linearBackward(dn, dw(.up, l * f * c), nil, du, n2, w(.up) + l * f * c, rows: rows, inputs: c, outputs: f)
                            adapt(.gate, l, dg, n2, dn); adapt(.up, l, du, n2, dn)
                            Self.rmsNormBackward(dmid, dw(.mlpNorm, l * c), dn, mid, w(.mlpNorm) + l * c, r2, rows: rows, width: c)
                            // Attention: mid = x_l + Wo·y.
                            for i in 0..<(rows * c) { dx[i] = dmid[i]; dy[i] = 0 }
                            Self.linearBackward(dy, dw(.attentionOutput, l * c * c), nil, dmid, y, w(.attentionOutput) + l * c * c, rows: rows, inputs: c, outputs: c)
                            adapt(.output, l, dmid, y, dy)
                            for i in 0..<(rows * c) { dq[i] = 0 }
                            for i in 0..<(rows * kv) { dk[i] = 0; dv[i] = 0 }
                            let scale = 1 / T.squareRoot(T(hs))
                            for (s, start) in sequences.starts.enumerated() {
                                let len = sequences.lengths[s]
                                for h in 0..<nh {
                                    // The weights again (not kept from forward: NH·len² per layer was the largest activation after the MLP's).
                                    let kvh = h / group, weights = att
                                    let qh = q + start * c + h * hs, kh = k + start * kv + kvh * hs, vh = vv + start * kv + kvh * hs
                                    Self.attentionWeights(weights, qh, kh, length: len, headSize: hs, queryStride: c, keyStride: kv, scale: scale)
                                    let dyh = dy + start * c + h * hs
                                    // dW = dY·Vᵀ; dV += Wᵀ·dY; then through the softmax, dS = W ⊙ (dW − Σ W·dW);
                                    // dQ += dS·K, dK += dSᵀ·Q (each scaled).
                                    T.gemm(transA: false, transB: true, m: len, n: len, k: hs, a: dyh, lda: c, b: vh, ldb: kv, beta: 0, c: dscores, ldc: len)
                                    T.gemm(transA: true, transB: false, m: len, n: hs, k: len, a: weights, lda: len, b: dyh, ldb: c, beta: 1,
                                           c: dv + start * kv + kvh * hs, ldc: kv)
                                    for i in 0..<len {
                                        let wi = weights + i * len, di = dscores + i * len
                                        var weighted: T = 0
                                        for j in 0...i { weighted += wi[j] * di[j] }
                                        for j in 0...i { di[j] = wi[j] * (di[j] - weighted) * scale }
                                        for j in (i + 1)..<max(i + 1, len) { di[j] = 0 }
                                    }
                                    T.gemm(transA: false, transB: false, m: len, n: hs, k: len, a: dscores, lda: len, b: kh, ldb: kv, beta: 1,
                                           c: dq + start * c + h * hs, ldc: c)
                                    T.gemm(transA: true, transB: false, m: len, n: hs, k: len, a: dscores, lda: len, b: qh, ldb: c, beta: 1,
                                           c: dk + start * kv + kvh * hs, ldc: kv)
                                }
                            }
                            rotate(dq, heads: nh, rotation, sequences, inverse: true)
                            rotate(dk, heads: config.nKVHead, rotation, sequences, inverse: true)
                            for i in 0..<(rows * c) { dn[i] = 0 }
                            let hasBias = config.attentionBias
                            let dbias = { (t: LlamaTensor, size: Int) -> P? in hasBias ? dw(t, l * size) : nil }
                            let n1 = normed   // rmsnorm(x)·w₁ again
                            Self.rmsNormForward(n1, r1, xl, w(.attentionNorm) + l * c, rows: rows, width: c, eps: eps)
                            Self.linearBackward(dn, dw(.query, l * c * c), dbias(.queryBias, c), dq, n1, w(.query) + l * c * c, rows: rows, inputs: c, outputs: c)
                            Self.linearBackward(dn, dw(.key, l * kv * c), dbias(.keyBias, kv), dk, n1, w(.key) + l * kv * c, rows: rows, inputs: c, outputs: kv)
                            Self.linearBackward(dn, dw(.value, l * kv * c), dbias(.valueBias, kv), dv, n1, w(.value) + l * kv * c, rows: rows, inputs: c, outputs: kv)
                            adapt(.query, l, dq, n1, dn); adapt(.key, l, dk, n1, dn); adapt(.value, l, dv, n1, dn)
                            Self.rmsNormBackward(dx, dw(.attentionNorm, l * c), dn, xl, w(.attentionNorm) + l * c, r1, rows: rows, width: c)
                        }
                        if let dembedding = dw(.embedding, 0) {
                            for row in 0..<rows { for i in 0..<c { dembedding[Int(tokens[row]) * c + i] += dx[row * c + i] } }
                        }
                    }
                }
            }
              }
            }
          }
        }
        pass.hasLoss = false
        pass.isTraining = false
        pass.hasFeatures = false
    }

    // MARK: layers

    /// Each position's (cos, sin) for each frequency: [longest, hs/2] of each.
    private func rotationTable(longest: Int) -> (cos: [T], sin: [T]) {
        let half = config.headSize / 2
        var cosines = [T](repeating: 0, count: longest * half), sines = cosines
        for t in 0..<longest {
            for i in 0..<half {
                let angle = Double(t) / Foundation.pow(config.ropeTheta, Double(2 * i) / Double(config.headSize))
                cosines[t * half + i] = T(Foundation.cos(angle))
                sines[t * half + i] = T(Foundation.sin(angle))
            }
        }
        return (cosines, sines)
    }

    /// Rotates each head's pairs (i, i + hs/2) by their row's position in its sequence; the
    /// inverse rotation (the transpose) is the backward of the forward one.
    private func rotate(_ x: P, heads: Int, _ table: (cos: [T], sin: [T]), _ sequences: Layers.Sequences, inverse: Bool) {
        let hs = config.headSize, half = hs / 2, width = heads * hs
        for (s, start) in sequences.starts.enumerated() {
            for t in 0..<sequences.lengths[s] {
                let row = x + (start + t) * width
                for h in 0..<heads {
                    let at = row + h * hs
                    for i in 0..<half {
                        let cosine = table.cos[t * half + i], sine = inverse ? -table.sin[t * half + i] : table.sin[t * half + i]
                        let a = at[i], b = at[half + i]
                        at[i] = a * cosine - b * sine
                        at[half + i] = b * cosine + a * sine
                    }
                }
            }
        }
    }

    /// out[rows × outputs] = inp[rows × inputs] · Wᵀ (+ b), W [outputs, inputs].
    /// One (sequence, head)'s attention weights: softmax(scale · Q·Kᵀ) over the causal triangle,
    /// [len, len] with the masked upper part 0. Forward and backward both call it, so the weights
    /// backward makes again are those forward used, bit for bit.
    static func attentionWeights(_ weights: P, _ q: P, _ k: P, length len: Int, headSize hs: Int, queryStride: Int, keyStride: Int, scale: T) {
        T.gemm(transA: false, transB: true, m: len, n: len, k: hs, a: q, lda: queryStride, b: k, ldb: keyStride, beta: 0, c: weights, ldc: len)
        for i in 0..<len {
            let wi = weights + i * len
            var top = -T.greatestFiniteMagnitude
            for j in 0...i { wi[j] *= scale; top = max(top, wi[j]) }
            var sum: T = 0
            for j in 0...i { wi[j] = T.exponential(wi[j] - top); sum += wi[j] }
            let inverse = 1 / sum
            for j in 0...i { wi[j] *= inverse }
            for j in (i + 1)..<max(i + 1, len) { wi[j] = 0 }
        }
    }

    static func linearForward(_ out: P, _ inp: P, _ weight: P, _ bias: P?, rows: Int, inputs: Int, outputs: Int) {
        T.gemm(transA: false, transB: true, m: rows, n: outputs, k: inputs, a: inp, lda: inputs, b: weight, ldb: inputs, beta: 0, c: out, ldc: outputs)
        if let bias { for r in 0..<rows { let o = out + r * outputs; for j in 0..<outputs { o[j] += bias[j] } } }
    }

    /// dinp += dout · W; dW += doutᵀ · inp; db += Σ rows of dout (no dW or db for a frozen weight: nil).
    static func linearBackward(_ dinp: P, _ dweight: P?, _ dbias: P?, _ dout: P, _ inp: P, _ weight: P, rows: Int, inputs: Int, outputs: Int) {
        T.gemm(transA: false, transB: false, m: rows, n: inputs, k: outputs, a: dout, lda: outputs, b: weight, ldb: inputs, beta: 1, c: dinp, ldc: inputs)
        guard let dweight else { return }
        T.gemm(transA: true, transB: false, m: outputs, n: inputs, k: rows, a: dout, lda: outputs, b: inp, ldb: inputs, beta: 1, c: dweight, ldc: inputs)
        if let dbias { for r in 0..<rows { let d = dout + r * outputs; for j in 0..<outputs { dbias[j] += d[j] } } }
    }

    /// out = x · rstd · w per row, rstd = 1/√(mean(x²) + eps) kept for backward.
    static func rmsNormForward(_ out: P, _ rstd: P, _ inp: P, _ weight: P, rows: Int, width: Int, eps: T) {
        for r in 0..<rows {
            let x = inp + r * width, o = out + r * width
            var squares: T = 0
            for i in 0..<width { squares += x[i] * x[i] }
            let s = 1 / T.squareRoot(squares / T(width) + eps)
            rstd[r] = s
            for i in 0..<width { o[i] = x[i] * s * weight[i] }
        }
    }

    /// dinp += rstd·(dout·w) − x·rstd³/width · Σ(dout·w·x);  dw += Σ rows dout·x·rstd.
    static func rmsNormBackward(_ dinp: P, _ dweight: P?, _ dout: P, _ inp: P, _ weight: P, _ rstd: P, rows: Int, width: Int) {
        for r in 0..<rows {
            let x = inp + r * width, d = dout + r * width, dx = dinp + r * width, s = rstd[r]
            var dot: T = 0
            for i in 0..<width { dot += d[i] * weight[i] * x[i] }
            if let dweight { for i in 0..<width { dweight[i] += d[i] * x[i] * s } }
            let k = s * s * s / T(width) * dot
            for i in 0..<width { dx[i] += s * d[i] * weight[i] - x[i] * k }
        }
    }
}

// The public passes, one extension per element type: called from another module, a generic
// method runs unspecialised, every arithmetic operation through a witness table (the forward
// pass measured 20× slower); called here with T fixed, the compiler specialises them.
extension Llama where T == Float {
    /// B sequences of T tokens each; targets -1 carry no loss. Returns the mean loss over the
    /// counted targets (nil without targets); afterwards `logits()` holds every row's logits
    /// when there were no targets.
    /// `training`: keep what `backward()` needs (the head's gradients are added as the loss is taken).
    public func forward(tokens: [Int32], targets: [Int32]?, B: Int, T n: Int, training: Bool = false) throws -> Float? {
        try forward(tokens: tokens, targets: targets, Layers.Sequences(checkedB: B, T: n, tokens: tokens.count, targets: targets?.count), training: training)
    }

    /// Adds the gradients of the last forward pass's mean loss to `gradients`.
    public func backward() throws { try backwardPass() }

    /// One optimiser step on the gradients of the last backward pass (the adapters', when on).
    public func step(_ optimizer: inout AdamW, lr: Float) {
        if let gradients = adapters?.gradients {
            optimizer.update(&adapters!.parameters, gradients, lr: lr)   // the `if let` saw them
            return
        }
        optimizer.update(&parameters, gradients, lr: lr)
    }
}

extension Llama where T == Double {
    public func forward(tokens: [Int32], targets: [Int32]?, B: Int, T n: Int, training: Bool = false) throws -> Double? {
        try forward(tokens: tokens, targets: targets, Layers.Sequences(checkedB: B, T: n, tokens: tokens.count, targets: targets?.count), training: training)
    }

    public func backward() throws { try backwardPass() }
}

extension Layers.Sequences {
    /// B sequences of T tokens, when the token and target counts say so.
    init(checkedB B: Int, T n: Int, tokens: Int, targets: Int?) throws {
        guard B > 0, n > 0, tokens == B * n, targets == nil || targets == B * n else {
            throw QuarryError("forward needs B·T tokens (and as many targets)")
        }
        self = .uniform(B: B, T: n)
    }
}
