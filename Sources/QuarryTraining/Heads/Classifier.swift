import Foundation
import QuarryCore

/// A classification head on a language model (GPT-2 or the Llama family): a linear layer over a summary of each text's final hidden
/// states (`Pooling`).
public final class Classifier {
    /// How a text's hidden states become the one vector the head reads.
    public enum Pooling: String, Sendable, CaseIterable {
        /// The last token's state: in a causal model the only position that has attended to the
        /// whole text; what Hugging Face's GPT2ForSequenceClassification does.
        case lastToken = "last_token"
        /// The mean over the text's positions: every word reaches the head directly. `quarry
        /// finetune`'s default: with a higher learning rate and the linear schedule it beat the
        /// last token's state on the Debian sections (reports/journal/2026-11-29-issue6-finetuning-recipe.md).
        case mean
        /// The mean and, beside it, each feature's largest value over the text (ULMFiT's concat
        /// pooling without the last state): a word that decides the class reaches the head at
        /// full strength however long the text is. Twice the head's input width.
        case meanMax = "mean_max"

        /// The width of the head's input over a model `modelWidth` wide.
        func featureWidth(modelWidth: Int) -> Int { self == .meanMax ? 2 * modelWidth : modelWidth }
    }

    public let model: any TrainableLanguageModel
    public let labels: [String]
    public let pooling: Pooling
    /// Pool the residual stream after this block instead of the final states (a frozen base
    /// only: probing an intermediate block; the second-to-last often probes better).
    public var layer: Int?
    /// Texts are cut to this many tokens (nil: the model's context).
    public var maxTokens: Int?
    public var weight: [Float]      // (featureWidth, K)
    public var bias: [Float]        // (K)
    var weightGradient: [Float]
    var biasGradient: [Float]
    /// The auxiliary next-token loss of the last `trainStep`, when it had one.
    var lastLanguageModelLoss: Float?

    public init(model: any TrainableLanguageModel, labels: [String], seed: UInt64, pooling: Pooling = .lastToken) {
        self.model = model
        self.labels = labels
        self.pooling = pooling
        let f = pooling.featureWidth(modelWidth: model.width), k = labels.count
        var rng = SplitMix64(seed: seed ^ 0xC1A55)
        weight = (0..<(f * k)).map { _ in Float(rng.normal() * 0.02) }
        bias = [Float](repeating: 0, count: k)
        weightGradient = [Float](repeating: 0, count: f * k)
        biasGradient = [Float](repeating: 0, count: k)
    }

    /// The width of the head's input.
    public var featureWidth: Int { pooling.featureWidth(modelWidth: model.width) }

    /// Token ids of a text, cut to the model's context (the beginning is kept).
    public static func encode(_ text: String, encoder: some TokenEncoder, limit: Int) -> [Int32] {
        let ids = encoder.encode(text)
        return ids.isEmpty ? [0] : Array(ids.prefix(limit))
    }

    /// The states pooling reads: the final ones, or block `layer`'s.
    func states(_ packed: PackedTexts, training: Bool) throws -> [Float] {
        if let layer { return try model.states(tokens: packed.tokens, lengths: packed.sequences.lengths, afterBlock: layer) }
        return try model.features(tokens: packed.tokens, lengths: packed.sequences.lengths, training: training)
    }

    /// Class probabilities for a batch of token sequences.
    public func probabilities(_ batch: [[Int32]]) throws -> [[Float]] {
        let packed = PackedTexts(batch)
        let hidden = try states(packed, training: false)
        return batch.indices.map { b in Self.softmax(logits(of: pooled(hidden, packed.sequences.starts[b], packed.sequences.lengths[b]))) }
    }

    /// A batch's texts laid end to end, as the model runs them: no padding to the longest (on the
    /// Debian sections half of a padded batch's positions were padding).
    struct PackedTexts {
        let tokens: [Int32]
        let sequences: Layers.Sequences

        init(_ batch: [[Int32]]) {
            tokens = Array(batch.joined())
            sequences = Layers.Sequences(lengths: batch.map(\.count))
        }

        /// Each position's next token within its own text; a text's last position has none (-1).
        var nextTokens: [Int32] {
            var next = [Int32](repeating: Layers.ignoredTarget, count: tokens.count)
            for (start, length) in zip(sequences.starts, sequences.lengths) where length > 1 {
                for t in start..<(start + length - 1) { next[t] = tokens[t + 1] }
            }
            return next
        }
    }

    /// The head's input for the text whose `length` rows start at row `start`.
    func pooled(_ hidden: [Float], _ start: Int, _ length: Int) -> [Float] { pool(hidden, start, length).features }

    /// `pooled`, with the rows mean-max's largest values came from (where their gradient goes;
    /// empty for the other poolings), so training finds them once.
    func pool(_ hidden: [Float], _ start: Int, _ length: Int) -> (features: [Float], largestRows: [Int]) {
        let c = model.width
        switch pooling {
        case .lastToken:
            let h = (start + length - 1) * c
            return (Array(hidden[h..<(h + c)]), [])
        case .mean, .meanMax:
            var sum = [Float](repeating: 0, count: c)
            for t in 0..<length {
                let h = (start + t) * c
                for i in 0..<c { sum[i] += hidden[h + i] }
            }
            let scale = 1 / Float(length)
            let mean = sum.map { $0 * scale }
            guard pooling == .meanMax else { return (mean, []) }
            let rows = Self.largestRows(hidden, start, length, width: c)
            return (mean + rows.map { hidden[$0] }, rows)
        }
    }

    /// For each feature, the index in `hidden` of its largest value over the text's rows (the
    /// first of equals): where max pooling reads, and where its gradient goes.
    static func largestRows(_ hidden: [Float], _ start: Int, _ length: Int, width c: Int) -> [Int] {
        var best = Array((start * c)..<((start + 1) * c))
        for t in 1..<max(1, length) {
            let h = (start + t) * c
            for i in 0..<c where hidden[h + i] > hidden[best[i]] { best[i] = h + i }
        }
        return best
    }

    /// Adds the gradient of the head's input for a text to the rows it was pooled from
    /// (`largestRows` from `pool`).
    func scatter(_ gradient: [Float], into hiddenGradient: inout [Float], largestRows: [Int], _ start: Int, _ length: Int) {
        let c = model.width
        switch pooling {
        case .lastToken:
            let h = (start + length - 1) * c
            for i in 0..<c { hiddenGradient[h + i] += gradient[i] }
        case .mean, .meanMax:
            let scale = 1 / Float(length)
            for t in 0..<length {
                let h = (start + t) * c
                for i in 0..<c { hiddenGradient[h + i] += gradient[i] * scale }
            }
            for (i, row) in largestRows.enumerated() { hiddenGradient[row] += gradient[c + i] }
        }
    }

    func logits(of features: [Float]) -> [Float] {
        let f = featureWidth, k = labels.count
        var logits = bias
        for j in 0..<k { for i in 0..<f { logits[j] += features[i] * weight[i * k + j] } }
        return logits
    }

    /// One batch: forward, cross-entropy (optionally class-weighted), backward into the head and,
    /// unless the base is frozen, the model. Returns the mean classification loss.
    ///
    /// A `languageModelWeight` λ above 0 adds λ × the texts' own next-token loss to the objective
    /// (GPT-1's auxiliary objective, λ = 0.5 there), so fine-tuning keeps the pre-trained
    /// language model in use; that loss is then `lastLanguageModelLoss`.
    func trainStep(_ batch: [[Int32]], targets: [Int], classWeights: [Float]?, freezeBase: Bool,
                   languageModelWeight: Float = 0) throws -> Float {
        let packed = PackedTexts(batch)
        let B = batch.count, c = model.width
        let withLanguageModel = languageModelWeight > 0 && !freezeBase
        let hidden: [Float]
        if withLanguageModel {
            guard let gpt = model as? GPT<Float> else { throw QuarryError("the auxiliary language-model loss (--lm-weight) is for GPT-2 models") }
            gpt.zeroGradients()   // the LM head's gradients accumulate during the forward pass
            lastLanguageModelLoss = try gpt.forward(tokens: packed.tokens, targets: packed.nextTokens, packed.sequences,
                                                    pass: .training(gradientScale: languageModelWeight)) ?? 0
            hidden = Array(gpt.hidden())
        } else {
            lastLanguageModelLoss = nil
            if layer != nil && !freezeBase { throw QuarryError("--layer pools an intermediate block of a frozen model: add --freeze-base") }
            hidden = try states(packed, training: true)
        }
        var hiddenGradient = [Float](repeating: 0, count: packed.tokens.count * c)
        let pooled = (0..<B).map { pool(hidden, packed.sequences.starts[$0], packed.sequences.lengths[$0]) }
        let (loss, featureGradients) = headStep(pooled.map(\.features), targets: targets, classWeights: classWeights)
        if !freezeBase {
            for b in 0..<B {
                scatter(featureGradients[b], into: &hiddenGradient, largestRows: pooled[b].largestRows,
                        packed.sequences.starts[b], packed.sequences.lengths[b])
            }
        }
        if withLanguageModel, let gpt = model as? GPT<Float> {
            try gpt.backward(addingHiddenGradient: hiddenGradient)
        } else if !freezeBase {
            model.zeroGradients()
            try model.backward(featureGradient: hiddenGradient)
        }
        return loss
    }

    /// The head's part of a step on pooled features: the mean (optionally class-weighted)
    /// cross-entropy, the head's gradients (replacing the last ones) and each text's gradient
    /// with respect to its features.
    func headStep(_ features: [[Float]], targets: [Int], classWeights: [Float]?) -> (loss: Float, featureGradients: [[Float]]) {
        let k = labels.count
        for i in weightGradient.indices { weightGradient[i] = 0 }
        for i in biasGradient.indices { biasGradient[i] = 0 }
        var loss: Float = 0
        let norm = targets.reduce(Float(0)) { $0 + (classWeights?[$1] ?? 1) }
        var featureGradients: [[Float]] = []
        for (b, x) in features.enumerated() {
            let p = Self.softmax(logits(of: x))
            let w = (classWeights?[targets[b]] ?? 1) / norm
            loss -= w * Foundation.log(max(p[targets[b]], 1e-12))
            var featureGradient = [Float](repeating: 0, count: featureWidth)
            for j in 0..<k {
                let d = (p[j] - (j == targets[b] ? 1 : 0)) * w
                biasGradient[j] += d
                for i in 0..<featureWidth {
                    weightGradient[i * k + j] += x[i] * d
                    featureGradient[i] += weight[i * k + j] * d
                }
            }
            featureGradients.append(featureGradient)
        }
        return (loss, featureGradients)
    }

    /// Each text's pooled features under the model as it is (no dropout): what a frozen base
    /// gives the head every epoch, so `FeatureCache` computes them once.
    public func pooledFeatures(_ batch: [[Int32]]) throws -> [[Float]] {
        let packed = PackedTexts(batch)
        let hidden = try states(packed, training: false)
        return batch.indices.map { pooled(hidden, packed.sequences.starts[$0], packed.sequences.lengths[$0]) }
    }

    /// Class probabilities from pooled features.
    public func probabilities(fromFeatures features: [[Float]]) -> [[Float]] { features.map { Self.softmax(logits(of: $0)) } }

    /// The index of the largest probability (the first of equals).
    public static func mostLikely(_ probabilities: [Float]) -> Int {
        probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
    }

    static func softmax(_ x: [Float]) -> [Float] {
        let m = x.max() ?? 0
        let e = x.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    // MARK: files

    public func save(to directory: String, endOfTextID: Int32?) throws {
        try model.saveCheckpoint(to: directory, endOfTextID: endOfTextID, metadata: [:])
        let f = featureWidth, k = labels.count
        try SafeTensors.write(directory + "/classifier.safetensors",
                              tensors: [("score.weight", [f, k], weight[...]), ("score.bias", [k], bias[...])],
                              metadata: ["format": "pt", "labels": labels.joined(separator: "\n"), "pooling": pooling.rawValue]
                                .merging([("layer", layer.map(String.init)), ("max_tokens", maxTokens.map(String.init))].compactMap { key, value in value.map { (key, $0) } }) { own, _ in own })
        let file = try OutputFile(path: directory + "/labels.json")
        try file.write(Array(JSONValue.array(labels.map { .string($0) }).serialized.utf8) + [0x0A])
        try file.commit()
    }

    /// `model`: the run's model when the caller loaded it (an adapter run's base with its
    /// adapters, which needs the Hub cache and GGUF readers above this module); else read here.
    public static func load(from directory: String, model loaded: (any TrainableLanguageModel)? = nil) throws -> Classifier {
        let model: any TrainableLanguageModel = try loaded ?? (LlamaCheckpoint.isLlamaDirectory(directory)
            ? LlamaCheckpoint.load(from: directory) : Checkpoint.load(from: directory))
        guard let data = FileManager.default.contents(atPath: directory + "/labels.json"),
              let labels = (try? data.withUnsafeBytes { try JSONValue.parse($0.bindMemory(to: UInt8.self)) })?.array?.compactMap(\.string) else {
            throw QuarryError("\(directory)/labels.json not found: not a fine-tuned classifier (run `quarry finetune --task classify`)")
        }
        let (tensors, metadata) = try SafeTensors.readWithMetadata(directory + "/classifier.safetensors")
        let poolingName = metadata["pooling"] ?? Pooling.lastToken.rawValue
        guard let pooling = Pooling(rawValue: poolingName) else {
            throw QuarryError("\(directory)/classifier.safetensors: unknown pooling \"\(poolingName)\" (quarry knows \(Pooling.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let w = tensors["score.weight"], let b = tensors["score.bias"], w.shape == [pooling.featureWidth(modelWidth: model.width), labels.count], b.shape == [labels.count] else {
            throw QuarryError("\(directory)/classifier.safetensors does not match the model and labels")
        }
        let classifier = Classifier(model: model, labels: labels, seed: 0, pooling: pooling)
        classifier.layer = metadata["layer"].flatMap { Int($0) }
        classifier.maxTokens = metadata["max_tokens"].flatMap { Int($0) }
        classifier.weight = w.values
        classifier.bias = b.values
        return classifier
    }
}

extension Classifier {
    /// Each example's probability for each of `labels`, in the examples' order, `batch` at a time.
    public func probabilities(of examples: [LabelledExample], batch: Int) throws -> [[Float]] {
        var all: [[Float]] = []
        all.reserveCapacity(examples.count)
        for start in stride(from: 0, to: examples.count, by: max(1, batch)) {
            let slice = examples[start..<min(examples.count, start + max(1, batch))]
            all += try probabilities(slice.map(\.tokens))
        }
        return all
    }

    /// The figures of `probabilities`, each example's prediction its most likely label.
    public func report(_ examples: [LabelledExample], probabilities: [[Float]]) -> ClassificationReport {
        ClassificationReport(truth: examples.map(\.label), predicted: probabilities.map(Classifier.mostLikely), labels: labels)
    }
}

/// Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix.
public struct ClassificationReport: Codable, Sendable {
    public struct PerClass: Codable, Sendable {
        public var label: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: Int
    }
    public var accuracy: Double
    public var macroF1: Double
    public var perClass: [PerClass]
    public var labels: [String]
    /// confusion[true][predicted]
    public var confusion: [[Int]]
    public var examples: Int

    enum CodingKeys: String, CodingKey {
        case accuracy, macroF1 = "macro_f1", perClass = "per_class", labels, confusion, examples
    }

    public init(truth: [Int], predicted: [Int], labels: [String]) {
        let k = labels.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (t, p) in zip(truth, predicted) { confusion[t][p] += 1 }
        var perClass: [PerClass] = []
        for j in 0..<k {
            let tp = Double(confusion[j][j])
            let predictedJ = Double((0..<k).reduce(0) { $0 + confusion[$1][j] })
            let actualJ = Double(confusion[j].reduce(0, +))
            let p = predictedJ > 0 ? tp / predictedJ : 0, r = actualJ > 0 ? tp / actualJ : 0
            perClass.append(PerClass(label: labels[j], precision: p, recall: r, f1: p + r > 0 ? 2 * p * r / (p + r) : 0, support: Int(actualJ)))
        }
        let correct = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        accuracy = truth.isEmpty ? 0 : Double(correct) / Double(truth.count)
        let present = perClass.filter { $0.support > 0 }
        macroF1 = present.isEmpty ? 0 : present.map(\.f1).reduce(0, +) / Double(present.count)
        self.perClass = perClass
        self.labels = labels
        self.confusion = confusion
        examples = truth.count
    }

    public func table() -> String {
        var out = String(format: "accuracy %.4f, macro-F1 %.4f over %d examples\n", accuracy, macroF1, examples)
        let width = max(8, labels.map(\.count).max() ?? 0)
        out += "label".padding(toLength: width, withPad: " ", startingAt: 0) + "  precision  recall      f1  support\n"
        for c in perClass {
            out += c.label.padding(toLength: width, withPad: " ", startingAt: 0)
            out += String(format: "  %9.3f  %6.3f  %6.3f  %7d\n", c.precision, c.recall, c.f1, c.support)
        }
        out += "confusion (rows: true, columns: predicted, in label order)\n"
        for (label, row) in zip(labels, confusion) {
            out += label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + row.map { String($0) }.joined(separator: " ") + "\n"
        }
        return out
    }
}
