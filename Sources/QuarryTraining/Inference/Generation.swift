import Foundation
import QuarryCore

/// A model that generates token by token with a key/value cache: each new token runs the model
/// on one position and attends to the cached keys and values of the ones before, instead of
/// re-running the prefix. `generate` (sampling, stops) is written once for every family.
public protocol TokenGenerator: AnyObject {
    /// Feeds one token at the next position; afterwards `logits` predicts the following one.
    func feed(_ token: Int32) throws
    var logits: [Float] { get }
    /// Tokens fed so far.
    var position: Int { get }
    /// The longest context the model takes.
    var contextLength: Int { get }
    /// Benchmark aid: runs the whole context again without the cache (the cost the cache avoids).
    func recompute(_ context: [Int32]) throws
}

/// GPT-2 generation with a key/value cache.
public final class Generator: TokenGenerator {
    public let model: GPT<Float>
    let config: ModelConfig
    private var keys: [Float]        // (L, nPositions, C)
    private var values: [Float]
    private var length = 0
    // One position's activations, reused.
    private var x: [Float], h: [Float], qkv: [Float], y: [Float], proj: [Float], fc: [Float], fcOut: [Float], scores: [Float]
    public private(set) var logits: [Float]

    public init(model: GPT<Float>) {
        self.model = model
        config = model.config
        let c = config.nEmbd
        keys = [Float](repeating: 0, count: config.nLayer * config.nPositions * c)
        values = keys
        x = [Float](repeating: 0, count: c)
        h = x; y = x; proj = x; fcOut = x
        qkv = [Float](repeating: 0, count: 3 * c)
        fc = [Float](repeating: 0, count: 4 * c)
        scores = [Float](repeating: 0, count: config.nPositions)
        logits = [Float](repeating: 0, count: config.vocabSize)
    }

    public var position: Int { length }
    public var contextLength: Int { config.nPositions }

    public func recompute(_ context: [Int32]) throws {
        _ = try model.forward(tokens: context, targets: nil, B: 1, T: context.count)
    }

    public func reset() { length = 0 }

    /// Feeds one token at the next position; afterwards `logits` predicts the following one.
    public func feed(_ token: Int32) throws {
        guard length < config.nPositions else { throw QuarryError("the context is full (\(config.nPositions) tokens)") }
        guard token >= 0 && Int(token) < config.vocabSize else { throw QuarryError("token \(token) is outside the vocabulary") }
        let c = config.nEmbd, nh = config.nHead, hs = c / nh, t = length
        let scale = 1 / Float(hs).squareRoot()
        model.parameters.withUnsafeMutableBufferPointer { pp in
            let base = pp.baseAddress!, offsets = model.offsets
            let p = { (name: GPT2Tensor) in base + (offsets[name] ?? 0) }
            let wte = p(.wte), wpe = p(.wpe)
            for i in 0..<c { x[i] = wte[Int(token) * c + i] + wpe[t * c + i] }
            for layer in 0..<config.nLayer {
                layerNorm(&h, x, p(.ln1w) + layer * c, p(.ln1b) + layer * c)
                vectorMatrix(&qkv, h, p(.qkvw) + layer * c * 3 * c, p(.qkvb) + layer * 3 * c, inputs: c, outputs: 3 * c)
                let base = layer * config.nPositions * c
                for i in 0..<c { keys[base + t * c + i] = qkv[c + i]; values[base + t * c + i] = qkv[2 * c + i] }
                for head in 0..<nh {
                    var maxv = -Float.greatestFiniteMagnitude
                    for t2 in 0...t {
                        var dot: Float = 0
                        for i in 0..<hs { dot += qkv[head * hs + i] * keys[base + t2 * c + head * hs + i] }
                        scores[t2] = dot * scale
                        maxv = max(maxv, scores[t2])
                    }
                    var sum: Float = 0
                    for t2 in 0...t { scores[t2] = Foundation.exp(scores[t2] - maxv); sum += scores[t2] }
                    for i in 0..<hs {
                        var acc: Float = 0
                        for t2 in 0...t { acc += scores[t2] * values[base + t2 * c + head * hs + i] }
                        y[head * hs + i] = acc / sum
                    }
                }
                vectorMatrix(&proj, y, p(.attprojw) + layer * c * c, p(.attprojb) + layer * c, inputs: c, outputs: c)
                for i in 0..<c { x[i] += proj[i] }
                layerNorm(&h, x, p(.ln2w) + layer * c, p(.ln2b) + layer * c)
                vectorMatrix(&fc, h, p(.fcw) + layer * c * 4 * c, p(.fcb) + layer * 4 * c, inputs: c, outputs: 4 * c)
                for i in 0..<(4 * c) {
                    let v = fc[i]
                    fc[i] = 0.5 * v * (1 + Foundation.tanh(Float(Layers.geluScale) * (v + 0.044715 * v * v * v)))
                }
                vectorMatrix(&fcOut, fc, p(.fcprojw) + layer * 4 * c * c, p(.fcprojb) + layer * c, inputs: 4 * c, outputs: c)
                for i in 0..<c { x[i] += fcOut[i] }
            }
            layerNorm(&h, x, p(.lnfw), p(.lnfb))
            h.withUnsafeBufferPointer { hb in
                logits.withUnsafeMutableBufferPointer { lb in
                    Float.gemm(transA: false, transB: true, m: 1, n: config.vocabSize, k: c, a: hb.baseAddress!, lda: c,
                               b: wte, ldb: c, beta: 0, c: lb.baseAddress!, ldc: config.vocabSize)
                }
            }
        }
        length += 1
    }

    private func layerNorm(_ out: inout [Float], _ inp: [Float], _ w: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>) {
        let c = inp.count
        var mean: Float = 0
        for v in inp { mean += v }
        mean /= Float(c)
        var variance: Float = 0
        for v in inp { variance += (v - mean) * (v - mean) }
        let rstd = 1 / (variance / Float(c) + Float(Layers.epsilon)).squareRoot()
        for i in 0..<c { out[i] = (inp[i] - mean) * rstd * w[i] + b[i] }
    }

    /// out[outputs] = inp[inputs] · W[inputs × outputs] + b
    private func vectorMatrix(_ out: inout [Float], _ inp: [Float], _ w: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                              inputs: Int, outputs: Int) {
        inp.withUnsafeBufferPointer { ib in
            out.withUnsafeMutableBufferPointer { ob in
                Float.gemm(transA: false, transB: false, m: 1, n: outputs, k: inputs, a: ib.baseAddress!, lda: inputs,
                           b: w, ldb: outputs, beta: 0, c: ob.baseAddress!, ldc: outputs)
                for j in 0..<outputs { ob[j] += b[j] }
            }
        }
    }

}

extension TokenGenerator {
    /// Picks the next token: greedy at temperature 0, else sampling from the top-k (0: all).
    public func sample(temperature: Double, topK: Int, rng: inout SplitMix64) -> Int32 {
        if temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        var candidates = Array(logits.indices)
        if topK > 0 && topK < logits.count {
            candidates.sort { logits[$0] > logits[$1] }
            candidates = Array(candidates.prefix(topK))
        }
        let maxv = candidates.map { logits[$0] }.max() ?? 0
        let weights = candidates.map { Foundation.exp(Double(logits[$0] - maxv) / temperature) }
        let total = weights.reduce(0, +)
        var r = rng.uniform() * total
        for (i, w) in zip(candidates, weights) {
            r -= w
            if r <= 0 { return Int32(i) }
        }
        return Int32(candidates.last ?? 0)
    }
}
