import Foundation
import CTrainingKernels
import QuarryCore

/// OpenBLAS, loaded at run time. Debian's OpenBLAS 0.3.21 falls back to slow generic kernels
/// on CPUs it does not know (see PLATFORM.md in ../shared, beside this repository), and it reads OPENBLAS_CORETYPE only when it
/// initialises, so quarry chooses a kernel set from the CPU's features first and then
/// `dlopen`s the library. A value the user (or the machine) already set is never overridden.
public enum BLAS {
    typealias SGEMM = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
                                      UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
                                      UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias SGEMV = @convention(c) (Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
                                      UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void
    typealias CoreName = @convention(c) () -> UnsafeMutablePointer<CChar>?

    struct Library: @unchecked Sendable {
        let sgemm: SGEMM
        let sgemv: SGEMV
        let setThreads: SetThreads?
        let coreName: CoreName?
    }

    static let rowMajor: Int32 = 101, noTrans: Int32 = 111, trans: Int32 = 112

    /// The kernel set chosen, and why (for verbose and benchmark output).
    public nonisolated(unsafe) private(set) static var kernelNote = ""

    static let library: Result<Library, Error> = {
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil {
            let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            let core = flags.contains(" avx512f") ? "SkylakeX" : flags.contains(" avx2") ? "Haswell" : nil
            if let core {
                setenv("OPENBLAS_CORETYPE", core, 0)
                kernelNote = "OPENBLAS_CORETYPE=\(core) (chosen from the CPU's features)"
            }
        } else {
            kernelNote = "OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "") (set outside quarry)"
        }
        // OpenBLAS's idle threads spin before sleeping; between matrix products quarry's own
        // threads need the cores, so they should yield early.
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)
        for name in ["libopenblas.so.0", "libopenblas.so"] {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let sgemm = dlsym(handle, "cblas_sgemm"), let sgemv = dlsym(handle, "cblas_sgemv") else { continue }
            let setThreads = dlsym(handle, "openblas_set_num_threads").map { unsafeBitCast($0, to: SetThreads.self) }
            let coreName = dlsym(handle, "openblas_get_corename").map { unsafeBitCast($0, to: CoreName.self) }
            if let coreName, let name = coreName() { kernelNote += "; OpenBLAS kernels: \(String(cString: name))" }
            kernelNote += "; element-wise kernels: \(String(cString: quarry_kernels_variant()))"
            return .success(Library(sgemm: unsafeBitCast(sgemm, to: SGEMM.self), sgemv: unsafeBitCast(sgemv, to: SGEMV.self),
                                    setThreads: setThreads, coreName: coreName))
        }
        return .failure(QuarryError("OpenBLAS is not installed: install libopenblas0 (apt-get install libopenblas-dev)"))
    }()

    /// Checks that the library loads (for a clear error before any work).
    public static func load(threads: Int? = nil) throws {
        let lib = try library.get()
        if let threads {
            threadSetting.withLock { configuredThreads = threads }
            lib.setThreads?(Int32(threads))
        }
    }

    /// Runs `body` with OpenBLAS on one thread: for many small products issued from several
    /// threads at once (attention heads), where OpenBLAS's own threading would only contend.
    static func singleThreaded(_ body: () -> Void) {
        guard case .success(let lib) = library, let set = lib.setThreads else { body(); return }
        set(1)
        body()
        set(Int32(threadSetting.withLock { configuredThreads }))
    }

    /// The thread count `load` set, restored after `singleThreaded`; read and written under
    /// `threadSetting` (tests load BLAS from several threads at once).
    nonisolated(unsafe) static var configuredThreads = ProcessInfo.processInfo.activeProcessorCount
    static let threadSetting = NSLock()

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major.
    @inline(__always)
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard case .success(let lib) = library else { fatalError("BLAS.load() must succeed before training") }
        lib.sgemm(rowMajor, transA ? trans : noTrans, transB ? trans : noTrans, Int32(m), Int32(n), Int32(k),
                  alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[rows] = A[rows × columns] · x[columns] + beta · y, row-major: one token's matrix-vector
    /// products in generation (sgemm with m = 1 reads the matrix at about half the rate).
    @inline(__always)
    static func sgemv(rows: Int, columns: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>, beta: Float = 0,
                      y: UnsafeMutablePointer<Float>) {
        guard case .success(let lib) = library else { fatalError("BLAS.load() must succeed before inference") }
        lib.sgemv(rowMajor, noTrans, Int32(rows), Int32(columns), 1, a, Int32(columns), x, 1, beta, y, 1)
    }
}
