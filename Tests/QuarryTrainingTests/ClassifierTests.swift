import Foundation
import Testing
import QuarryCore
@testable import QuarryTraining

@Suite(.serialized) struct ClassifierTests {
    @Test func reportKnownAnswer() {
        // truth a a a b b c ; predicted a a b b c c
        let report = ClassificationReport(truth: [0, 0, 0, 1, 1, 2], predicted: [0, 0, 1, 1, 2, 2], labels: ["a", "b", "c"])
        #expect(report.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
        #expect(abs(report.accuracy - 4.0 / 6.0) < 1e-12)
        // a: P 1, R 2/3, F1 0.8; b: P 0.5, R 0.5, F1 0.5; c: P 0.5, R 1, F1 2/3.
        #expect(abs(report.perClass[0].f1 - 0.8) < 1e-12 && abs(report.perClass[1].f1 - 0.5) < 1e-12)
        #expect(abs(report.macroF1 - (0.8 + 0.5 + 2.0 / 3.0) / 3) < 1e-12)
    }

    /// Plain, and with word dropout and a moving average of the weights: the saved model is the
    /// one dev measured (with an average, the averaged weights).
    @Test(arguments: [(0.0, 0.0), (0.2, 0.98)])
    func fineTuningLearnsASeparableTaskAndSavesTheBestEpoch(tokenDropout: Double, averageDecay: Double) throws {
        try BLAS.load(threads: 1)
        let config = ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8)
        let model = try GPT<Float>(config: config)
        model.initialise(seed: 3)
        var rng = SplitMix64(seed: 8)
        // The label is the first token's parity.
        func example() -> LabelledExample {
            let tokens = (0..<(2 + Int(rng.next() % 5))).map { _ in Int32(rng.next() % 20) }
            return LabelledExample(tokens: tokens, label: Int(tokens[0]) % 2)
        }
        let train = (0..<200).map { _ in example() }, dev = (0..<60).map { _ in example() }
        let dir = NSTemporaryDirectory() + "quarry-ft-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = FineTuneOptions()
        options.epochs = 8
        options.batch = 8
        options.learningRate = 3e-3
        options.headLearningRate = 1e-2
        options.patience = 8
        options.tokenDropout = tokenDropout
        options.averageDecay = averageDecay
        let classifier = Classifier(model: model, labels: ["even", "odd"], seed: 1)
        let best = try FineTuner(classifier: classifier, options: options, directory: dir).run(train: train, dev: dev, endOfTextID: 0)
        #expect(best.accuracy > 0.85, "dev accuracy \(best.accuracy)")
        // The saved model gives the reported dev figures.
        let loaded = try Classifier.load(from: dir)
        let again = try FineTuner(classifier: loaded, options: options, directory: dir).evaluate(dev)
        #expect(abs(again.macroF1 - best.macroF1) < 1e-9)
        #expect(loaded.labels == ["even", "odd"])
    }

    @Test func tokenDropoutKeepsTheOrderAndAtLeastOneToken() {
        var rng = SplitMix64(seed: 5)
        let text = (0..<20_000).map { Int32($0) }
        #expect(droppingTokens(text, probability: 0, rng: &rng) == text)
        let kept = droppingTokens(text, probability: 0.3, rng: &rng)
        // Binomial(20,000, 0.7): 14,000 ± 65 (one standard deviation).
        #expect(abs(kept.count - 14_000) < 400, "kept \(kept.count)")
        #expect(zip(kept, kept.dropFirst()).allSatisfy { $0 < $1 }, "a subsequence, in order")
        #expect(droppingTokens([7], probability: 0.9, rng: &rng) == [7])
        for _ in 0..<50 {
            let few = droppingTokens([1, 2, 3], probability: 0.99, rng: &rng)
            #expect(!few.isEmpty && few.allSatisfy { [1, 2, 3].contains($0) })
        }
    }

    @Test func weightAverageKnownAnswer() throws {
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 8, nLayer: 1, nHead: 1, nEmbd: 4, nPositions: 4))
        model.initialise(seed: 2)
        let classifier = Classifier(model: model, labels: ["a", "b"], seed: 1)
        let start = model.parameters, startHead = classifier.weight + classifier.bias
        var average = WeightAverage(of: classifier, decay: 0.5)
        // Decays min(0.5, 2/11) then min(0.5, 3/12): avg1 = 2/11·p0 + 9/11·1, avg2 = 1/4·avg1 + 3/4·3.
        model.parameters = [Float](repeating: 1, count: start.count)
        classifier.weight = [Float](repeating: 1, count: classifier.weight.count)
        classifier.bias = [1, 1]
        average.update(from: classifier)
        model.parameters = [Float](repeating: 3, count: start.count)
        classifier.weight = [Float](repeating: 3, count: classifier.weight.count)
        classifier.bias = [3, 3]
        average.update(from: classifier)
        func expected(_ p0: Float) -> Float { 0.25 * (2.0 / 11 * p0 + 9.0 / 11) + 0.75 * 3 }
        average.swap(with: classifier)
        #expect(zip(model.parameters, start).allSatisfy { abs($0 - expected($1)) < 1e-5 })
        #expect(zip(classifier.weight + classifier.bias, startHead).allSatisfy { abs($0 - expected($1)) < 1e-5 })
        average.swap(with: classifier)
        #expect(model.parameters.allSatisfy { $0 == 3 } && classifier.weight.allSatisfy { $0 == 3 } && classifier.bias == [3, 3])
    }

    @Test func linearScheduleWarmsUpThenFallsToZero() {
        var options = FineTuneOptions()
        options.schedule = .constant
        #expect((0..<100).allSatisfy { options.learningRateFactor(step: $0, of: 100) == 1 })
        options.schedule = .linear
        // 100 steps: 6 of warm-up (1/6 … 6/6), then 94 falling from 94/94 to 1/94.
        let factors = (0..<100).map { options.learningRateFactor(step: $0, of: 100) }
        #expect(abs(factors[0] - 1.0 / 6) < 1e-12 && factors[5] == 1 && factors[6] == 1)
        #expect(abs(factors[7] - 93.0 / 94) < 1e-12 && abs(factors[99] - 1.0 / 94) < 1e-12)
        #expect(zip(factors.dropFirst(6), factors.dropFirst(7)).allSatisfy { $0 > $1 })
        #expect(options.learningRateFactor(step: 0, of: 1) == 1)
    }

    /// Adam's first step moves each parameter by its rate times the sign of its gradient, so the
    /// step sizes read the layer-wise rates back: 2 blocks at decay 0.5 → embeddings 1/8,
    /// block 0 1/4, block 1 1/2, final LayerNorm 1.
    @Test func layerDecayGivesLowerLayersSmallerSteps() throws {
        let config = ModelConfig(vocabSize: 7, nLayer: 2, nHead: 1, nEmbd: 4, nPositions: 3)
        let model = try GPT<Float>(config: config)
        model.initialise(seed: 5)
        for i in model.gradients.indices { model.gradients[i] = i % 2 == 0 ? 0.5 : -2 }
        let before = model.parameters
        var optimizer = AdamW(model: model, weightDecay: 0, layerDecay: 0.5)
        optimizer.update(model, lr: 0.01)
        let steps = zip(model.parameters, before).map { abs($0 - $1) / 0.01 }
        var offset = 0, expected: [String: [Float]] = [:]
        for (name, shape) in config.tensorShapes {
            let count = shape.reduce(1, *)
            expected[name.rawValue] = Array(Set(steps[offset..<(offset + count)].map { ($0 * 1000).rounded() / 1000 })).sorted()
            offset += count
        }
        #expect(expected["wte"] == [0.125] && expected["wpe"] == [0.125])
        #expect(expected["qkvw"] == [0.25, 0.5] && expected["fcprojb"] == [0.25, 0.5] && expected["ln1w"] == [0.25, 0.5])
        #expect(expected["lnfw"] == [1] && expected["lnfb"] == [1])
        // Block 0's rows of a stacked tensor come first.
        let qkvw = config.tensorShapes.prefix { $0.name != .qkvw }.reduce(0) { $0 + $1.shape.reduce(1, *) }
        #expect(abs(steps[qkvw] - 0.25) < 1e-3 && abs(steps[qkvw + 4 * 12] - 0.5) < 1e-3)
        // Without decay every step is the full rate.
        let plain = try GPT<Float>(config: config)
        plain.initialise(seed: 5)
        for i in plain.gradients.indices { plain.gradients[i] = 1 }
        let start = plain.parameters
        var adam = AdamW(model: plain, weightDecay: 0)
        adam.update(plain, lr: 0.01)
        #expect(zip(plain.parameters, start).allSatisfy { abs(abs($0 - $1) - 0.01) < 1e-5 })
    }

    @Test func fineTuningDropoutMasksTrainingPassesOnly() throws {
        try BLAS.load(threads: 1)
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8))
        model.initialise(seed: 5)
        let classifier = Classifier(model: model, labels: ["x", "y"], seed: 2)
        let batch: [[Int32]] = [[1, 2, 3, 4], [5, 6, 7]], targets = [0, 1]
        func loss(counter: UInt64) throws -> Float {
            model.dropoutCounter = counter
            return try classifier.trainStep(batch, targets: targets, classWeights: nil, freezeBase: true)
        }
        let plain = try loss(counter: 0)
        #expect(throws: QuarryError.self) { try model.setDropout(1) }
        try model.setDropout(0.5)
        // The same pass draws the same masks; another pass draws others; both change the loss.
        let first = try loss(counter: 0), again = try loss(counter: 0), second = try loss(counter: 1)
        #expect(first == again)
        #expect(first != second)
        #expect(first != plain && second != plain)
        // Inference never drops: probabilities are the same as without dropout.
        let withDropout = try classifier.probabilities(batch)
        try model.setDropout(0)
        #expect(try classifier.probabilities(batch) == withDropout)
        #expect(try loss(counter: 7) == plain)
    }

    /// Mean pooling, known answer: the head reads the average of the text's own hidden states
    /// (computed here from an unpadded forward pass), whatever the padding of its batch.
    @Test func meanPoolingAveragesTheTextsOwnStates() throws {
        try BLAS.load(threads: 1)
        let config = ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8)
        let model = try GPT<Float>(config: config)
        model.initialise(seed: 4)
        let classifier = Classifier(model: model, labels: ["a", "b", "c"], seed: 6, pooling: .mean)
        let short: [Int32] = [3, 1, 4], long: [Int32] = [1, 5, 9, 2, 6, 5]
        try model.forward(tokens: short, targets: nil, B: 1, T: short.count, pass: .hidden(training: false))
        let hidden = Array(model.hidden()), c = config.nEmbd
        var logits = [Double](repeating: 0, count: 3)
        for j in 0..<3 {
            logits[j] = Double(classifier.bias[j])
            for i in 0..<c {
                let mean = (0..<short.count).reduce(0.0) { $0 + Double(hidden[$1 * c + i]) } / Double(short.count)
                logits[j] += mean * Double(classifier.weight[i * 3 + j])
            }
        }
        let m = logits.max() ?? 0, sum = logits.reduce(0) { $0 + Foundation.exp($1 - m) }
        let expected = logits.map { Foundation.exp($0 - m) / sum }
        let padded = try classifier.probabilities([long, short])[1]
        for j in 0..<3 { #expect(abs(Double(padded[j]) - expected[j]) < 1e-5) }
        #expect(try classifier.probabilities([short])[0] != classifier.probabilities([long])[0])
    }

    /// Mean-max pooling, known answer: the mean of the text's own states, then each feature's
    /// largest value over them; the head is twice as wide and is saved and loaded so.
    @Test func meanMaxPoolingReadsTheMeanThenTheLargestValues() throws {
        try BLAS.load(threads: 1)
        let config = ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8)
        let model = try GPT<Float>(config: config)
        model.initialise(seed: 8)
        let classifier = Classifier(model: model, labels: ["a", "b"], seed: 1, pooling: .meanMax)
        #expect(classifier.weight.count == 2 * config.nEmbd * 2)
        let text: [Int32] = [4, 11, 2, 19, 7]
        try model.forward(tokens: text, targets: nil, B: 1, T: text.count, pass: .hidden(training: false))
        let hidden = Array(model.hidden()), c = config.nEmbd
        let expected = (0..<c).map { i in (0..<text.count).reduce(Float(0)) { $0 + hidden[$1 * c + i] } / Float(text.count) }
            + (0..<c).map { i in (0..<text.count).map { hidden[$0 * c + i] }.max() ?? .nan }
        let features = classifier.pooled(hidden, 0, text.count)
        #expect(features.count == 2 * c)
        for i in features.indices { #expect(abs(features[i] - expected[i]) < 1e-5, "feature \(i)") }
        let dir = NSTemporaryDirectory() + "quarry-meanmax-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try classifier.save(to: dir, endOfTextID: nil)
        let loaded = try Classifier.load(from: dir)
        #expect(loaded.pooling == .meanMax)
        #expect(try loaded.probabilities([text, [3, 3]]) == classifier.probabilities([text, [3, 3]]))
    }

    /// A batch's texts run packed end to end: each text's probabilities are those it gets alone.
    @Test(arguments: Classifier.Pooling.allCases)
    func packedTextsAreClassifiedAsIfAlone(pooling: Classifier.Pooling) throws {
        try BLAS.load(threads: 1)
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 20, nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 8))
        model.initialise(seed: 12)
        let classifier = Classifier(model: model, labels: ["a", "b", "c", "d"], seed: 5, pooling: pooling)
        for i in classifier.weight.indices { classifier.weight[i] *= 30 }
        let texts: [[Int32]] = [[1, 5, 9, 2, 6, 5, 3, 5], [7], [3, 1, 4, 1], [2, 7, 1, 8, 2, 8]]
        let together = try classifier.probabilities(texts)
        for (text, packed) in zip(texts, together) {
            let alone = try classifier.probabilities([text])[0]
            for j in alone.indices { #expect(abs(alone[j] - packed[j]) < 1e-5, "\(pooling) \(text): \(alone) vs \(packed)") }
        }
        #expect(Set(together.map { $0.map { ($0 * 1000).rounded() } }).count == texts.count)
    }

    /// `languageModelWeight` λ: the auxiliary loss is the texts' own next-token loss (known answer:
    /// each text run alone), and the model's gradients are those of classification + λ × it
    /// (central finite differences of that sum).
    @Test func languageModelWeightAddsTheTextsNextTokenLoss() throws {
        try BLAS.load(threads: 1)
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8))
        model.initialise(seed: 21)
        let classifier = Classifier(model: model, labels: ["x", "y"], seed: 4, pooling: .mean)
        for i in classifier.weight.indices { classifier.weight[i] *= 20 }
        let batch: [[Int32]] = [[1, 2, 3, 4, 5], [6], [8, 9, 10]], targets = [1, 0, 1]
        var sum = 0.0, positions = 0
        for text in batch where text.count > 1 {
            let next = Array(text.dropFirst()) + [-1]
            let mean = try #require(try model.forward(tokens: text, targets: next, B: 1, T: text.count))
            sum += Double(mean) * Double(text.count - 1)
            positions += text.count - 1
        }
        let plain = try classifier.trainStep(batch, targets: targets, classWeights: nil, freezeBase: false)
        #expect(classifier.lastLanguageModelLoss == nil)
        let lambda: Float = 0.5
        func objective() throws -> Double {
            let cls = try classifier.trainStep(batch, targets: targets, classWeights: nil, freezeBase: false, languageModelWeight: lambda)
            return Double(cls) + Double(lambda) * Double(classifier.lastLanguageModelLoss ?? .nan)
        }
        _ = try objective()
        let gradient = model.gradients
        #expect(abs(Double(classifier.lastLanguageModelLoss ?? .nan) - sum / Double(positions)) < 1e-5)
        #expect(abs(try objective() - Double(plain) - Double(lambda) * sum / Double(positions)) < 1e-5)
        // wte rows of tokens that are targets (2, 9) or inputs only (6, the one-token text), a position and an attention weight.
        let wpe = 20 * 16, qkvw = wpe + 8 * 16 + 2 * 16
        for i in [2 * 16 + 1, 9 * 16 + 4, 6 * 16 + 3, 17 * 16 + 2, wpe + 3 * 16 + 5, qkvw + 41] {
            let numeric = try Self.centralDifference(of: objective, inParameter: i, of: model)
            #expect(abs(numeric - Double(gradient[i])) < 2e-3 + 0.02 * abs(numeric), "parameter \(i): \(gradient[i]) vs \(numeric)")
        }
    }

    /// d loss / d parameter `i` of `model`, from the loss at ± h.
    static func centralDifference(of loss: () throws -> Double, inParameter i: Int, of model: GPT<Float>, h: Float = 3e-3) rethrows -> Double {
        let original = model.parameters[i]
        model.setParameter(i, original + h)
        let plus = try loss()
        model.setParameter(i, original - h)
        let minus = try loss()
        model.setParameter(i, original)
        return (plus - minus) / Double(2 * h)
    }

    /// Both poolings' gradients (head and model) against central finite differences of the loss.
    /// The head on a Llama: its features (the final norm's output, no LM head) and the model's
    /// gradients from the head's loss, against central differences.
    @Test func aHeadOnALlamaTrainsItsBase() throws {
        try BLAS.load(threads: 1)
        let config = LlamaConfig(vocabSize: 20, nLayer: 1, nHead: 2, nKVHead: 1, nEmbd: 8, intermediateSize: 12, nPositions: 8)
        let model = try Llama<Float>(config: config, parameters: [Float](repeating: 0, count: config.parameterCount))
        model.initialise(seed: 9)
        for i in model.parameters.indices { model.parameters[i] *= 10 }   // larger than init: differences above Float's noise
        let classifier = Classifier(model: model, labels: ["x", "y", "z"], seed: 3, pooling: .mean)
        for i in classifier.weight.indices { classifier.weight[i] *= 20 }
        let batch: [[Int32]] = [[1, 2, 3, 4, 5], [6, 7], [8, 9, 10]], targets = [0, 2, 1]
        func loss() throws -> Double { Double(try classifier.trainStep(batch, targets: targets, classWeights: nil, freezeBase: false)) }
        _ = try loss()
        let gradient = model.gradients
        let offsets = model.offsets
        let h: Float = 1e-2
        var checked = 0
        for (tensor, index) in [(LlamaTensor.embedding, 8 + 3), (.embedding, 9 * 8 + 5), (.query, 11), (.value, 5), (.down, 17), (.finalNorm, 2), (.attentionNorm, 6)] {
            let i = try #require(offsets[tensor]) + index
            let original = model.parameters[i]
            model.parameters[i] = original + h
            let plus = try loss()
            model.parameters[i] = original - h
            let minus = try loss()
            model.parameters[i] = original
            let numeric = (plus - minus) / Double(2 * h)
            let analytic = Double(gradient[i]), tolerance = 2e-3 + 0.03 * abs(numeric)
            #expect(abs(numeric - analytic) < tolerance, "\(tensor)[\(index)]: \(analytic) vs \(numeric)")
            checked += 1
        }
        #expect(checked == 7)
        // A small step against the gradients lowers the loss.
        let before = try loss()
        let step = model.gradients, headStep = classifier.weightGradient
        for i in model.parameters.indices { model.parameters[i] -= 1e-3 * step[i] }
        for i in classifier.weight.indices { classifier.weight[i] -= 1e-3 * headStep[i] }
        #expect(try loss() < before)
    }

    @Test(arguments: Classifier.Pooling.allCases)
    func headAndModelGradientsMatchFiniteDifferences(pooling: Classifier.Pooling) throws {
        try BLAS.load(threads: 1)
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8))
        model.initialise(seed: 9)
        let classifier = Classifier(model: model, labels: ["x", "y", "z"], seed: 3, pooling: pooling)
        for i in classifier.weight.indices { classifier.weight[i] *= 20 }
        let batch: [[Int32]] = [[1, 2, 3, 4, 5], [6, 7], [8, 9, 10]], targets = [0, 2, 1]
        func loss() throws -> Double { Double(try classifier.trainStep(batch, targets: targets, classWeights: nil, freezeBase: false)) }
        _ = try loss()
        let headGradient = classifier.weightGradient, modelGradient = model.gradients
        let h: Float = 3e-3
        // The first row's weights, the last's (mean-max: its max half) and one from the middle.
        for i in [0, 7, 20, classifier.weight.count / 2 + 5, classifier.weight.count - 1] {
            let original = classifier.weight[i]
            classifier.weight[i] = original + h
            let plus = try loss()
            classifier.weight[i] = original - h
            let minus = try loss()
            classifier.weight[i] = original
            let numeric = (plus - minus) / Double(2 * h)
            #expect(abs(numeric - Double(headGradient[i])) < 2e-3 + 0.02 * abs(numeric), "\(pooling) head[\(i)]: \(headGradient[i]) vs \(numeric)")
        }
        // Token embeddings of tokens in the batch (early ones: only mean pooling reads their own positions directly).
        // Then position embeddings (position 4 only in the first text: texts are packed end to
        // end, each from position 0) and an attention weight.
        let wpe = 20 * 16, qkvw = wpe + 8 * 16 + 2 * 16
        // Max pooling is piecewise linear: a step that moves a feature's largest value to another
        // row crosses a kink, and there the two step sizes disagree. Such parameters are skipped,
        // and most must remain.
        var compared = 0
        let parameters = [1 * 16, 1 * 16 + 5, 6 * 16 + 3, 9 * 16 + 11, wpe + 2, wpe + 16 + 7, wpe + 4 * 16 + 1, qkvw + 37]
        for i in parameters {
            // Smaller steps for max pooling: at this initialisation a step of 3e-3 is a sixth of an
            // embedding's scale, enough to move most largest values.
            let step = pooling == .meanMax ? h / 10 : h
            let numeric = try Self.centralDifference(of: loss, inParameter: i, of: model, h: step)
            if pooling == .meanMax {
                let finer = try Self.centralDifference(of: loss, inParameter: i, of: model, h: step / 4)
                if abs(finer - numeric) > 2e-3 + 0.02 * abs(numeric) { continue }
            }
            compared += 1
            #expect(abs(numeric - Double(modelGradient[i])) < 2e-3 + 0.02 * abs(numeric), "\(pooling) parameter \(i): \(modelGradient[i]) vs \(numeric)")
        }
        #expect(compared >= (pooling == .meanMax ? 5 : parameters.count), "\(pooling): \(compared) parameters away from kinks")
    }

    @Test func poolingIsSavedAndLoaded() throws {
        try BLAS.load(threads: 1)
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8))
        model.initialise(seed: 2)
        let dir = NSTemporaryDirectory() + "quarry-pool-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let classifier = Classifier(model: model, labels: ["x", "y"], seed: 2, pooling: .mean)
        try classifier.save(to: dir, endOfTextID: nil)
        let loaded = try Classifier.load(from: dir)
        #expect(loaded.pooling == .mean)
        #expect(try loaded.probabilities([[1, 2, 3]]) == classifier.probabilities([[1, 2, 3]]))
    }

    /// Length-grouped batches: every example once, batches of nearly equal lengths.
    @Test func lengthGroupedBatchesCoverEveryExampleOnce() {
        var rng = SplitMix64(seed: 5)
        let lengths = (0..<1000).map { _ in 1 + Int(rng.next() % 200) }
        var order = Array(lengths.indices)
        rng.shuffle(&order)
        let batches = lengthGroupedBatches(order, lengths: lengths, size: 16, rng: &rng)
        #expect(batches.flatMap { $0 }.sorted() == Array(lengths.indices))
        #expect(batches.allSatisfy { $0.count <= 16 })
        let padded = batches.reduce(0) { sum, b in sum + b.count * (b.map { lengths[$0] }.max() ?? 0) }
        let randomPadded = stride(from: 0, to: 1000, by: 16).reduce(0) { sum, s in
            let b = order[s..<min(1000, s + 16)]
            return sum + b.count * (b.map { lengths[$0] }.max() ?? 0)
        }
        #expect(Double(padded) < 0.6 * Double(randomPadded), "padded \(padded) vs \(randomPadded)")
    }

    /// The feature cache: computed once, read back by another cache on the same model and
    /// pooling; a torn last record (a killed run) is cut and the text computed again.
    @Test func theFeatureCacheKeepsWholeRecordsOnly() throws {
        try BLAS.load(threads: 1)
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 8, nPositions: 8))
        model.initialise(seed: 4)
        let classifier = Classifier(model: model, labels: ["a", "b"], seed: 1, pooling: .mean)
        let directory = NSTemporaryDirectory() + "quarry-features-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let texts: [[Int32]] = [[1, 2, 3], [4, 5], [1, 2, 3], [6, 7, 8, 9]]
        var first = try FeatureCache(directory: directory, classifier: classifier)
        let computed = try first.features(of: texts, batch: 2) { try classifier.pooledFeatures($0) }
        #expect(first.computed == 3 && first.reused == 1 && computed[0] == computed[2])
        // Batched differently (2 texts, then all 4): OpenBLAS's kernels for AVX2 sum in an order that depends on the rows.
        let whole = try classifier.pooledFeatures(texts)
        let (flatComputed, flatWhole): ([Float], [Float]) = (computed.flatMap { $0 }, whole.flatMap { $0 })
        let largestDifference = zip(flatComputed, flatWhole).map { abs($0 - $1) }.max() ?? 0
        #expect(computed.count == whole.count && flatComputed.count == flatWhole.count && largestDifference <= 1e-5)
        // Cut in the middle of the last record, as a kill would leave it.
        let handle = try #require(FileHandle(forWritingAtPath: first.path))
        try handle.truncate(atOffset: UInt64((32 + 4 * 8) * 2 + 10))
        try handle.close()
        var second = try FeatureCache(directory: directory, classifier: classifier)
        let again = try second.features(of: texts, batch: 2) { try classifier.pooledFeatures($0) }
        #expect(second.computed == 1 && second.reused == 3 && again == computed)
        var third = try FeatureCache(directory: directory, classifier: classifier)
        #expect(try third.features(of: texts, batch: 2) { _ in [] } == computed && third.computed == 0)
    }
}
