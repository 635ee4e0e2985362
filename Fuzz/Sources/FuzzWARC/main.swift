import FuzzSupport
import QuarryIngest

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    for arc in [false, true] {
        let reader = WARCReader(input: MemorySource(input), sourceName: "fuzz", arc: arc)
        while let record = try? reader.next() { _ = Conversion.convert(record) }
    }
    return 0
}
