import Foundation
import FuzzSupport
import QuarryTokenizer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let model = try? TokenizerFile.parse(Data(bytes(data, size))) else { return 0 }
    let ids = BPEEncoder(model: model).encode("The quarry's granite, 42 tonnes <|endoftext|> und Schiefer. ")
    _ = try? model.decode(ids)
    return 0
}
