import Foundation
import Testing
import QuarryCore
@testable import QuarryTraining

/// Checkpoints downloaded from elsewhere: every length, offset and shape in them is checked
/// against the file before it is used (issue 22, R2, R3, R15).
@Suite struct HostileCheckpointTests {
    let dir = NSTemporaryDirectory() + "quarry-hostile-ckpt-" + UUID().uuidString

    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }

    /// A safetensors file with `header` as its JSON and `data` after it; `declaredLength`
    /// overrides the 8-byte header length.
    func write(_ name: String, header: String, data: [UInt8] = [UInt8](repeating: 0, count: 64), declaredLength: UInt64? = nil) -> String {
        let path = dir + "/" + name
        var bytes: [UInt8] = []
        var length = (declaredLength ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &length) { bytes += $0 }
        bytes += Array(header.utf8) + data
        precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write a test file")
        return path
    }

    @Test func lengthsOffsetsAndShapesFromTheFileAreChecked() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = write("good", header: #"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#)
        #expect(try SafeTensors.read(good)["t"]?.shape == [2, 2])
        let cases: [(String, String, UInt64?)] = [
            ("length 2^63", #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 1 << 63),
            ("length 2^63 - 1", #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, (1 << 63) - 1),
            ("length past the end", #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 10_000),
            ("negative offsets", #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[-1000000000,-999999992]}}"#, nil),
            ("offsets past the end", #"{"t":{"dtype":"F32","shape":[64],"data_offsets":[0,256]}}"#, nil),
            ("reversed offsets", #"{"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, nil),
            ("overflowing shape", #"{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#, nil),
            ("negative shape", #"{"t":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,-16]}}"#, nil),
            ("fractional shape", #"{"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, nil),
            ("overlapping tensors", #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#, nil),
        ]
        for (name, header, declared) in cases {
            let path = write(name.replacingOccurrences(of: " ", with: "-"), header: header, declaredLength: declared)
            #expect(throws: QuarryError.self, "\(name)") { try SafeTensors.read(path) }
        }
    }

    @Test func configsThatDescribeImpossibleModelsAreRefusedBeforeAllocating() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for config in [ModelConfig(vocabSize: 10, nLayer: 100_000, nHead: 1, nEmbd: 8, nPositions: 8),
                       ModelConfig(vocabSize: 1 << 40, nLayer: 1, nHead: 1, nEmbd: 8, nPositions: 8),
                       ModelConfig(vocabSize: 10, nLayer: 1, nHead: 1, nEmbd: 8, nPositions: 1 << 40),
                       ModelConfig(vocabSize: 10, nLayer: 1 << 40, nHead: 1, nEmbd: 1 << 40, nPositions: 8),
                       ModelConfig(vocabSize: Int(Int32.max), nLayer: 1, nHead: 1, nEmbd: 1 << 16, nPositions: 8)] {
            #expect(throws: QuarryError.self, "\(config)") { try config.validate() }
        }
        // A sane config over a file too small for it: refused by size, before the parameters are allocated.
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 10, nLayer: 1, nHead: 1, nEmbd: 4, nPositions: 4))
        try Checkpoint.save(model, to: dir, endOfTextID: nil)
        let config = try String(contentsOfFile: dir + "/config.json", encoding: .utf8)
            .replacingOccurrences(of: "\"n_layer\": 1", with: "\"n_layer\": 2").replacingOccurrences(of: "\"n_embd\": 4", with: "\"n_embd\": 64")
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        #expect(throws: QuarryError.self) { try Checkpoint.load(from: dir) }
    }
}
