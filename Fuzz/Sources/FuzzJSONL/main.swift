import FuzzSupport
import QuarryCore
import QuarryIngest
import QuarryLabels

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    _ = try? JSONValue.parse(input)
    let reader = JSONLReader(input: MemorySource(input), sourceName: "fuzz")
    while let record = try? reader.next() { _ = Conversion.convert(record) }
    _ = TextCleaner.clean(bytes: input)
    let text = String(decoding: input, as: UTF8.self)
    var open = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        open = CSV.endsInsideQuotes(String(line), delimiter: ",", startingInQuotes: open)
        _ = CSV.parse(String(line), delimiter: ",")
    }
    return 0
}
