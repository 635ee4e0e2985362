import Foundation
import QuarryCore

/// Llama-family generation with a key/value cache, one position at a time:
///
///     x = embed[token]
///     per block:  x += Wo · attention(rope(Wq·n), rope(Wk·n), Wv·n)    n = rmsnorm(x) · attention_norm
///                 x += Wdown · (silu(Wgate·n) ⊙ Wup·n)                 n = rmsnorm(x) · mlp_norm
///     logits = lm_head · (rmsnorm(x) · final_norm)                      (lm_head = embed when tied)
///
/// Rotary embeddings follow Hugging Face's rotate-half convention (a head's first half pairs with
/// its second half); grouped-query attention lets `nHead / nKVHead` query heads share a K/V head.
/// The cache is laid out position-major, so it grows by appending and costs only what is used.
public final class LlamaGenerator: TokenGenerator {
    public let model: Llama<Float>
    let config: LlamaConfig
    private var keys: [Float] = []      // (T, L, kvWidth)
    private var values: [Float] = []
    private var length = 0
    private let inverseFrequencies: [Double]
    // One position's activations, reused.
    private var x: [Float], n: [Float], q: [Float], k: [Float], v: [Float], y: [Float], o: [Float]
    private var gate: [Float], up: [Float], down: [Float], scores: [Float]
    public private(set) var logits: [Float]

    public init(model: Llama<Float>) {
        self.model = model
        config = model.config
        let c = config.nEmbd, hs = config.headSize
        x = [Float](repeating: 0, count: c)
        n = x; q = x; y = x; o = x; down = x
        k = [Float](repeating: 0, count: config.kvWidth)
        v = k
        gate = [Float](repeating: 0, count: config.intermediateSize)
        up = gate
        scores = []
        logits = [Float](repeating: 0, count: config.vocabSize)
        let theta = model.config.ropeTheta
        inverseFrequencies = (0..<(hs / 2)).map { 1 / Foundation.pow(theta, Double(2 * $0) / Double(hs)) }
    }

    public var position: Int { length }
    public var contextLength: Int { config.nPositions }
    public func reset() { length = 0; keys.removeAll(keepingCapacity: true); values.removeAll(keepingCapacity: true) }

    public func recompute(_ context: [Int32]) throws {
        reset()
        for token in context { try feed(token) }
    }

    public func feed(_ token: Int32) throws {
        guard length < config.nPositions else { throw QuarryError("the context is full (\(config.nPositions) tokens)") }
        guard token >= 0 && Int(token) < config.vocabSize else { throw QuarryError("token \(token) is outside the vocabulary") }
        let c = config.nEmbd, hs = config.headSize, kvw = config.kvWidth, f = config.intermediateSize
        let layers = config.nLayer, t = length, group = config.nHead / config.nKVHead
        let eps = Float(config.rmsNormEps), scale = 1 / Float(hs).squareRoot()
        let rotation = inverseFrequencies.map { (cos: Float(Foundation.cos(Double(t) * $0)), sin: Float(Foundation.sin(Double(t) * $0))) }
        keys += repeatElement(0, count: layers * kvw)
        values += repeatElement(0, count: layers * kvw)
        if scores.count < t + 1 { scores = [Float](repeating: 0, count: max(2 * scores.count, t + 1)) }
        model.parameters.withUnsafeBufferPointer { pp in
            let base = pp.baseAddress!, offsets = model.offsets
            let p = { (name: LlamaTensor) in base + (offsets[name] ?? 0) }
            let embedding = p(.embedding)
            for i in 0..<c { x[i] = embedding[Int(token) * c + i] }
            for layer in 0..<layers {
                rmsNorm(&n, x, p(.attentionNorm) + layer * c, eps)
                linear(&q, n, p(.query) + layer * c * c, config.attentionBias ? p(.queryBias) + layer * c : nil, inputs: c, outputs: c)
                linear(&k, n, p(.key) + layer * kvw * c, config.attentionBias ? p(.keyBias) + layer * kvw : nil, inputs: c, outputs: kvw)
                linear(&v, n, p(.value) + layer * kvw * c, config.attentionBias ? p(.valueBias) + layer * kvw : nil, inputs: c, outputs: kvw)
                rotate(&q, heads: config.nHead, rotation)
                rotate(&k, heads: config.nKVHead, rotation)
                let stride = layers * kvw, slot = layer * kvw
                for i in 0..<kvw { keys[t * stride + slot + i] = k[i]; values[t * stride + slot + i] = v[i] }
                for head in 0..<config.nHead {
                    let kvHead = (head / group) * hs
                    var maxScore = -Float.greatestFiniteMagnitude
                    for t2 in 0...t {
                        let at = t2 * stride + slot + kvHead
                        var dot: Float = 0
                        for i in 0..<hs { dot += q[head * hs + i] * keys[at + i] }
                        scores[t2] = dot * scale
                        maxScore = max(maxScore, scores[t2])
                    }
                    var sum: Float = 0
                    for t2 in 0...t { scores[t2] = Foundation.exp(scores[t2] - maxScore); sum += scores[t2] }
                    for i in 0..<hs { y[head * hs + i] = 0 }
                    for t2 in 0...t {
                        let at = t2 * stride + slot + kvHead, weight = scores[t2] / sum
                        for i in 0..<hs { y[head * hs + i] += weight * values[at + i] }
                    }
                }
                linear(&o, y, p(.attentionOutput) + layer * c * c, nil, inputs: c, outputs: c)
                for i in 0..<c { x[i] += o[i] }
                rmsNorm(&n, x, p(.mlpNorm) + layer * c, eps)
                linear(&gate, n, p(.gate) + layer * f * c, nil, inputs: c, outputs: f)
                linear(&up, n, p(.up) + layer * f * c, nil, inputs: c, outputs: f)
                for i in 0..<f { let g = gate[i]; gate[i] = g / (1 + Foundation.exp(-g)) * up[i] }
                linear(&down, gate, p(.down) + layer * c * f, nil, inputs: f, outputs: c)
                for i in 0..<c { x[i] += down[i] }
            }
            rmsNorm(&n, x, p(.finalNorm), eps)
            linear(&logits, n, config.tiedEmbeddings ? embedding : p(.lmHead), nil, inputs: c, outputs: config.vocabSize)
        }
        length += 1
    }

    private func rmsNorm(_ out: inout [Float], _ inp: [Float], _ w: UnsafePointer<Float>, _ eps: Float) {
        var squares: Float = 0
        for v in inp { squares += v * v }
        let rstd = 1 / (squares / Float(inp.count) + eps).squareRoot()
        for i in 0..<inp.count { out[i] = inp[i] * rstd * w[i] }
    }

    /// Rotates each head's pairs (i, i + hs/2) by the position's angle for frequency i.
    private func rotate(_ v: inout [Float], heads: Int, _ rotation: [(cos: Float, sin: Float)]) {
        let hs = config.headSize, half = hs / 2
        for head in 0..<heads {
            let at = head * hs
            for i in 0..<half {
                let a = v[at + i], b = v[at + half + i]
                v[at + i] = a * rotation[i].cos - b * rotation[i].sin
                v[at + half + i] = b * rotation[i].cos + a * rotation[i].sin
            }
        }
    }

    /// out[outputs] = W[outputs × inputs] · inp[inputs] (+ b)
    private func linear(_ out: inout [Float], _ inp: [Float], _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, inputs: Int, outputs: Int) {
        inp.withUnsafeBufferPointer { ib in
            out.withUnsafeMutableBufferPointer { ob in
                BLAS.sgemv(rows: outputs, columns: inputs, a: w, x: ib.baseAddress!, y: ob.baseAddress!)
                if let b { for j in 0..<outputs { ob[j] += b[j] } }
            }
        }
    }
}
