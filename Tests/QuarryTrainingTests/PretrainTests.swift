import Foundation
import Testing
import QuarryCore
@testable import QuarryTraining
import QuarryShards

func tokenFile(_ dir: String, count: Int, vocab: Int) -> String {
    var bytes: [UInt8] = []
    var rng = SplitMix64(seed: 5)
    for i in 0..<count {
        // A learnable pattern with noise: the next token is often the previous + 1.
        let t = UInt16(rng.next() % 4 == 0 ? Int(rng.next() % UInt64(vocab)) : (i * 3) % vocab)
        bytes += [UInt8(t & 0xFF), UInt8(t >> 8)]
    }
    let path = dir + "/train.bin"
    precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write a test file")
    return path
}

@Suite(.serialized) struct PretrainTests {
    func options() -> PretrainOptions {
        var o = PretrainOptions()
        o.steps = 6
        o.batch = 2
        o.context = 16
        o.warmupSteps = 2
        o.learningRate = 1e-3
        o.checkpointEvery = 3
        o.validationEvery = 3
        o.validationBatches = 2
        return o
    }

    /// GPT-2 (with dropout, so the masks too must continue where they stopped) and Llama.
    @Test(arguments: ["gpt2", "llama"]) func resumedRunEndsWhereAnUninterruptedOneDoes(family: String) throws {
        try BLAS.load(threads: 1)
        let dir = NSTemporaryDirectory() + "quarry-train-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = tokenFile(dir, count: 4000, vocab: 64)
        func fresh() throws -> any TrainableLanguageModel {
            if family == "llama" {
                let config = LlamaConfig(vocabSize: 64, nLayer: 2, nHead: 2, nKVHead: 1, nEmbd: 16, intermediateSize: 24, nPositions: 16)
                let m = try Llama<Float>(config: config, parameters: [Float](repeating: 0, count: config.parameterCount))
                m.initialise(seed: 11)
                return m
            }
            let config = ModelConfig(vocabSize: 64, nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, dropout: 0.1)
            let m = try GPT<Float>(config: config); m.initialise(seed: 11); return m
        }
        func load(_ directory: String) throws -> any TrainableLanguageModel {
            family == "llama" ? try LlamaCheckpoint.load(from: directory) : try Checkpoint.load(from: directory)
        }
        let windows = TokenWindows([try ShardReader(path: data, format: .nanogpt, width: .uint16)])

        let whole = Pretrainer(model: try fresh(), options: options(), train: windows, validation: windows, directory: dir + "/a")
        try FileManager.default.createDirectory(atPath: dir + "/a", withIntermediateDirectories: true)
        try whole.run(endOfTextID: 0)

        try FileManager.default.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
        let first = Pretrainer(model: try fresh(), options: options(), train: windows, validation: windows, directory: dir + "/b")
        first.stopAfter = 3
        try first.run(endOfTextID: 0)
        let second = Pretrainer(model: try load(dir + "/b"), options: options(), train: windows, validation: windows, directory: dir + "/b")
        #expect(try second.resume() == 3)
        try second.run(endOfTextID: 0)

        #expect(whole.model.parameters == second.model.parameters)
        func losses(_ d: String) throws -> [String] {
            try String(contentsOfFile: d + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                let j = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                return "\(j?["step"] ?? "") \(j?["loss"] ?? "") \(j?["val_loss"] ?? "-")"
            }
        }
        #expect(try losses(dir + "/a") == losses(dir + "/b"))
        #expect(try losses(dir + "/a").count == 6)
        // It learnt: the loss fell from the first steps to the last.
        let firstTwo = try losses(dir + "/a").prefix(2).compactMap { Double($0.split(separator: " ")[1]) }
        let lastTwo = try losses(dir + "/a").suffix(2).compactMap { Double($0.split(separator: " ")[1]) }
        #expect(lastTwo.reduce(0, +) < firstTwo.reduce(0, +))
        #expect(FileManager.default.fileExists(atPath: dir + "/a/loss.svg"))
    }

    /// Issue 22, R10: a checkpoint is written as a set. Killed before its commit the old set
    /// stands; after it, the new one is completed; a mixed set is refused, never resumed from.
    @Test func aCheckpointIsWrittenAndResumedAsASet() throws {
        try BLAS.load(threads: 1)
        let dir = NSTemporaryDirectory() + "quarry-set-" + UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }
        let data = tokenFile(dir, count: 4000, vocab: 64)
        let config = ModelConfig(vocabSize: 64, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 16)
        func fresh() throws -> GPT<Float> { let m = try GPT<Float>(config: config); m.initialise(seed: 3); return m }
        let windows = TokenWindows([try ShardReader(path: data, format: .nanogpt, width: .uint16)])
        func trainer(_ name: String, model: GPT<Float>? = nil) throws -> Pretrainer {
            try fm.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            return Pretrainer(model: try model ?? fresh(), options: options(), train: windows, validation: nil, directory: dir + "/" + name)
        }
        let whole = try trainer("whole")
        try whole.run(endOfTextID: 0)
        let half = try trainer("half")
        half.stopAfter = 3
        try half.run(endOfTextID: 0)
        #expect(Pretrainer.checkpointStep(of: dir + "/half/model.safetensors") == 3)
        #expect(!fm.fileExists(atPath: dir + "/half/" + Pretrainer.stagingName))
        func copy(_ from: String, _ to: String, _ names: [String]) throws {
            try fm.createDirectory(atPath: dir + "/" + to, withIntermediateDirectories: true)
            for name in names {
                try? fm.removeItem(atPath: dir + "/" + to + "/" + name)
                try fm.copyItem(atPath: dir + "/" + from + "/" + name, toPath: dir + "/" + to + "/" + name)
            }
        }
        let files = ["model.safetensors", "optimizer.safetensors", "config.json", "trainer-state.json"]
        func resumed(_ name: String) throws -> Pretrainer {
            try Pretrainer.finishCheckpoint(in: dir + "/" + name)   // as `pretrain --resume` does before loading
            let t = try trainer(name, model: try Checkpoint.load(from: dir + "/" + name))
            _ = try t.resume()
            try t.run(endOfTextID: 0)
            return try trainer(name + "-loaded", model: try Checkpoint.load(from: dir + "/" + name))
        }
        // Killed after the step-6 commit (trainer-state.json of step 6 written), before the move.
        try copy("half", "after", files)
        try copy("whole", "after/" + Pretrainer.stagingName, Array(files.prefix(3)))
        try copy("whole", "after", ["trainer-state.json"])
        #expect(try resumed("after").model.parameters == whole.model.parameters)
        // Killed before the commit: the staged step-6 files are dropped, the run resumes at 3.
        try copy("half", "before", files)
        try copy("whole", "before/" + Pretrainer.stagingName, Array(files.prefix(3)))
        #expect(try resumed("before").model.parameters == whole.model.parameters)
        #expect(!fm.fileExists(atPath: dir + "/before/" + Pretrainer.stagingName))
        // A mixed set: the model of step 6 beside the state of step 3.
        try copy("half", "mixed", files)
        try copy("whole", "mixed", ["model.safetensors"])
        let mixed = try trainer("mixed", model: try Checkpoint.load(from: dir + "/mixed"))
        #expect(throws: QuarryError.self) { try mixed.resume() }
    }

    @Test func checkpointRoundTripAndHFLayout() throws {
        let dir = NSTemporaryDirectory() + "quarry-ckpt-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = ModelConfig(vocabSize: 10, nLayer: 2, nHead: 2, nEmbd: 4, nPositions: 8)
        let model = try GPT<Float>(config: config)
        model.initialise(seed: 2)
        try Checkpoint.save(model, to: dir, endOfTextID: 0)
        let loaded = try Checkpoint.load(from: dir)
        #expect(loaded.parameters == model.parameters && loaded.config == config)
        let tensors = try SafeTensors.read(dir + "/model.safetensors")
        #expect(tensors["transformer.h.1.attn.c_attn.weight"]?.shape == [4, 12])    // Conv1D: [in, out]
        #expect(tensors["transformer.h.0.mlp.c_proj.weight"]?.shape == [16, 4])
        #expect(tensors["transformer.wte.weight"]?.shape == [10, 4])
        #expect(tensors["lm_head.weight"] == nil)                                  // tied
        #expect(tensors.count == 4 + 12 * 2)
        // A truncated file is refused with a message.
        let data = try #require(FileManager.default.contents(atPath: dir + "/model.safetensors"))
        precondition(FileManager.default.createFile(atPath: dir + "/model.safetensors", contents: data.prefix(data.count - 10)), "cannot write a test file")
        #expect(throws: QuarryError.self) { try Checkpoint.load(from: dir) }
    }

    @Test func learningRateSchedule() {
        var o = PretrainOptions()
        o.steps = 110
        o.warmupSteps = 10
        o.learningRate = 1e-3
        o.minLearningRateRatio = 0.1
        #expect(abs(o.learningRate(at: 0) - 1e-4) < 1e-12)
        #expect(abs(o.learningRate(at: 9) - 1e-3) < 1e-12)
        #expect(abs(o.learningRate(at: 60) - 5.5e-4) < 1e-9)    // halfway down the cosine
        #expect(abs(o.learningRate(at: 110) - 1e-4) < 1e-12)
    }
}
