import Foundation

/// The element type of tensors: `Float` for training (matrix products through OpenBLAS),
/// `Double` for the gradient checks (products by plain loops, finite differences stay exact enough).
public protocol TrainingScalar: BinaryFloatingPoint & Sendable {
    /// C[m×n] = op(A)·op(B) + beta·C, row-major.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    static func exponential(_ x: Self) -> Self
    static func hyperbolicTangent(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
    static func squareRoot(_ x: Self) -> Self
}

extension Float: TrainingScalar {
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    @inline(__always) public static func exponential(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) public static func hyperbolicTangent(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) public static func logarithm(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) public static func squareRoot(_ x: Float) -> Float { x.squareRoot() }
}

extension Double: TrainingScalar {
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>, lda: Int,
                            b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += x * y
                }
                c[i * ldc + j] = sum + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
    }
    public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    public static func hyperbolicTangent(_ x: Double) -> Double { Foundation.tanh(x) }
    public static func logarithm(_ x: Double) -> Double { Foundation.log(x) }
    public static func squareRoot(_ x: Double) -> Double { x.squareRoot() }
}
