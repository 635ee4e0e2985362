import FuzzSupport
import QuarryIngest

/// The cleaning steps over hostile text: words and sentences, every filter, PII, decontamination
/// built from the text and run against it, and the text read as a URL block list and as a URL.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: bytes(data, size), as: UTF8.self)
    let scalars = Array(text.unicodeScalars)
    _ = WordSplitter.words(scalars)
    _ = WordSplitter.sentenceCount(scalars)
    var chain = FilterChain(names: FilterChain.Name.allCases)
    chain.decontaminator = Decontaminator(texts: [text])
    if let list = try? URLBlocklist(parsing: text) {
        chain.urlBlocklist = list
        _ = list.reason(for: text)
    }
    _ = chain.apply(text, language: nil, url: text)
    _ = chain.apply(text, language: "bg", url: "https://" + text)
    var pii = PIIFormatter()
    _ = pii.format(text)
    return 0
}
