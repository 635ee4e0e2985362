import Dispatch
import CTrainingKernels
import Foundation
import QuarryCore

/// The layers of GPT-2, forward and backward, over contiguous buffers (shapes in comments:
/// B batch, T time, C channels, OC output channels, NH heads, V vocabulary). Backward
/// functions accumulate (+=) into gradients, as several paths feed the same tensors.
/// Weights are in Hugging Face's Conv1D orientation, [in, out].
enum Layers {
    typealias P<T> = UnsafeMutablePointer<T>

    // MARK: sequences

    /// How the rows of a pass split into sequences: B sequences of T tokens, or texts of
    /// different lengths laid end to end (packed, with no padding). Only the position embeddings
    /// and attention look across rows, and neither crosses from one sequence into the next.
    struct Sequences: Equatable, Sendable {
        let starts: [Int]
        let lengths: [Int]
        let rows: Int
        let longest: Int

        init(lengths: [Int]) {
            var starts: [Int] = [], row = 0
            for length in lengths { starts.append(row); row += length }
            self.starts = starts
            self.lengths = lengths
            rows = row
            longest = lengths.max() ?? 0
        }

        static func uniform(B: Int, T n: Int) -> Sequences { Sequences(lengths: [Int](repeating: n, count: B)) }

        var count: Int { lengths.count }
    }

    // MARK: embeddings

    /// out[row,:] = wte[token] + wpe[position of the row in its sequence]
    static func encoderForward<T: TrainingScalar>(_ out: P<T>, _ tokens: UnsafePointer<Int32>, _ wte: P<T>, _ wpe: P<T>, _ sequences: Sequences, C: Int) {
        for (start, length) in zip(sequences.starts, sequences.lengths) {
            for t in 0..<length {
                let o = out + (start + t) * C, e = wte + Int(tokens[start + t]) * C, p = wpe + t * C
                for i in 0..<C { o[i] = e[i] + p[i] }
            }
        }
    }

    static func encoderBackward<T: TrainingScalar>(_ dwte: P<T>, _ dwpe: P<T>, _ dout: P<T>, _ tokens: UnsafePointer<Int32>, _ sequences: Sequences, C: Int) {
        for (start, length) in zip(sequences.starts, sequences.lengths) {
            for t in 0..<length {
                let d = dout + (start + t) * C, e = dwte + Int(tokens[start + t]) * C, p = dwpe + t * C
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

    /// `dweight` and `dbias` nil: a frozen layer, the input's gradient only.
    static func layernormBackward<T: TrainingScalar>(_ dinp: P<T>, _ dweight: P<T>?, _ dbias: P<T>?, _ dout: P<T>, _ inp: P<T>, _ weight: P<T>,
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
                dbias?[k] += d[k]
                dweight?[k] += norm * d[k]
                dx[k] += (dnorm - dnormMean - norm * dnormNormMean) * s
            }
        }
    }

    // MARK: matmul (Conv1D: out = inp · W + b)

    static func matmulForward<T: TrainingScalar>(_ out: P<T>, _ inp: P<T>, _ weight: P<T>, _ bias: P<T>?, N: Int, C: Int, OC: Int) {
        T.gemm(transA: false, transB: false, m: N, n: OC, k: C, a: inp, lda: C, b: weight, ldb: OC, beta: 0, c: out, ldc: OC)
        if let bias { for i in 0..<N { let o = out + i * OC; for j in 0..<OC { o[j] += bias[j] } } }
    }

    /// `dweight` nil: a frozen weight, the input's gradient only.
    static func matmulBackward<T: TrainingScalar>(_ dinp: P<T>, _ dweight: P<T>?, _ dbias: P<T>?, _ dout: P<T>, _ inp: P<T>, _ weight: P<T>,
                                                  N: Int, C: Int, OC: Int) {
        // dinp[N×C] += dout[N×OC] · Wᵀ ; dW[C×OC] += inpᵀ · dout
        T.gemm(transA: false, transB: true, m: N, n: C, k: OC, a: dout, lda: OC, b: weight, ldb: OC, beta: 1, c: dinp, ldc: C)
        if let dweight { T.gemm(transA: true, transB: false, m: C, n: OC, k: N, a: inp, lda: C, b: dout, ldb: OC, beta: 1, c: dweight, ldc: OC) }
        if let dbias { for i in 0..<N { let d = dout + i * OC; for j in 0..<OC { dbias[j] += d[j] } } }
    }

    // MARK: causal self-attention

    /// qkv (rows,3C) → out (rows,C). Per (sequence, head) the scores and the weighted values are two
    /// matrix products (the masked upper triangle is computed and ignored: cheaper than T small
    /// products). The T×T weights live in a scratch slot only while their head runs: backward
    /// recomputes them rather than keeping L·B·H·T² values.
    static func attentionForward<T: TrainingScalar>(_ out: P<T>, _ scratch: P<T>, _ qkv: P<T>, _ sequences: Sequences, C: Int, NH: Int,
                                                    dropout: Dropout? = nil) {
        let hs = C / NH
        let c3 = 3 * C
        let slots = ScratchSlots(count: scratchSlots)   // this call's slots: other models in the process have their own
        let slotSize = 3 * sequences.longest * sequences.longest
        headsInParallel(sequences.count, NH: NH) { b, h in
            let slot = slots.take()
            defer { slots.give(slot) }
            let n = sequences.lengths[b], start = sequences.starts[b]
            let w = scratch + slot * slotSize
            let q = qkv + start * c3 + h * hs, v = q + 2 * C
            attentionWeights(w, q, q + C, T: n, hs: hs, c3: c3)
            if let mask = dropout?.site(b, h) { for i in 0..<(n * n) { w[i] *= mask.factor(i) } }
            T.gemm(transA: false, transB: false, m: n, n: hs, k: n, a: w, lda: n, b: v, ldb: c3, beta: 0,
                   c: out + start * C + h * hs, ldc: C)                                                                  // (T,hs) = att·V
        }
    }

    /// w = causal softmax(Q·Kᵀ / sqrt(hs)) of one head, (T,T), zero above the diagonal.
    static func attentionWeights<T: TrainingScalar>(_ w: P<T>, _ q: P<T>, _ k: P<T>, T n: Int, hs: Int, c3: Int) {
        let scale = 1 / T.squareRoot(T(hs))
        T.gemm(transA: false, transB: true, m: n, n: n, k: hs, a: q, lda: c3, b: k, ldb: c3, beta: 0, c: w, ldc: n)         // (T,T) = Q·Kᵀ
        if T.self == Float.self {
            quarry_causal_softmax(floats(w), n, Float(scale))
            return
        }
        for t in 0..<n {
            let row = w + t * n
            var maxv = -T.greatestFiniteMagnitude
            for t2 in 0...t { row[t2] *= scale; if row[t2] > maxv { maxv = row[t2] } }
            var sum: T = 0
            for t2 in 0...t { let e = T.exponential(row[t2] - maxv); row[t2] = e; sum += e }
            let inv = sum == 0 ? 0 : 1 / sum
            for t2 in 0..<n { row[t2] = t2 <= t ? row[t2] * inv : 0 }
        }
    }

    /// Runs one (batch, head) per task on all cores, with OpenBLAS single-threaded inside.
    /// Heads write disjoint slices of their outputs, so they need no locks.
    static func headsInParallel(_ sequences: Int, NH: Int, _ body: (Int, Int) -> Void) {
        BLAS.singleThreaded {
            parallel(sequences * NH) { body($0 / NH, $0 % NH) }
        }
    }

    /// Slots of attention scratch: tasks that can run at once (cores, plus the caller).
    static let scratchSlots = ProcessInfo.processInfo.activeProcessorCount + 1

    /// `scratch` holds 3·T·T values per slot: a head's weights (recomputed), and the gradients
    /// of its weights and of its scores.
    static func attentionBackward<T: TrainingScalar>(_ dqkv: P<T>, _ scratch: P<T>, _ dout: P<T>, _ qkv: P<T>,
                                                     _ sequences: Sequences, C: Int, NH: Int, dropout: Dropout? = nil) {
        let hs = C / NH
        let scale = 1 / T.squareRoot(T(hs))
        let c3 = 3 * C
        let slots = ScratchSlots(count: scratchSlots)
        let slotSize = 3 * sequences.longest * sequences.longest
        headsInParallel(sequences.count, NH: NH) { b, h in
            let slot = slots.take()
            defer { slots.give(slot) }
            let n = sequences.lengths[b], start = sequences.starts[b]
            let w = scratch + slot * slotSize, dw = w + n * n, dpre = w + 2 * n * n
            let q = qkv + start * c3 + h * hs, k = q + C, v = q + 2 * C
            let dq = dqkv + start * c3 + h * hs, dk = dq + C, dv = dq + 2 * C
            let d = dout + start * C + h * hs
            attentionWeights(w, q, k, T: n, hs: hs, c3: c3)
            let mask = dropout?.site(b, h)
            if let mask {
                // The weights that multiplied V were w ⊙ mask: use them for dV, and send datt back through the mask.
                for i in 0..<(n * n) { dpre[i] = w[i] * mask.factor(i) }
                T.gemm(transA: true, transB: false, m: n, n: hs, k: n, a: dpre, lda: n, b: d, ldb: C, beta: 1, c: dv, ldc: c3)
                T.gemm(transA: false, transB: true, m: n, n: n, k: hs, a: d, lda: C, b: v, ldb: c3, beta: 0, c: dw, ldc: n)
                for i in 0..<(n * n) { dw[i] *= mask.factor(i) }
                for i in 0..<(n * n) { dpre[i] = 0 }
            } else {
                for i in 0..<(n * n) { dpre[i] = 0 }
                T.gemm(transA: false, transB: true, m: n, n: n, k: hs, a: d, lda: C, b: v, ldb: c3, beta: 0, c: dw, ldc: n)    // datt = dout·Vᵀ
                T.gemm(transA: true, transB: false, m: n, n: hs, k: n, a: w, lda: n, b: d, ldb: C, beta: 1, c: dv, ldc: c3)    // dV += attᵀ·dout
            }
            // Softmax backward, one row at a time: dpre = att ⊙ (datt − Σ att·datt), scaled for Q·Kᵀ.
            for t in 0..<n {
                let wrow = w + t * n, drow = dw + t * n, prow = dpre + t * n
                var dot: T = 0
                for t2 in 0...t { dot += wrow[t2] * drow[t2] }
                for t2 in 0...t { prow[t2] += wrow[t2] * (drow[t2] - dot) * scale }
            }
            T.gemm(transA: false, transB: false, m: n, n: hs, k: n, a: dpre, lda: n, b: k, ldb: c3, beta: 1, c: dq, ldc: c3) // dQ += dpre·K
            T.gemm(transA: true, transB: false, m: n, n: hs, k: n, a: dpre, lda: n, b: q, ldb: c3, beta: 1, c: dk, ldc: c3)  // dK += dpreᵀ·Q
        }
    }

    // MARK: dropout

    /// Dropout masks are not stored: each is a hash of (key, index), so backward regenerates the
    /// forward's mask exactly (and a resumed run reproduces an uninterrupted one).
    struct Dropout: Sendable {
        var key: UInt64
        var probability: Double

        /// The mask of another site (layer, place in the block, head).
        func site(_ values: Int...) -> Dropout {
            var k = key
            for v in values { k = SplitMix64.mix(k ^ (UInt64(truncatingIfNeeded: v) &+ SplitMix64.golden)) }
            return Dropout(key: k, probability: probability)
        }

        /// 1/(1−p) where the unit is kept, 0 where it is dropped.
        @inline(__always) func factor<T: TrainingScalar>(_ i: Int) -> T {
            let u = Double(SplitMix64.mix(key &+ UInt64(i) &* 0xD1B5_4A32_D192_ED03) >> 11) / Double(UInt64(1) << 53)
            return u < probability ? 0 : T(1 / (1 - probability))
        }
    }

    /// x ⊙ mask, in place (forward), or the gradient through the same mask (backward).
    static func dropout<T: TrainingScalar>(_ x: P<T>, N: Int, _ mask: Dropout) {
        chunks(N) { range in for i in range { x[i] *= mask.factor(i) } }
    }

    // MARK: GELU (tanh approximation), residual

    static let geluScale = 0.7978845608028654 // sqrt(2/pi)

    /// The same memory as Float, for the C kernels (only called when T is Float).
    @inline(__always) static func floats<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    static func geluForward<T: TrainingScalar>(_ out: P<T>, _ inp: P<T>, N: Int) {
        if T.self == Float.self {
            chunks(N) { range in quarry_gelu_forward(floats(out) + range.lowerBound, floats(inp) + range.lowerBound, range.count) }
            return
        }
        let s = T(geluScale)
        chunks(N) { range in
            for i in range {
                let x = inp[i]
                out[i] = T(0.5) * x * (1 + T.hyperbolicTangent(s * (x + T(0.044715) * x * x * x)))
            }
        }
    }

    static func geluBackward<T: TrainingScalar>(_ dinp: P<T>, _ inp: P<T>, _ dout: P<T>, N: Int) {
        if T.self == Float.self {
            chunks(N) { range in
                quarry_gelu_backward(floats(dinp) + range.lowerBound, floats(inp) + range.lowerBound, floats(dout) + range.lowerBound, range.count)
            }
            return
        }
        let s = T(geluScale)
        chunks(N) { range in for i in range {
            let x = inp[i]
            let cube = T(0.044715) * x * x * x
            let arg = s * (x + cube)
            let th = T.hyperbolicTangent(arg)
            let sech2 = 1 - th * th
            let local = T(0.5) * (1 + th) + x * T(0.5) * sech2 * s * (1 + 3 * T(0.044715) * x * x)
            dinp[i] += local * dout[i]
        } }
    }

    static func residualForward<T: TrainingScalar>(_ out: P<T>, _ a: P<T>, _ b: P<T>, N: Int) {
        for i in 0..<N { out[i] = a[i] + b[i] }
    }

    static func residualBackward<T: TrainingScalar>(_ da: P<T>, _ db: P<T>, _ dout: P<T>, N: Int) {
        for i in 0..<N { da[i] += dout[i]; db[i] += dout[i] }
    }

    // MARK: softmax + cross-entropy

    /// The target of a position that carries no loss (a prompt or padding token in fine-tuning),
    /// as PyTorch's `ignore_index`.
    static let ignoredTarget: Int32 = -1

    /// probs = softmax(logits) per position; losses = -log(probs[target]), and 0 with a zero
    /// probability row where the target is `ignoredTarget` (so backward gives it no gradient).
    static func softmaxCrossEntropyForward<T: TrainingScalar>(_ probs: P<T>, _ losses: P<T>, _ logits: P<T>, _ targets: UnsafePointer<Int32>, N: Int, V: Int) {
        if T.self == Float.self {
            chunks(N, itemSize: V) { range in
                let first = range.lowerBound
                quarry_softmax_cross_entropy(floats(probs) + first * V, floats(losses) + first, floats(logits) + first * V,
                                             targets + first, range.count, V)
            }
            return
        }
        chunks(N, itemSize: V) { range in for i in range {
            let l = logits + i * V, p = probs + i * V
            if targets[i] == ignoredTarget {
                for j in 0..<V { p[j] = 0 }
                losses[i] = 0
                continue
            }
            var maxv = -T.greatestFiniteMagnitude
            for j in 0..<V where l[j] > maxv { maxv = l[j] }
            let targetLogit = l[Int(targets[i])]   // probs may be the logits' own memory
            var sum: T = 0
            for j in 0..<V { let e = T.exponential(l[j] - maxv); p[j] = e; sum += e }
            for j in 0..<V { p[j] /= sum }
            losses[i] = -(targetLogit - maxv - T.logarithm(sum))
        } }
    }

    /// probs → (probs − onehot(target)) · dloss, in place.
    static func softmaxCrossEntropyBackwardInPlace<T: TrainingScalar>(_ probs: P<T>, _ targets: UnsafePointer<Int32>, dloss: T, N: Int, V: Int) {
        chunks(N, itemSize: V) { range in
            for i in range where targets[i] != ignoredTarget {
                let p = probs + i * V
                for j in 0..<V { p[j] *= dloss }
                p[Int(targets[i])] -= dloss
            }
        }
    }

    /// Splits 0..<n into one contiguous range per core (work whose items are independent).
    /// `itemSize` is the elements each item touches (a vocabulary-wide row of the loss), so that
    /// a few hundred long rows are still shared out.
    static func chunks(_ n: Int, itemSize: Int = 1, _ body: (Range<Int>) -> Void) {
        let width = min(ProcessInfo.processInfo.activeProcessorCount, n, max(1, n * itemSize / 1024))
        if width <= 1 { body(0..<n); return }
        parallel(width) { w in body((n * w / width)..<(n * (w + 1) / width)) }
    }

    static func parallel(_ count: Int, _ body: (Int) -> Void) {
        if count < 2 { for i in 0..<count { body(i) }; return }
        withoutActuallyEscaping(body) { escaping in
            // The body runs before `parallel` returns: sharing it with the workers is safe.
            let box = UncheckedSendable(escaping)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }
}

/// Which scratch slots are free; a task takes one for its duration.
final class ScratchSlots: @unchecked Sendable {
    private let lock = NSCondition()
    private var free: [Int]
    init(count: Int) { free = Array((0..<count).reversed()) }
    /// A free slot; waits if every slot is taken (more concurrent tasks than expected).
    func take() -> Int {
        lock.lock()
        defer { lock.unlock() }
        while free.isEmpty { lock.wait() }
        return free.removeLast()
    }
    func give(_ slot: Int) {
        lock.lock()
        free.append(slot)
        lock.signal()
        lock.unlock()
    }
}
