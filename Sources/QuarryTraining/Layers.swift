import Dispatch

/// The layers of GPT-2, forward and backward, over contiguous buffers (shapes in comments:
/// B batch, T time, C channels, OC output channels, NH heads, V vocabulary). Backward
/// functions accumulate (+=) into gradients, as several paths feed the same tensors.
/// Weights are in Hugging Face's Conv1D orientation, [in, out].
enum Layers {
    typealias P<T> = UnsafeMutablePointer<T>

    // MARK: embeddings

    /// out[b,t,:] = wte[token] + wpe[t]
    static func encoderForward<T: TrainingScalar>(_ out: P<T>, _ tokens: UnsafePointer<Int32>, _ wte: P<T>, _ wpe: P<T>, B: Int, T n: Int, C: Int) {
        for b in 0..<B {
            for t in 0..<n {
                let o = out + (b * n + t) * C, e = wte + Int(tokens[b * n + t]) * C, p = wpe + t * C
                for i in 0..<C { o[i] = e[i] + p[i] }
            }
        }
    }

    static func encoderBackward<T: TrainingScalar>(_ dwte: P<T>, _ dwpe: P<T>, _ dout: P<T>, _ tokens: UnsafePointer<Int32>, B: Int, T n: Int, C: Int) {
        for b in 0..<B {
            for t in 0..<n {
                let d = dout + (b * n + t) * C, e = dwte + Int(tokens[b * n + t]) * C, p = dwpe + t * C
                for i in 0..<C { e[i] += d[i]; p[i] += d[i] }
            }
        }
    }

    // MARK: layer norm

    static let epsilon = 1e-5

    /// out = (x - mean) / sqrt(var + eps) * w + b, per position; keeps mean and 1/std for backward.
    static func layernormForward<T: TrainingScalar>(_ out: P<T>, _ mean: P<T>, _ rstd: P<T>, _ inp: P<T>, _ weight: P<T>, _ bias: P<T>, N: Int, C: Int) {
        for i in 0..<N {
            let x = inp + i * C
            var m: T = 0
            for k in 0..<C { m += x[k] }
            m /= T(C)
            var v: T = 0
            for k in 0..<C { let d = x[k] - m; v += d * d }
            v /= T(C)
            let s = 1 / T.squareRoot(v + T(epsilon))
            let o = out + i * C
            for k in 0..<C { o[k] = (s * (x[k] - m)) * weight[k] + bias[k] }
            mean[i] = m
            rstd[i] = s
        }
    }

    static func layernormBackward<T: TrainingScalar>(_ dinp: P<T>, _ dweight: P<T>, _ dbias: P<T>, _ dout: P<T>, _ inp: P<T>, _ weight: P<T>,
                                                     _ mean: P<T>, _ rstd: P<T>, N: Int, C: Int) {
        for i in 0..<N {
            let d = dout + i * C, x = inp + i * C, dx = dinp + i * C
            let m = mean[i], s = rstd[i]
            var dnormMean: T = 0, dnormNormMean: T = 0
            for k in 0..<C {
                let norm = (x[k] - m) * s
                let dnorm = weight[k] * d[k]
                dnormMean += dnorm
                dnormNormMean += dnorm * norm
            }
            dnormMean /= T(C)
            dnormNormMean /= T(C)
            for k in 0..<C {
                let norm = (x[k] - m) * s
                let dnorm = weight[k] * d[k]
                dbias[k] += d[k]
                dweight[k] += norm * d[k]
                dx[k] += (dnorm - dnormMean - norm * dnormNormMean) * s
            }
        }
    }

    // MARK: matmul (Conv1D: out = inp · W + b)

    static func matmulForward<T: TrainingScalar>(_ out: P<T>, _ inp: P<T>, _ weight: P<T>, _ bias: P<T>?, N: Int, C: Int, OC: Int) {
        T.gemm(transA: false, transB: false, m: N, n: OC, k: C, a: inp, lda: C, b: weight, ldb: OC, beta: 0, c: out, ldc: OC)
        if let bias { for i in 0..<N { let o = out + i * OC; for j in 0..<OC { o[j] += bias[j] } } }
    }

    static func matmulBackward<T: TrainingScalar>(_ dinp: P<T>, _ dweight: P<T>, _ dbias: P<T>?, _ dout: P<T>, _ inp: P<T>, _ weight: P<T>,
                                                  N: Int, C: Int, OC: Int) {
        // dinp[N×C] += dout[N×OC] · Wᵀ ; dW[C×OC] += inpᵀ · dout
        T.gemm(transA: false, transB: true, m: N, n: C, k: OC, a: dout, lda: OC, b: weight, ldb: OC, beta: 1, c: dinp, ldc: C)
        T.gemm(transA: true, transB: false, m: C, n: OC, k: N, a: inp, lda: C, b: dout, ldb: OC, beta: 1, c: dweight, ldc: OC)
        if let dbias { for i in 0..<N { let d = dout + i * OC; for j in 0..<OC { dbias[j] += d[j] } } }
    }

    // MARK: causal self-attention

    /// qkv (B,T,3C) → out (B,T,C); preatt/att (B,NH,T,T) kept for backward. One (b, h) per task.
    static func attentionForward<T: TrainingScalar>(_ out: P<T>, _ preatt: P<T>, _ att: P<T>, _ qkv: P<T>, B: Int, T n: Int, C: Int, NH: Int) {
        let hs = C / NH
        let scale = 1 / T.squareRoot(T(hs))
        let c3 = 3 * C
        let work = { (bh: Int) in
            let b = bh / NH, h = bh % NH
            for t in 0..<n {
                let q = qkv + (b * n + t) * c3 + h * hs
                let pre = preatt + ((b * NH + h) * n + t) * n, w = att + ((b * NH + h) * n + t) * n
                var maxv = -T.greatestFiniteMagnitude
                for t2 in 0...t {
                    let k = qkv + (b * n + t2) * c3 + h * hs + C
                    var dot: T = 0
                    for i in 0..<hs { dot += q[i] * k[i] }
                    dot *= scale
                    if dot > maxv { maxv = dot }
                    pre[t2] = dot
                }
                var sum: T = 0
                for t2 in 0...t { let e = T.exponential(pre[t2] - maxv); sum += e; w[t2] = e }
                let inv = sum == 0 ? 0 : 1 / sum
                for t2 in 0..<n { w[t2] = t2 <= t ? w[t2] * inv : 0 }
                let o = out + (b * n + t) * C + h * hs
                for i in 0..<hs { o[i] = 0 }
                for t2 in 0...t {
                    let v = qkv + (b * n + t2) * c3 + h * hs + 2 * C
                    let a = w[t2]
                    for i in 0..<hs { o[i] += a * v[i] }
                }
            }
        }
        parallel(B * NH, work)
    }

    static func attentionBackward<T: TrainingScalar>(_ dqkv: P<T>, _ dpreatt: P<T>, _ datt: P<T>, _ dout: P<T>, _ qkv: P<T>, _ att: P<T>,
                                                     B: Int, T n: Int, C: Int, NH: Int) {
        let hs = C / NH
        let scale = 1 / T.squareRoot(T(hs))
        let c3 = 3 * C
        let work = { (bh: Int) in
            let b = bh / NH, h = bh % NH
            for t in 0..<n {
                let w = att + ((b * NH + h) * n + t) * n
                let dw = datt + ((b * NH + h) * n + t) * n
                let dpre = dpreatt + ((b * NH + h) * n + t) * n
                let dq = dqkv + (b * n + t) * c3 + h * hs
                let q = qkv + (b * n + t) * c3 + h * hs
                let d = dout + (b * n + t) * C + h * hs
                // out = att · v
                for t2 in 0...t {
                    let v = qkv + (b * n + t2) * c3 + h * hs + 2 * C
                    let dv = dqkv + (b * n + t2) * c3 + h * hs + 2 * C
                    for i in 0..<hs {
                        dw[t2] += v[i] * d[i]
                        dv[i] += w[t2] * d[i]
                    }
                }
                // softmax
                for t2 in 0...t {
                    for t3 in 0...t {
                        let indicator: T = t2 == t3 ? 1 : 0
                        dpre[t3] += w[t2] * (indicator - w[t3]) * dw[t2]
                    }
                }
                // q · k
                for t2 in 0...t {
                    let k = qkv + (b * n + t2) * c3 + h * hs + C
                    let dk = dqkv + (b * n + t2) * c3 + h * hs + C
                    for i in 0..<hs {
                        dq[i] += k[i] * dpre[t2] * scale
                        dk[i] += q[i] * dpre[t2] * scale
                    }
                }
            }
        }
        // Heads of one batch row touch disjoint slices of dqkv; batch rows are disjoint too.
        parallel(B * NH, work)
    }

    // MARK: GELU (tanh approximation), residual

    static let geluScale = 0.7978845608028654 // sqrt(2/pi)

    static func geluForward<T: TrainingScalar>(_ out: P<T>, _ inp: P<T>, N: Int) {
        let s = T(geluScale)
        for i in 0..<N {
            let x = inp[i]
            out[i] = T(0.5) * x * (1 + T.hyperbolicTangent(s * (x + T(0.044715) * x * x * x)))
        }
    }

    static func geluBackward<T: TrainingScalar>(_ dinp: P<T>, _ inp: P<T>, _ dout: P<T>, N: Int) {
        let s = T(geluScale)
        for i in 0..<N {
            let x = inp[i]
            let cube = T(0.044715) * x * x * x
            let arg = s * (x + cube)
            let th = T.hyperbolicTangent(arg)
            let sech2 = 1 - th * th
            let local = T(0.5) * (1 + th) + x * T(0.5) * sech2 * s * (1 + 3 * T(0.044715) * x * x)
            dinp[i] += local * dout[i]
        }
    }

    static func residualForward<T: TrainingScalar>(_ out: P<T>, _ a: P<T>, _ b: P<T>, N: Int) {
        for i in 0..<N { out[i] = a[i] + b[i] }
    }

    static func residualBackward<T: TrainingScalar>(_ da: P<T>, _ db: P<T>, _ dout: P<T>, N: Int) {
        for i in 0..<N { da[i] += dout[i]; db[i] += dout[i] }
    }

    // MARK: softmax + cross-entropy

    /// probs = softmax(logits) per position; losses = -log(probs[target]).
    static func softmaxCrossEntropyForward<T: TrainingScalar>(_ probs: P<T>, _ losses: P<T>, _ logits: P<T>, _ targets: UnsafePointer<Int32>, N: Int, V: Int) {
        for i in 0..<N {
            let l = logits + i * V, p = probs + i * V
            var maxv = -T.greatestFiniteMagnitude
            for j in 0..<V where l[j] > maxv { maxv = l[j] }
            var sum: T = 0
            for j in 0..<V { let e = T.exponential(l[j] - maxv); p[j] = e; sum += e }
            for j in 0..<V { p[j] /= sum }
            losses[i] = -T.logarithm(max(p[Int(targets[i])], T.leastNormalMagnitude))
        }
    }

    /// dlogits += (probs - onehot(target)) · dloss[i]
    static func softmaxCrossEntropyBackward<T: TrainingScalar>(_ dlogits: P<T>, _ probs: P<T>, _ targets: UnsafePointer<Int32>, dloss: T, N: Int, V: Int) {
        for i in 0..<N {
            let d = dlogits + i * V, p = probs + i * V
            let target = Int(targets[i])
            for j in 0..<V { d[j] += (p[j] - (j == target ? 1 : 0)) * dloss }
        }
    }

    static func parallel(_ count: Int, _ body: (Int) -> Void) {
        if count < 2 { for i in 0..<count { body(i) }; return }
        withoutActuallyEscaping(body) { escaping in
            let box = UnsafeSendableClosure(escaping)
            DispatchQueue.concurrentPerform(iterations: count) { box.body($0) }
        }
    }
}

struct UnsafeSendableClosure: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}
