import Foundation
import Testing
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

    @Test func fineTuningLearnsASeparableTaskAndSavesTheBestEpoch() throws {
        try BLAS.load(threads: 1)
        let config = ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8)
        let model = try GPT<Float>(config: config)
        model.initialise(seed: 3)
        var rng = SplitMix(seed: 8)
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
        let classifier = Classifier(model: model, labels: ["even", "odd"], seed: 1)
        let best = try FineTuner(classifier: classifier, options: options, directory: dir, padding: 0).run(train: train, dev: dev, endOfTextID: 0)
        #expect(best.accuracy > 0.85, "dev accuracy \(best.accuracy)")
        // The saved model gives the reported dev figures.
        let loaded = try Classifier.load(from: dir)
        let again = try FineTuner(classifier: loaded, options: options, directory: dir, padding: 0).evaluate(dev)
        #expect(abs(again.macroF1 - best.macroF1) < 1e-9)
        #expect(loaded.labels == ["even", "odd"])
    }

    @Test func fineTuningDropoutMasksTrainingPassesOnly() throws {
        try BLAS.load(threads: 1)
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 20, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 8))
        model.initialise(seed: 5)
        let classifier = Classifier(model: model, labels: ["x", "y"], seed: 2)
        let batch: [[Int32]] = [[1, 2, 3, 4], [5, 6, 7]], targets = [0, 1]
        func loss(counter: UInt64) throws -> Float {
            model.dropoutCounter = counter
            return try classifier.trainStep(batch, targets: targets, classWeights: nil, freezeBase: true, padding: 0)
        }
        let plain = try loss(counter: 0)
        #expect(throws: TrainingError.self) { try model.setDropout(1) }
        try model.setDropout(0.5)
        // The same pass draws the same masks; another pass draws others; both change the loss.
        let first = try loss(counter: 0), again = try loss(counter: 0), second = try loss(counter: 1)
        #expect(first == again)
        #expect(first != second)
        #expect(first != plain && second != plain)
        // Inference never drops: probabilities are the same as without dropout.
        let withDropout = try classifier.probabilities(batch, padding: 0)
        try model.setDropout(0)
        #expect(try classifier.probabilities(batch, padding: 0) == withDropout)
        #expect(try loss(counter: 7) == plain)
    }
}
