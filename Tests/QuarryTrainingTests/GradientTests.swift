import Foundation
import Testing
import QuarryCore
import CTrainingKernels
@testable import QuarryTraining

@Suite struct GradientTests {
    /// Every tensor's analytic gradient against central finite differences, in double precision,
    /// without dropout and with it (the same masks in every pass of one step).
    /// With ignored targets (-1) too: the loss is the mean over the positions that count.
    @Test(arguments: [(0.0, false), (0.3, false), (0.0, true)])
    func backwardMatchesFiniteDifferences(dropout: Double, ignoring: Bool) throws {
        let config = ModelConfig(vocabSize: 11, nLayer: 2, nHead: 2, nEmbd: 8, nPositions: 6, dropout: dropout)
        let model = try GPT<Double>(config: config)
        model.initialise(seed: 7)
        // Larger weights than GPT-2's init so that every path carries a visible gradient.
        for i in model.parameters.indices { model.setParameter(i, model.parameters[i] * 10 + (i % 3 == 0 ? 0.05 : -0.03)) }
        let B = 2, T = 5
        var rng = SplitMix64(seed: 3)
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % 11) }
        var targets = (0..<(B * T)).map { _ in Int32(rng.next() % 11) }
        if ignoring {
            for i in [0, 1, 2, 6, 9] { targets[i] = -1 }
            // Known answer: the mean over the five counted positions of the full pass's losses.
            let masked = try #require(try model.forward(tokens: tokens, targets: targets, B: B, T: T))
            let perPosition = try (0..<(B * T)).map { i -> Double in
                var one = [Int32](repeating: -1, count: B * T)
                one[i] = targets[i]
                return targets[i] < 0 ? 0 : try #require(try model.forward(tokens: tokens, targets: one, B: B, T: T))
            }
            #expect(abs(masked - perPosition.reduce(0, +) / 5) < 1e-12)
            #expect(try model.forward(tokens: tokens, targets: [Int32](repeating: -1, count: B * T), B: B, T: T) == 0)
            #expect(throws: QuarryError.self) { try model.forward(tokens: tokens, targets: [Int32](repeating: -2, count: B * T), B: B, T: T) }
        }
        model.zeroGradients()
        _ = try model.forward(tokens: tokens, targets: targets, B: B, T: T, pass: .training)
        try model.backward()
        let analytic = model.gradients
        var offset = 0
        for (name, shape) in config.tensorShapes {
            let count = shape.reduce(1, *)
            // A few entries of each tensor, spread over it.
            for k in [0, count / 3, count / 2, count - 1] {
                let i = offset + k
                let original = model.parameters[i]
                let h = 1e-5
                model.setParameter(i, original + h)
                let plus = try model.forward(tokens: tokens, targets: targets, B: B, T: T, pass: .lossWithCurrentDropout) ?? 0
                model.setParameter(i, original - h)
                let minus = try model.forward(tokens: tokens, targets: targets, B: B, T: T, pass: .lossWithCurrentDropout) ?? 0
                model.setParameter(i, original)
                let numeric = (plus - minus) / (2 * h)
                let scale = max(1e-6, abs(numeric) + abs(analytic[i]))
                #expect(abs(numeric - analytic[i]) / scale < 1e-5 || abs(numeric - analytic[i]) < 1e-9,
                        "\(name)[\(k)]: analytic \(analytic[i]) vs numeric \(numeric)")
            }
            offset += count
        }
    }

    /// The vectorised Float kernels (C) against the plain Double definitions.
    /// LoRA on GPT-2 (all four projections, its fused c_attn too): the adapters' gradients
    /// against finite differences with the model's dropout and the adapters' own, the base frozen
    /// (no gradient buffer); a new adapter changes nothing, and merging keeps the adapted outputs.
    @Test(arguments: [(0.0, 0.0), (0.2, 0.3)])
    func gpt2AdapterGradientsMatchFiniteDifferences(dropout: Double, adapterDropout: Double) throws {
        let config = ModelConfig(vocabSize: 11, nLayer: 2, nHead: 2, nEmbd: 8, nPositions: 6, dropout: dropout)
        let model = try GPT<Double>(config: config)
        model.initialise(seed: 7)
        for i in model.parameters.indices { model.setParameter(i, model.parameters[i] * 10 + (i % 3 == 0 ? 0.05 : -0.03)) }
        let tokens: [Int32] = [1, 5, 9, 2, 0, 7, 3, 10, 4, 6], targets: [Int32] = [5, 9, -1, 4, 7, 3, -1, 1, 2, 8]
        _ = try model.forward(tokens: tokens, targets: nil, B: 2, T: 5)
        let plainLogits = Array(model.logits())
        try model.attachAdapters(LoRAConfig(rank: 3, alpha: 6, dropout: adapterDropout, targets: [.fusedQKV, .output, .up, .down]), seed: 5)
        _ = try model.forward(tokens: tokens, targets: nil, B: 2, T: 5)
        #expect(Array(model.logits()) == plainLogits, "B starts at zero")
        var rng = SplitMix64(seed: 8)
        for i in model.adapters!.parameters.indices { model.adapters!.parameters[i] = rng.uniform() - 0.5 }   // B nonzero too
        _ = try model.forward(tokens: tokens, targets: targets, B: 2, T: 5, pass: .training)
        try model.backward()
        let analytic = model.adapters!.gradients
        #expect(model.gradients.isEmpty, "the frozen base's gradients are never allocated")
        let h = 1e-5, original = model.adapters!.parameters
        var worst = 0.0
        for i in original.indices {
            model.adapters!.parameters[i] = original[i] + h
            let up = try #require(try model.forward(tokens: tokens, targets: targets, B: 2, T: 5, pass: .lossWithCurrentDropout))
            model.adapters!.parameters[i] = original[i] - h
            let down = try #require(try model.forward(tokens: tokens, targets: targets, B: 2, T: 5, pass: .lossWithCurrentDropout))
            model.adapters!.parameters[i] = original[i]
            let numeric = (up - down) / (2 * h)
            worst = max(worst, abs(numeric - analytic[i]) / max(1e-3, abs(numeric) + abs(analytic[i])))
        }
        // Weights ten times GPT-2's make the curvature, hence the differences' own error, larger than the Llama check's.
        #expect(worst < 1e-5, "worst relative difference \(worst)")
        #expect(analytic.contains { $0 != 0 })

        _ = try model.forward(tokens: tokens, targets: nil, B: 2, T: 5)
        let adapted = Array(model.logits())
        #expect(adapted != plainLogits)
        model.mergeAdapters()
        _ = try model.forward(tokens: tokens, targets: nil, B: 2, T: 5)
        let merged = Array(model.logits())
        #expect(zip(merged, adapted).allSatisfy { abs($0 - $1) < 1e-9 }, "merged weights give the adapted outputs")
    }

    @Test func gpt2TargetsAreItsOwnProjections() throws {
        #expect(try LoRATarget.forGPT2([.query, .key, .value, .output]) == [.fusedQKV, .output])
        #expect(try LoRATarget.forGPT2([.up, .down]) == [.up, .down])
        #expect(throws: QuarryError.self) { try LoRATarget.forGPT2([.query, .value]) }
        #expect(throws: QuarryError.self) { try LoRATarget.forGPT2([.gate]) }
        #expect(LoRATarget.named("c_proj") == [.output, .down])
        #expect(LoRATarget.named("c_attn") == [.fusedQKV] && LoRATarget.named("mlp.c_fc") == [.up] && LoRATarget.named("attn.c_proj") == [.output])
        #expect(LoRATarget.named("q_proj") == [.query] && LoRATarget.named("lm_head") == nil)
    }

    @Test func floatKernelsMatchTheDoubleDefinitions() throws {
        var rng = SplitMix64(seed: 11)
        let n = 4099
        let x: [Double] = (0..<n).map { _ in (rng.uniform() - 0.5) * 24 }
        var exps = [Float](repeating: 0, count: n)
        x.map(Float.init).withUnsafeBufferPointer { quarry_exp(&exps, $0.baseAddress!, n) }
        for i in 0..<n where abs(x[i]) < 80 {
            #expect(abs(Double(exps[i]) - Foundation.exp(Double(Float(x[i])))) <= 3e-7 * Foundation.exp(Double(Float(x[i]))), "exp(\(x[i]))")
        }
        let dout: [Double] = (0..<n).map { _ in rng.uniform() - 0.5 }
        var outF = [Float](repeating: 0, count: n), outD = [Double](repeating: 0, count: n)
        var dinF = [Float](repeating: 0.25, count: n), dinD = [Double](repeating: 0.25, count: n)
        var xF = x.map(Float.init), xD = x, doutF = dout.map(Float.init), doutD = dout
        Layers.geluForward(&outF, &xF, N: n)
        Layers.geluForward(&outD, &xD, N: n)
        Layers.geluBackward(&dinF, &xF, &doutF, N: n)
        Layers.geluBackward(&dinD, &xD, &doutD, N: n)
        for i in 0..<n {
            #expect(abs(Double(outF[i]) - outD[i]) <= 2e-6 * max(1, abs(outD[i])), "gelu(\(x[i]))")
            #expect(abs(Double(dinF[i]) - dinD[i]) <= 1e-5 * max(1, abs(dinD[i])), "gelu'(\(x[i]))")
        }
        // Softmax + cross-entropy over rows of 1,000 logits, one row ignored.
        let rows = 5, v = 1000
        var logitsD: [Double] = (0..<(rows * v)).map { _ in (rng.uniform() - 0.5) * 30 }
        var logitsF = logitsD.map(Float.init)
        let targets: [Int32] = [3, 999, -1, 0, 500]
        var probsF = [Float](repeating: 1, count: rows * v), probsD = [Double](repeating: 1, count: rows * v)
        var lossF = [Float](repeating: 1, count: rows), lossD = [Double](repeating: 1, count: rows)
        targets.withUnsafeBufferPointer { t in
            Layers.softmaxCrossEntropyForward(&probsF, &lossF, &logitsF, t.baseAddress!, N: rows, V: v)
            Layers.softmaxCrossEntropyForward(&probsD, &lossD, &logitsD, t.baseAddress!, N: rows, V: v)
        }
        for r in 0..<rows {
            #expect(abs(Double(lossF[r]) - lossD[r]) <= 1e-5 * max(1, lossD[r]), "loss of row \(r)")
            for j in 0..<v { #expect(abs(Double(probsF[r * v + j]) - probsD[r * v + j]) <= 1e-6) }
        }
        #expect(lossF[2] == 0 && probsF[(2 * v)..<(3 * v)].allSatisfy { $0 == 0 })
        // In place, as the model calls it (probabilities over the logits): the same losses.
        var inPlace = logitsF, inPlaceLoss = [Float](repeating: 1, count: rows)
        targets.withUnsafeBufferPointer { t in
            inPlace.withUnsafeMutableBufferPointer { buffer in
                let p = buffer.baseAddress!
                Layers.softmaxCrossEntropyForward(p, &inPlaceLoss, p, t.baseAddress!, N: rows, V: v)
            }
        }
        #expect(inPlaceLoss == lossF && inPlace == probsF)
        // Causal attention weights of one head (T = 37, head size 8, rows of a 3·C-wide qkv).
        try BLAS.load(threads: 1)
        let t = 37, hs = 8, c3 = 24
        let qkvD: [Double] = (0..<(t * c3)).map { _ in (rng.uniform() - 0.5) * 6 }
        var qkvF = qkvD.map(Float.init), qkvDm = qkvD
        var wF = [Float](repeating: 9, count: t * t), wD = [Double](repeating: 9, count: t * t)
        qkvF.withUnsafeMutableBufferPointer { q in Layers.attentionWeights(&wF, q.baseAddress!, q.baseAddress! + hs, T: t, hs: hs, c3: c3) }
        qkvDm.withUnsafeMutableBufferPointer { q in Layers.attentionWeights(&wD, q.baseAddress!, q.baseAddress! + hs, T: t, hs: hs, c3: c3) }
        for i in 0..<t {
            for j in 0..<t {
                #expect(abs(Double(wF[i * t + j]) - wD[i * t + j]) <= 1e-6, "w[\(i)][\(j)]")
                if j > i { #expect(wF[i * t + j] == 0) }
            }
            #expect(abs(wF[(i * t)..<(i * t + t)].reduce(0, +) - 1) < 1e-5)
        }
    }

    @Test func dropoutDropsAboutItsShareAndScalesTheRest() {
        let mask = Layers.Dropout(key: 42, probability: 0.25)
        let factors: [Double] = (0..<100_000).map { mask.factor($0) }
        let dropped = factors.filter { $0 == 0 }.count
        #expect(abs(Double(dropped) / 100_000 - 0.25) < 0.01)
        #expect(factors.allSatisfy { $0 == 0 || abs($0 - 4.0 / 3.0) < 1e-12 })
        // Another site gets another mask; the same site the same one.
        let a: [Double] = (0..<64).map { mask.site(1, 2).factor($0) }, b: [Double] = (0..<64).map { mask.site(1, 2).factor($0) }
        let c: [Double] = (0..<64).map { mask.site(2, 2).factor($0) }
        #expect(a == b && a != c)
    }

    @Test func configValidationAndPresets() throws {
        #expect(throws: QuarryError.self) { try GPT<Double>(config: ModelConfig(vocabSize: 10, nLayer: 1, nHead: 3, nEmbd: 8, nPositions: 4)) }
        let tiny = try ModelConfig.preset("tiny", vocabSize: 8192)
        #expect(tiny.nLayer == 4 && tiny.nHead == 4 && tiny.nEmbd == 256 && tiny.nPositions == 256)
        let small = try ModelConfig.preset("small", vocabSize: 8192)
        #expect(small.nLayer == 6 && small.nHead == 6 && small.nEmbd == 384)
        // GPT-2 small's well-known parameter count with tied embeddings: 124,439,808.
        #expect(ModelConfig(vocabSize: 50257, nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024).parameterCount == 124_439_808)
        let model = try GPT<Double>(config: ModelConfig(vocabSize: 5, nLayer: 1, nHead: 1, nEmbd: 4, nPositions: 3))
        #expect(throws: QuarryError.self) { try model.forward(tokens: [1, 2, 3, 4], targets: nil, B: 1, T: 4) }
        #expect(throws: QuarryError.self) { try model.forward(tokens: [9], targets: nil, B: 1, T: 1) }
    }

    @Test func tinyModelOverfitsOneBatch() throws {
        try BLAS.load()
        let config = ModelConfig(vocabSize: 32, nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 16)
        let model = try GPT<Float>(config: config)
        model.initialise(seed: 1)
        var optimizer = AdamW(model: model, weightDecay: 0)
        let B = 4, T = 16
        var rng = SplitMix64(seed: 9)
        let data = (0..<(B * T + 1)).map { _ in Int32(rng.next() % 32) }
        let tokens = Array(data[0..<(B * T)]), targets = Array(data[1...])
        var first: Float = 0, last: Float = 0
        for step in 0..<150 {
            model.zeroGradients()
            let loss = try model.forward(tokens: tokens, targets: targets, B: B, T: T, pass: .training) ?? 0
            if step == 0 { first = loss }
            last = loss
            try model.backward()
            optimizer.update(model, lr: 3e-3)
        }
        #expect(abs(first - Float(Foundation.log(32.0))) < 0.3)   // starts near uniform
        #expect(last < 0.1, "loss went from \(first) to \(last)")
    }
}
