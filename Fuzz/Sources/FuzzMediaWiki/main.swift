import FuzzSupport
import QuarryIngest

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    let utf16: Bool? = input.starts(with: [0xFF, 0xFE]) ? false : input.starts(with: [0xFE, 0xFF]) ? true : nil
    let source: ByteSource = utf16.map { UTF16Source(MemorySource(input), bigEndian: $0) } ?? MemorySource(input)
    if let reader = try? MediaWikiReader(input: source, sourceName: "fuzz", transcoded: utf16 != nil) {
        while let record = try? reader.next() { _ = Conversion.convert(record) }
    }
    _ = WikitextConverter(siteInfo: .english).plainText(utf8: input)
    return 0
}
