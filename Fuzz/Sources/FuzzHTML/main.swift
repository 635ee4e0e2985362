import FuzzSupport
import QuarryIngest

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    _ = CharsetSniffer.charset(of: input, declared: nil)
    if !HTMLExtractor.hasTooManyAttributes(input) { _ = HTMLExtractor.extract(input) }
    return 0
}
