import FuzzSupport
import QuarryIngest

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    _ = try? GzipSource(MemorySource(input)).readAll(limit: 1 << 24)
    _ = try? Bzip2Source(MemorySource(input)).readAll(limit: 1 << 24)
    _ = try? ParallelBzip2Source(MemorySource(input), threads: 2).readAll(limit: 1 << 24)
    return 0
}
