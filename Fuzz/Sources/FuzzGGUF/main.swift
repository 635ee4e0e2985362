import FuzzSupport
import QuarryPipeline
import QuarryTokenizer
import QuarryTraining

/// GGUF model files: the container, every tensor dequantised (when small), the model's shape
/// from the metadata, and the tokenizer it carries, which then encodes and decodes a text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    guard let file = try? GGUFFile(bytes: input, path: "fuzz.gguf") else { return 0 }
    for tensor in file.tensors where tensor.elementCount <= 1 << 20 { _ = try? file.floats(tensor.name) }
    if let config = try? LlamaGGUF.config(file), config.parameterCount <= 1 << 20 { _ = try? LlamaGGUF.load(file) }
    if let tokenizer = try? GGUFTokenizer.load(file) {
        let ids = BPEEncoder(model: tokenizer).encode("The quarry's 12 stones, <|im_start|>naïve\n")
        _ = try? tokenizer.decode(ids)
    }
    return 0
}
