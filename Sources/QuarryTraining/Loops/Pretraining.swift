import Foundation
import QuarryCore

/// Options of `quarry pretrain` (the defaults are nanoGPT's for small models).
public struct PretrainOptions: Codable, Sendable, Equatable {
    public var steps = 1000
    public var batch = 16
    public var context = 256
    public var learningRate = 6e-4
    public var minLearningRateRatio = 0.1
    public var warmupSteps = 100
    public var weightDecay = 0.1
    public var gradientClip = 1.0
    public var accumulation = 1
    public var seed: UInt64 = 1337
    public var validationEvery = 100
    public var validationBatches = 8
    public var checkpointEvery = 500

    public init() {}

    /// Linear warm-up to the peak, then cosine decay to the minimum at the last step.
    public func learningRate(at step: Int) -> Double {
        if step < warmupSteps { return learningRate * Double(step + 1) / Double(warmupSteps) }
        let minimum = learningRate * minLearningRateRatio
        let span = max(1, steps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        return minimum + 0.5 * (learningRate - minimum) * (1 + cos(Double.pi * progress))
    }
}

/// One metrics line.
public struct StepMetrics: Sendable {
    public var step: Int
    public var loss: Double
    public var lr: Double
    public var tokensPerSecond: Double
    public var elapsed: Double
    public var gradientNorm: Double
    public var validationLoss: Double?

    var json: String {
        var s = String(format: "{\"step\":%d,\"loss\":%.6f,\"lr\":%.6g,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f,\"grad_norm\":%.5f",
                       step, loss, lr, tokensPerSecond, elapsed, gradientNorm)
        if let v = validationLoss { s += String(format: ",\"val_loss\":%.6f", v) }
        return s + "}\n"
    }
}

/// The pre-training loop: sample windows, forward, backward, clip, AdamW; validation loss every
/// K steps; metrics to `RUN/metrics.jsonl`; checkpoints (model, optimizer, data position) so a
/// `--resume` continues to the result an uninterrupted run would have reached.
public final class Pretrainer {
    public let model: any TrainableLanguageModel
    public let options: PretrainOptions
    let train: TokenWindows
    let validation: TokenWindows?
    let directory: String
    var optimizer: AdamW
    var rng: SplitMix64
    var startStep = 0
    var elapsedBefore = 0.0
    public var onStep: ((StepMetrics) -> Void)?
    /// Tests: stop after this step (as if killed right after its checkpoint).
    var stopAfter: Int?

    public init(model: any TrainableLanguageModel, options: PretrainOptions, train: TokenWindows, validation: TokenWindows?, directory: String) {
        self.model = model
        self.options = options
        self.train = train
        self.validation = validation
        self.directory = directory
        optimizer = model.makeOptimizer(weightDecay: Float(options.weightDecay))
        rng = SplitMix64(seed: options.seed)
        model.restartDropout(seed: options.seed, counter: 0)
    }

    struct State: Codable {
        var step: Int
        var rng: UInt64
        var optimizerStep: Int
        var elapsed: Double
        var options: PretrainOptions
    }

    /// The files of a checkpoint beside trainer-state.json that change from step to step; each
    /// carries its step in its metadata (`checkpointKey`).
    static let checkpointFiles = ["model.safetensors", "optimizer.safetensors"]
    static let checkpointKey = "quarry_checkpoint_step"
    static let stagingName = ".checkpoint-next"

    /// The step a checkpoint file says it belongs to (nil: unreadable, or written before files were marked).
    static func checkpointStep(of path: String) -> Int? {
        (try? SafeTensors.metadata(path))?[checkpointKey].flatMap { Int($0) }
    }

    /// The options a run in `directory` was started with (nil when it has no trainer state).
    public static func savedOptions(in directory: String) -> PretrainOptions? { savedState(in: directory)?.options }

    static func savedState(in directory: String) -> State? {
        guard let data = FileManager.default.contents(atPath: directory + "/trainer-state.json") else { return nil }
        return try? JSONDecoder().decode(State.self, from: data)
    }

    /// Loads the optimizer and data state saved next to a checkpoint.
    public func resume() throws -> Int {
        try Self.finishCheckpoint(in: directory)
        guard let state = Self.savedState(in: directory) else {
            throw QuarryError("\(directory) has no trainer-state.json to resume from")
        }
        for name in Self.checkpointFiles {
            let path = directory + "/" + name
            guard FileManager.default.fileExists(atPath: path) else {
                throw QuarryError("\(path) is missing: the checkpoint at step \(state.step) is incomplete; start a new run")
            }
            // Files of runs from before checkpoints were marked carry no step: nothing to compare.
            if let step = Self.checkpointStep(of: path), step != state.step {
                throw QuarryError("\(path) is from step \(step), the trainer state from step \(state.step) (a mixed checkpoint): "
                                  + "--resume would not reach the uninterrupted run's result; start a new run")
            }
        }
        guard state.options == options else { throw QuarryError("--resume needs the options of the interrupted run (they differ)") }
        let moments = try SafeTensors.read(directory + "/optimizer.safetensors")
        guard let m = moments["m"]?.values, let v = moments["v"]?.values else { throw QuarryError("optimizer.safetensors lacks m or v") }
        try optimizer.restore(m: m, v: v, step: state.optimizerStep)
        rng = SplitMix64(seed: 0)
        rng.state = state.rng
        startStep = state.step
        elapsedBefore = state.elapsed
        // Dropout masks follow the number of training passes: continue where they were.
        model.restartDropout(seed: options.seed, counter: UInt64(state.step * options.accumulation))
        return state.step
    }

    public func run(endOfTextID: Int32?) throws {
        let B = options.batch, n = options.context
        var inputs = [Int32](repeating: 0, count: B * n), targets = inputs
        let metricsPath = directory + "/metrics.jsonl"
        try truncateMetrics(metricsPath, after: startStep)
        let metrics = try AppendFile(path: metricsPath)
        let started = Date()
        var history: [(Int, Double, Double?)] = readHistory(metricsPath)
        for step in startStep..<options.steps {
            let stepStart = Date()
            model.zeroGradients()
            var loss = 0.0
            for _ in 0..<options.accumulation {
                try train.sample(B: B, T: n, rng: &rng, inputs: &inputs, targets: &targets)
                let l = try model.loss(tokens: inputs, targets: targets, B: B, T: n, training: true)
                guard l.isFinite else {
                    let kept = FileManager.default.fileExists(atPath: directory + "/trainer-state.json")
                        ? "the last checkpoint in \(directory) is intact" : "no checkpoint had been written yet"
                    throw QuarryError("the loss became \(l) at step \(step + 1): stopped; \(kept) (try a lower --lr or a longer --warmup)")
                }
                loss += Double(l) / Double(options.accumulation)
                try model.backward()
            }
            if options.accumulation > 1 { model.divideGradients(by: Float(options.accumulation)) }
            let norm = Double(model.clipGradients(maxNorm: Float(options.gradientClip)))
            let lr = options.learningRate(at: step)
            model.step(&optimizer, lr: Float(lr))
            var validationLoss: Double?
            if let validation, options.validationEvery > 0, (step + 1) % options.validationEvery == 0 || step + 1 == options.steps {
                validationLoss = try evaluate(validation)
            }
            let seconds = Date().timeIntervalSince(stepStart)
            let record = StepMetrics(step: step + 1, loss: loss, lr: lr,
                                     tokensPerSecond: Double(B * n * options.accumulation) / max(seconds, 1e-9),
                                     elapsed: elapsedBefore + Date().timeIntervalSince(started), gradientNorm: norm,
                                     validationLoss: validationLoss)
            try metrics.append(record.json)
            history.append((step + 1, loss, validationLoss))
            onStep?(record)
            if (step + 1) % options.checkpointEvery == 0 || step + 1 == options.steps {
                try checkpoint(step: step + 1, elapsed: record.elapsed, endOfTextID: endOfTextID)
                try LossCurve.write(history, to: directory + "/loss.svg")
            }
            if let stopAfter, step + 1 >= stopAfter { return }
        }
        if options.steps == 0 || startStep >= options.steps {
            try checkpoint(step: options.steps, elapsed: elapsedBefore, endOfTextID: endOfTextID)
        }
    }

    /// Mean loss over a fixed set of validation windows (the same ones every time).
    public func evaluate(_ windows: TokenWindows) throws -> Double {
        try model.meanLoss(on: windows, batch: options.batch, context: options.context, batches: options.validationBatches,
                           seed: options.seed &+ 0x5EED)
    }

    /// Writes the checkpoint as a set: the new files, each marked with its step, in a staging
    /// directory; then trainer-state.json of that step (the commit point: one atomic rename);
    /// then the files moved into place. Killed before the commit, the old set stands (the staging
    /// directory is removed); after it, `finishCheckpoint` moves the rest in. `--resume` never
    /// sees a model from one step beside an optimizer from another.
    func checkpoint(step: Int, elapsed: Double, endOfTextID: Int32?) throws {
        let staging = directory + "/" + Self.stagingName
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let mark = [Self.checkpointKey: String(step)]
        try model.saveCheckpoint(to: staging, endOfTextID: endOfTextID, metadata: mark)
        try SafeTensors.write(staging + "/optimizer.safetensors",
                              tensors: [("m", [optimizer.m.count], optimizer.m[...]), ("v", [optimizer.v.count], optimizer.v[...])],
                              metadata: mark.merging(["format": "pt"]) { own, _ in own })
        let state = State(step: step, rng: rng.state, optimizerStep: optimizer.step, elapsed: elapsed, options: options)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let file = try OutputFile(path: directory + "/trainer-state.json")
        do { try file.write(Array(try encoder.encode(state))); try file.commit() } catch { file.abandon(); throw error }
        try Self.finishCheckpoint(in: directory)
    }

    /// Completes or discards a checkpoint a killed run left in its staging directory: each staged
    /// file that trainer-state.json names (the commit happened) is moved into place; staged files
    /// it does not name (killed before the commit) are removed with the directory.
    ///
    /// Call it before loading a run's model to resume it (`resume` calls it too).
    public static func finishCheckpoint(in directory: String) throws {
        let staging = directory + "/" + stagingName
        guard FileManager.default.fileExists(atPath: staging) else { return }
        if let committed = savedState(in: directory)?.step {
            for name in ["config.json"] + checkpointFiles {
                let staged = staging + "/" + name
                // config.json goes with the model file: moved when the model of the committed step was.
                let marked = name == "config.json" ? checkpointStep(of: staging + "/model.safetensors") : checkpointStep(of: staged)
                guard FileManager.default.fileExists(atPath: staged), marked == committed else { continue }
                guard rename(staged, directory + "/" + name) == 0 else {
                    throw QuarryError("cannot move \(staged) into place: \(describeErrno(errno))")
                }
            }
        }
        try FileManager.default.removeItem(atPath: staging)
    }

    /// A resumed run rewrites the steps after its checkpoint.
    func truncateMetrics(_ path: String, after step: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
            (try? JSONValue.parse(String(line)))?["step"]?.integer.map { $0 <= step } ?? false
        }
        let file = try OutputFile(path: path)
        try file.write(Array((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8))
        try file.commit()
    }

    func readHistory(_ path: String) -> [(Int, Double, Double?)] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            guard let json = try? JSONValue.parse(String(line)), let step = json["step"]?.integer, let loss = json["loss"]?.number else { return nil }
            return (step, loss, json["val_loss"]?.number)
        }
    }
}

/// Appends lines to a file, flushed each time (metrics survive a crash).
final class AppendFile {
    let handle: FileHandle
    init(path: String) throws {
        // A file that cannot be created fails FileHandle below, with the message.
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw QuarryError("cannot write \(path)") }
        h.seekToEndOfFile()
        handle = h
    }
    func append(_ line: String) throws { try handle.write(contentsOf: Data(line.utf8)) }
}
