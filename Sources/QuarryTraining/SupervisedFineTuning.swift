import Foundation
import QuarryCore
import QuarryTokenizer

/// One chat message of a `quarry export --format chat` record.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(role: Role, content: String) { self.role = role; self.content = content }
}

/// A chat rendered for a GPT-2-style base model, which knows no chat tokens: the system text,
/// then each turn as `User: …\n\nAssistant: …<|endoftext|>`. Only the assistant's words and the
/// end-of-text token after them are trained (the model learns to answer, and to stop); the
/// prompt is context. `quarry generate --chat` renders a question the same way.
public enum ChatTemplate {
    public static let userPrefix = "User: "
    public static let assistantPrefix = "\n\nAssistant: "

    /// The text pieces of a chat and whether each is trained.
    public static func segments(_ messages: [ChatMessage]) -> [(text: String, trained: Bool)] {
        var out: [(String, Bool)] = []
        for message in messages {
            switch message.role {
            case .system: out.append((message.content + "\n\n", false))
            case .user: out.append((userPrefix + message.content + assistantPrefix, false))
            case .assistant: out.append((message.content, true))
            }
        }
        return out
    }

    /// The prompt `generate --chat` continues: a user turn waiting for the assistant.
    public static func prompt(user: String, system: String? = nil) -> String {
        segments((system.map { [ChatMessage(role: .system, content: $0)] } ?? []) + [ChatMessage(role: .user, content: user)])
            .map(\.text).joined()
    }
}

/// A tokenized chat: the ids and, for each, whether the loss counts it.
public struct ChatExample: Sendable {
    public var tokens: [Int32]
    public var trained: [Bool]

    /// Encodes a chat piece by piece (so the mask falls on token boundaries), appending the
    /// end-of-text token after every assistant message; cut to `limit` tokens. Nil when no
    /// trained token is left inside the limit.
    public init?(_ messages: [ChatMessage], encoder: BPEEncoder, endOfText: Int32, limit: Int) {
        var tokens: [Int32] = [], trained: [Bool] = []
        for (text, isTrained) in ChatTemplate.segments(messages) {
            let ids = encoder.encode(text) + (isTrained ? [endOfText] : [])
            tokens += ids
            trained += [Bool](repeating: isTrained, count: ids.count)
        }
        if tokens.count > limit {
            tokens.removeLast(tokens.count - limit)
            trained.removeLast(trained.count - limit)
        }
        // Position 0 is never a target: something after it must be trained.
        guard tokens.count >= 2, trained.dropFirst().contains(true) else { return nil }
        self.tokens = tokens
        self.trained = trained
    }

    /// Inputs (all tokens but the last) and their next-token targets: -1 (ignored) where the
    /// next token is prompt.
    var inputsAndTargets: (inputs: [Int32], targets: [Int32]) {
        let inputs = Array(tokens.dropLast())
        let targets = (0..<inputs.count).map { trained[$0 + 1] ? tokens[$0 + 1] : -1 }
        return (inputs, targets)
    }

    var trainedTargets: Int { trained.dropFirst().filter { $0 }.count }
}

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
/// as a plain GPT-2 checkpoint that `generate` and `transformers` load.
public final class SFTTrainer {
    let model: GPT<Float>
    let options: SFTOptions
    let directory: String
    public var onEpoch: ((_ epoch: Int, _ trainLoss: Double, _ devLoss: Double) -> Void)?
    /// Called after each batch with the batches done and the most there can be (all epochs).
    public var onBatch: ((_ done: Int, _ total: Int) -> Void)?

    public init(model: GPT<Float>, options: SFTOptions, directory: String) {
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
            guard n > 0, let l = try model.loss(tokens: inputs, targets: targets, Layers.Sequences(lengths: lengths)) else { continue }
            total += Double(l) * Double(n)
            counted += n
        }
        return counted > 0 ? total / Double(counted) : 0
    }

    /// Trains; returns the best dev loss (the saved weights are that epoch's).
    public func run(train: [ChatExample], dev: [ChatExample], endOfTextID: Int32?) throws -> Double {
        guard !train.isEmpty else { throw TrainingError("the training set is empty") }
        guard !dev.isEmpty else { throw TrainingError("the dev set is empty") }
        var optimizer = AdamW(model: model, weightDecay: Float(options.weightDecay))
        var rng = SplitMix(seed: options.seed)
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
                let loss = try model.trainingForward(tokens: inputs, targets: targets, Layers.Sequences(lengths: lengths))
                guard loss.isFinite else {
                    throw TrainingError("the loss became \(loss) in epoch \(epoch): stopped (try a lower --lr); the best epoch so far is saved")
                }
                try model.backward()
                _ = model.clipGradients(maxNorm: Float(options.gradientClip))
                optimizer.update(model, lr: Float(options.learningRate))
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
                try Checkpoint.save(model, to: directory, endOfTextID: endOfTextID)
            } else {
                sinceBest += 1
                if sinceBest >= options.patience { break }
            }
        }
        if let best { return best }
        return try loss(dev)
    }

    /// A batch padded on the right to its longest input (one shorter than its longest chat).
    /// A batch's chats laid end to end: inputs, targets, and each chat's length.
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
