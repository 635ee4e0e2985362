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

@Suite struct StopSequenceTests {
    /// Feeds `pieces` (a stream's tokens as text) and returns what was shown and whether it stopped.
    func stream(_ pieces: [String], stops: [String]) -> (shown: String, stopped: Bool) {
        var sequences = StopSequences(stops)
        var shown: [UInt8] = []
        for piece in pieces {
            let (ready, stopped) = sequences.add(Array(piece.utf8))
            shown += ready
            if stopped { return (String(decoding: shown, as: UTF8.self), true) }
        }
        return (String(decoding: shown + sequences.rest(), as: UTF8.self), false)
    }

    @Test func aStopSplitOverTokensIsNeverShown() {
        #expect(stream(["Paris", " is", "\n\nUs", "er: more"], stops: ["\n\nUser:"]) == ("Paris is", true))
        // Held back, then released when the text turns out not to be a stop.
        #expect(stream(["a\n", "\nb"], stops: ["\n\nUser:"]) == ("a\n\nb", false))
        #expect(stream(["one END two"], stops: ["END", ""]) == ("one ", true))
        #expect(stream(["no stops"], stops: []) == ("no stops", false))
        #expect(ChatTemplate.nextUserTurn == "\n\nUser:")
    }

    @Test func generationEndsAtTheLimitOrTheEndToken() throws {
        try BLAS.load(threads: 1)
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 40, nLayer: 1, nHead: 2, nEmbd: 8, nPositions: 16))
        model.initialise(seed: 9)
        var options = GenerationOptions()
        options.temperature = 0
        options.maxTokens = 5
        var emitted: [UInt8] = []
        // Each token decodes to one byte of its own: five greedy tokens, then the closing newline.
        try Generator(model: model).generate(prompt: [1, 2], options: options, decode: { [UInt8(48 + $0)] }, emit: { emitted += $0 })
        #expect(emitted.count == 6 && emitted.last == 0x0A)
        // The greedy first token as the end token: nothing but the newline.
        options.endOfText = Int32(emitted[0]) - 48
        var none: [UInt8] = []
        try Generator(model: model).generate(prompt: [1, 2], options: options, decode: { [UInt8(48 + $0)] }, emit: { none += $0 })
        #expect(none == [0x0A])
        // A damaged model (NaN weights) is an error, not an empty answer (issue 22, R20).
        for i in model.parameters.indices { model.setParameter(i, .nan) }
        #expect(throws: QuarryError.self) { try Generator(model: model).generate(prompt: [1, 2], options: options, decode: { _ in [] }, emit: { _ in }) }
    }
}
