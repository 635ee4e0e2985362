import Foundation
import QuarryCore

public struct SFTOptions: Sendable {
    public var epochs = 3
    public var batch = 16
    public var learningRate = 1e-4
    public var weightDecay = 0.01
    public var gradientClip = 1.0
    public var seed: UInt64 = 1337
    public var patience = 2
    /// Batches of similar lengths (`lengthGroupedBatches`): less random batches, no faster since packing.
    public var groupByLength = false
    public init() {}
}

/// `quarry finetune --task sft`: next-token loss on the assistant's tokens only, batches of
/// chats laid end to end (no padding); the dev loss (same mask) after every epoch, the best epoch kept
/// as a plain checkpoint (GPT-2 or Llama, as the model) that `generate` and `transformers` load.
public final class SFTTrainer {
    let model: any TrainableLanguageModel
    let options: SFTOptions
    let directory: String
    public var onEpoch: ((_ epoch: Int, _ trainLoss: Double, _ devLoss: Double) -> Void)?
    /// Called after each batch with the batches done and the most there can be (all epochs).
    public var onBatch: ((_ done: Int, _ total: Int) -> Void)?

    public init(model: any TrainableLanguageModel, options: SFTOptions, directory: String) {
        self.model = model
        self.options = options
        self.directory = directory
    }

    /// Mean loss per trained token over the examples (no dropout).
    public func loss(_ examples: [ChatExample]) throws -> Double {
        var total = 0.0, counted = 0
        for start in stride(from: 0, to: examples.count, by: options.batch) {
            let batch = Array(examples[start..<min(examples.count, start + options.batch)])
            let (inputs, targets, lengths) = Self.batch(batch)
            let n = batch.reduce(0) { $0 + $1.trainedTargets }
            guard n > 0, let l = try model.loss(tokens: inputs, targets: targets, lengths: lengths, training: false) else { continue }
            total += Double(l) * Double(n)
            counted += n
        }
        return counted > 0 ? total / Double(counted) : 0
    }

    /// Trains; returns the best dev loss (the saved weights are that epoch's).
    public func run(train: [ChatExample], dev: [ChatExample], endOfTextID: Int32?) throws -> Double {
        guard !train.isEmpty else { throw QuarryError("the training set is empty") }
        guard !dev.isEmpty else { throw QuarryError("the dev set is empty") }
        var optimizer = model.makeOptimizer(weightDecay: Float(options.weightDecay))
        var rng = SplitMix64(seed: options.seed)
        var order = Array(train.indices)
        var best: Double?
        var sinceBest = 0
        let metrics = try AppendFile(path: directory + "/metrics.jsonl")
        let batchesPerEpoch = (train.count + options.batch - 1) / options.batch
        for epoch in 1...options.epochs {
            rng.shuffle(&order)
            var total = 0.0, counted = 0, batches = 0
            for indices in epochBatches(order, lengths: train.map(\.tokens.count), size: options.batch, groupByLength: options.groupByLength, rng: &rng) {
                let batch = indices.map { train[$0] }
                let (inputs, targets, lengths) = Self.batch(batch)
                model.zeroGradients()
                let loss = try model.loss(tokens: inputs, targets: targets, lengths: lengths, training: true) ?? 0
                guard loss.isFinite else {
                    throw QuarryError("the loss became \(loss) in epoch \(epoch): stopped (try a lower --lr); the best epoch so far is saved")
                }
                try model.backward()
                _ = model.clipGradients(maxNorm: Float(options.gradientClip))
                model.step(&optimizer, lr: Float(options.learningRate))
                let n = batch.reduce(0) { $0 + $1.trainedTargets }
                total += Double(loss) * Double(n)
                counted += n
                batches += 1
                onBatch?((epoch - 1) * batchesPerEpoch + batches, options.epochs * batchesPerEpoch)
            }
            let trainLoss = total / Double(max(1, counted))
            let devLoss = try loss(dev)
            try metrics.append(String(format: "{\"epoch\":%d,\"loss\":%.6f,\"dev_loss\":%.6f}\n", epoch, trainLoss, devLoss))
            onEpoch?(epoch, trainLoss, devLoss)
            if devLoss < (best ?? .infinity) {
                best = devLoss
                sinceBest = 0
                try model.saveCheckpoint(to: directory, endOfTextID: endOfTextID, metadata: [:])
            } else {
                sinceBest += 1
                if sinceBest >= options.patience { break }
            }
        }
        if let best { return best }
        return try loss(dev)
    }

    /// A batch's chats laid end to end (no padding): inputs, targets, and each chat's length.
    static func batch(_ examples: [ChatExample]) -> (inputs: [Int32], targets: [Int32], lengths: [Int]) {
        var inputs: [Int32] = [], targets: [Int32] = [], lengths: [Int] = []
        for e in examples {
            let (i, t) = e.inputsAndTargets
            inputs += i
            targets += t
            lengths.append(i.count)
        }
        return (inputs, targets, lengths)
    }
}
