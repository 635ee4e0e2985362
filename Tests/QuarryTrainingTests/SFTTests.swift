import Foundation
import Testing
import QuarryCore
import QuarryTokenizer
@testable import QuarryTraining

@Suite(.serialized) struct SFTTests {
    /// One token per byte (ids 0–255 are the bytes themselves) plus <|endoftext|> = 256, so the
    /// expected ids of a text are its UTF-8 bytes.
    static func byteTokenizer() throws -> BPEEncoder {
        let strings = (0..<256).map { ByteLevelAlphabet.encode([UInt8($0)]) } + ["<|endoftext|>"]
        return BPEEncoder(model: try BPEModel(tokenStrings: strings, merges: [], addedTokens: [("<|endoftext|>", 256, true)]))
    }

    static func chat(_ user: String, _ answer: String, system: String? = nil) -> [ChatMessage] {
        (system.map { [ChatMessage(role: .system, content: $0)] } ?? [])
            + [ChatMessage(role: .user, content: user), ChatMessage(role: .assistant, content: answer)]
    }

    @Test func onlyTheAnswerAndItsEndOfTextAreTargets() throws {
        let encoder = try Self.byteTokenizer()
        let example = try #require(ChatExample(Self.chat("Q?", "Yes", system: "S"), encoder: encoder, endOfText: 256, limit: 64))
        let prompt = Array("S\n\nUser: Q?\n\nAssistant: ".utf8).map(Int32.init)
        #expect(example.tokens == prompt + Array("Yes".utf8).map(Int32.init) + [256])
        #expect(example.trained == [Bool](repeating: false, count: prompt.count) + [true, true, true, true])
        #expect(ChatTemplate.prompt(user: "Q?", system: "S") == "S\n\nUser: Q?\n\nAssistant: ")
        // Next-token targets: the positions before each answer token; prompt positions are -1.
        let (inputs, targets, lengths) = SFTTrainer.batch([example])
        #expect(lengths == [example.tokens.count - 1])
        #expect(inputs == Array(example.tokens.dropLast()))
        #expect(targets == [Int32](repeating: -1, count: prompt.count - 1) + Array("Yes".utf8).map(Int32.init) + [256])
        // Chats are laid end to end, unpadded.
        let short = try #require(ChatExample(Self.chat("a", "b"), encoder: encoder, endOfText: 256, limit: 64))
        let packed = SFTTrainer.batch([short, example])
        #expect(packed.lengths == [short.tokens.count - 1, example.tokens.count - 1])
        #expect(packed.inputs == Array(short.tokens.dropLast()) + inputs && packed.targets.suffix(targets.count) == targets[...])
        // A prompt that fills the context leaves nothing to learn: the chat is refused.
        #expect(ChatExample(Self.chat(String(repeating: "long ", count: 20), "x"), encoder: encoder, endOfText: 256, limit: 32) == nil)
    }

    /// The trainer's dev loss against the definition, from the full logits of a plain forward pass.
    @Test func maskedLossIsTheMeanOverAnswerTokens() throws {
        try BLAS.load(threads: 1)
        let encoder = try Self.byteTokenizer()
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 257, nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 48))
        model.initialise(seed: 4)
        let examples = [Self.chat("ab", "cd"), Self.chat("hello", "w", system: "be brief")].compactMap {
            ChatExample($0, encoder: encoder, endOfText: 256, limit: 48)
        }
        let trainer = SFTTrainer(model: model, options: SFTOptions(), directory: NSTemporaryDirectory())
        let measured = try trainer.loss(examples)
        var total = 0.0, count = 0
        for e in examples {
            let n = e.tokens.count - 1
            _ = try model.forward(tokens: Array(e.tokens.prefix(n)), targets: nil, B: 1, T: n)
            let logits = Array(model.logits())
            for i in 0..<n where e.trained[i + 1] {
                let row = logits[(i * 257)..<((i + 1) * 257)].map(Double.init)
                let m = row.max() ?? 0
                let logSum = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
                total += logSum - row[Int(e.tokens[i + 1])]
                count += 1
            }
        }
        #expect(count == 3 + 2)
        #expect(abs(measured - total / Double(count)) < 1e-4, "\(measured) vs \(total / Double(count))")
    }

    @Test func learnsTheAnswersAndKeepsTheBestEpoch() throws {
        try BLAS.load(threads: 1)
        let encoder = try Self.byteTokenizer()
        let model = try GPT<Float>(config: ModelConfig(vocabSize: 257, nLayer: 1, nHead: 2, nEmbd: 32, nPositions: 32))
        model.initialise(seed: 2)
        let pairs = [("red?", "no"), ("sky?", "blue"), ("one?", "1"), ("sea?", "salt")]
        let chats = (0..<6).flatMap { _ in pairs }.compactMap { ChatExample(Self.chat($0.0, $0.1), encoder: encoder, endOfText: 256, limit: 32) }
        let dir = NSTemporaryDirectory() + "quarry-sft-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = SFTOptions()
        options.epochs = 25
        options.batch = 4
        options.learningRate = 3e-3
        options.patience = 25
        let trainer = SFTTrainer(model: model, options: options, directory: dir)
        let before = try trainer.loss(Array(chats.prefix(4)))
        let best = try trainer.run(train: chats, dev: Array(chats.prefix(4)), endOfTextID: 256)
        #expect(before > 4 && best < 0.2, "dev loss \(before) → \(best)")
        // The saved checkpoint is the best epoch: it measures the best dev loss again.
        let saved = try Checkpoint.load(from: dir)
        let again = try SFTTrainer(model: saved, options: options, directory: dir).loss(Array(chats.prefix(4)))
        #expect(abs(again - best) < 1e-5)
        #expect(throws: QuarryError.self) { try trainer.run(train: [], dev: chats, endOfTextID: 256) }
    }
}
