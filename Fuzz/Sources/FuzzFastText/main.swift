import FuzzSupport
import QuarryIngest

/// fastText models (.bin, .ftz): the header, dictionary, dense and product-quantised matrices,
/// then a prediction over a few lines (words, unknown words' character n-grams, labels).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let model = try? FastTextModel(bytes: bytes(data, size), name: "fuzz.ftz") else { return 0 }
    for line in ["Das ist ein Test", "rock road </s> __label__a", "naïve 東京 \u{0}x", ""] { _ = model.predict(line, k: 3) }
    return 0
}
