import FuzzSupport
import QuarryTraining

/// The first byte chooses the file: a safetensors file, or a model directory's config.json.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    guard let first = input.first else { return 0 }
    if first & 1 == 0 {
        let path = asFile(Array(input.dropFirst()), name: "model.safetensors")
        _ = try? SafeTensors.read(path)
        _ = try? SafeTensors.metadata(path)
    } else {
        let path = asFile(Array(input.dropFirst()), name: "config.json")
        _ = try? Checkpoint.load(from: String(path.dropLast("/config.json".count)))
    }
    return 0
}
