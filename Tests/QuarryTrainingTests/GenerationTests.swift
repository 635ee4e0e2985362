import Foundation
import Testing
import QuarryCore
@testable import QuarryTraining

@Suite struct GenerationTests {
    @Test func cachedStepsGiveTheFullForwardLogits() throws {
        try BLAS.load(threads: 1)
        let config = ModelConfig(vocabSize: 40, nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 12)
        let model = try GPT<Float>(config: config)
        model.initialise(seed: 4)
        let tokens: [Int32] = [3, 17, 5, 39, 0, 22, 8]
        _ = try model.forward(tokens: tokens, targets: nil, B: 1, T: tokens.count)
        let full = Array(model.logits())
        let generator = Generator(model: model)
        for (t, token) in tokens.enumerated() {
            try generator.feed(token)
            let expected = full[(t * 40)..<((t + 1) * 40)]
            let worst = zip(generator.logits, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-4, "position \(t): \(worst)")
        }
        var rng = SplitMix64(seed: 1)
        let greedy = generator.sample(temperature: 0, topK: 0, rng: &rng)
        let last = Array(full.suffix(40))
        #expect(Int(greedy) == last.indices.max { last[$0] < last[$1] })
        // Top-1 sampling is greedy too, at any temperature.
        #expect(generator.sample(temperature: 1.5, topK: 1, rng: &rng) == greedy)
        #expect(throws: QuarryError.self) { for _ in 0..<20 { try generator.feed(1) } }   // context full
    }
}
