import FuzzSupport
import QuarryShards

/// The first byte chooses the file: a Megatron index, an llm.c shard, or a manifest.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    guard let first = input.first else { return 0 }
    let rest = Array(input.dropFirst())
    switch first % 3 {
    case 0:
        _ = try? MegatronIndex(path: asFile(rest, name: "train-00000.idx"))
    case 1:
        for width in [TokenWidth.uint16, .uint32] {
            if let reader = try? ShardReader(path: asFile(rest, name: "train-00000.bin"), format: .llmc, width: width) {
                _ = reader.llmcHeaderProblem(expectedTokens: 1)
                for i in 0..<min(reader.tokenCount, 4096) { _ = reader.token(i) }
            }
        }
    default:
        let path = asFile(rest, name: "manifest.json")
        let directory = String(path.dropLast("/manifest.json".count))
        _ = try? ShardTools.verify(directory: directory)
        _ = try? ShardTools.stats(directory: directory)
    }
    return 0
}
