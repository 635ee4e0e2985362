import Foundation
import QuarryCore

/// AdamW (Loshchilov & Hutter): Adam moments with weight decay applied to the weights
/// directly (decoupled), on every 2-D weight matrix; biases, LayerNorm gains and the position
/// embedding get no decay, as in nanoGPT.
public struct AdamW {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0.1
    public private(set) var m: [Float]
    public private(set) var v: [Float]
    public private(set) var step = 0
    /// Which parameters are decayed (1) or not (0).
    let decay: [Float]
    /// Each parameter's factor on the learning rate (nil: 1 for all), for layer-wise decay.
    let rateScale: [Float]?

    /// For any parameter vector; `decay` marks the entries that are decayed (1) or not (0).
    /// `rateScale`: each parameter's factor on the learning rate (nil: 1 for all).
    public init(count: Int, decay: [Float], weightDecay: Float, rateScale: [Float]? = nil) {
        self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: count)
        v = m
        self.decay = decay
        self.rateScale = rateScale
    }

    /// `layerDecay` below 1 gives lower layers smaller steps (ELECTRA's and BEiT's layer-wise
    /// decay): the final LayerNorm keeps the full rate, block i of L gets `layerDecay^(L−i)`
    /// and the embeddings `layerDecay^(L+1)`, so fine-tuning moves the pre-trained features
    /// nearest the input least.
    public init(model: GPT<Float>, weightDecay: Float = 0.1, layerDecay: Float = 1) {
        self.weightDecay = weightDecay
        m = [Float](repeating: 0, count: model.parameters.count)
        v = m
        var decay = [Float](repeating: 0, count: model.parameters.count)
        var offset = 0
        for (name, shape) in model.config.tensorShapes {
            let count = shape.reduce(1, *)
            if name.isDecayed {
                for i in offset..<(offset + count) { decay[i] = 1 }
            }
            offset += count
        }
        self.decay = decay
        rateScale = layerDecay == 1 ? nil : Self.layerRates(model.config, decay: layerDecay)
    }

    static func layerRates(_ config: ModelConfig, decay: Float) -> [Float] {
        let layers = config.nLayer
        var scale: [Float] = []
        scale.reserveCapacity(config.parameterCount)
        for (name, shape) in config.tensorShapes {
            let count = shape.reduce(1, *)
            switch name {
            case .wte, .wpe:
                scale += [Float](repeating: Float.pow(decay, layers + 1), count: count)
            case .lnfw, .lnfb:
                scale += [Float](repeating: 1, count: count)
            default:  // stacked per block: [L, …]
                for layer in 0..<layers { scale += [Float](repeating: Float.pow(decay, layers - layer), count: count / layers) }
            }
        }
        return scale
    }

    /// One update with learning rate `lr` from the model's accumulated gradients.
    public mutating func update(_ model: GPT<Float>, lr: Float) {
        if let gradients = model.adapters?.gradients {
            update(&model.adapters!.parameters, gradients, lr: lr)   // the `if let` saw them
            return
        }
        model.update { params, grads in update(&params, grads, lr: lr) }
    }

    public mutating func update(_ params: inout [Float], _ grads: [Float], lr: Float) {
        step += 1
        let correction1 = 1 - Float.pow(beta1, step), correction2 = 1 - Float.pow(beta2, step)
        for i in 0..<params.count {
            let g = grads[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            let mHat = m[i] / correction1, vHat = v[i] / correction2
            params[i] -= lr * (rateScale?[i] ?? 1) * (mHat / (vHat.squareRoot() + epsilon) + weightDecay * decay[i] * params[i])
        }
    }

    /// Restores the optimizer state saved with a checkpoint.
    public mutating func restore(m: [Float], v: [Float], step: Int) throws {
        guard m.count == self.m.count, v.count == self.v.count else { throw QuarryError("optimizer state does not match the model") }
        self.m = m
        self.v = v
        self.step = step
    }
}

extension Float {
    static func pow(_ x: Float, _ n: Int) -> Float { Foundation.pow(x, Float(n)) }
}

extension GPT {
    /// Gives an optimizer the parameters and gradients together.
    func update(_ body: (inout [T], [T]) -> Void) {
        body(&parameters, gradients)
    }

    /// Scales gradients (a frozen base's adapters') so their global norm is at most `maxNorm`;
    /// returns the norm before.
    @discardableResult
    public func clipGradients(maxNorm: T) -> T {
        if adapters != nil { return adapters?.gradients.clipNorm(to: maxNorm) ?? 0 }
        return gradients.clipNorm(to: maxNorm)
    }
}

extension Array where Element: TrainingScalar {
    /// Scales the values in place so their Euclidean norm is at most `maxNorm`; returns the norm
    /// before (gradient clipping, the whole model's or its adapters').
    mutating func clipNorm(to maxNorm: Element) -> Element {
        var sum: Element = 0
        for g in self { sum += g * g }
        let norm = Element.squareRoot(sum)
        guard norm > maxNorm && norm > 0 else { return norm }
        let scale = maxNorm / norm
        withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= scale } }
        return norm
    }
}
