import Foundation
import QuarryCore
import QuarryTestSupport
import Testing
@testable import QuarryTraining

/// The Llama-family model against a reference written the other way round: whole-sequence
/// matrices in double precision with a causal mask, straight from the equations (Hugging Face's
/// LlamaModel), where the generator works one position at a time with a key/value cache.
/// transformers itself is the reference of `scripts/crosscheck-llama`.
struct LlamaTests {
    static let config = LlamaConfig(vocabSize: 40, nLayer: 2, nHead: 4, nKVHead: 2, nEmbd: 16, intermediateSize: 24,
                                    nPositions: 32, ropeTheta: 500, rmsNormEps: 1e-5, tiedEmbeddings: true)

    static func randomModel(_ config: LlamaConfig, seed: UInt64 = 7) throws -> Llama<Float> {
        var rng = SplitMix64(seed: seed)
        var parameters: [Float] = (0..<config.parameterCount).map { _ in Float(rng.uniform() * 0.6 - 0.3) }
        // Norm weights near 1, as trained models have them.
        for (tensor, _, _, range) in config.namedTensors where [.attentionNorm, .mlpNorm, .finalNorm].contains(tensor) {
            for i in range { parameters[i] += 1 }
        }
        return try Llama(config: config, parameters: parameters)
    }

    /// Logits at every position, [T][V], by the equations.
    static func reference(_ model: Llama<Float>, _ tokens: [Int32]) -> [[Double]] {
        let c = model.config, hs = c.headSize, T = tokens.count
        func tensor(_ name: LlamaTensor, layer: Int? = nil) -> [Double] {
            let entry = c.namedTensors.first { $0.tensor == name && $0.layer == layer }!
            return model.parameters[entry.range].map(Double.init)
        }
        func matmul(_ x: [[Double]], _ w: [Double], out: Int, bias: [Double]? = nil) -> [[Double]] {   // x·Wᵀ, W [out, in]
            var result: [[Double]] = []
            for row in x {
                var y = [Double](repeating: 0, count: out)
                for o in 0..<out {
                    var sum = bias?[o] ?? 0
                    for i in 0..<row.count { sum += row[i] * w[o * row.count + i] }
                    y[o] = sum
                }
                result.append(y)
            }
            return result
        }
        func norm(_ x: [[Double]], _ w: [Double]) -> [[Double]] {
            x.map { (row: [Double]) -> [Double] in
                var squares = 0.0
                for v in row { squares += v * v }
                let r = 1 / (squares / Double(row.count) + c.rmsNormEps).squareRoot()
                return row.indices.map { (i: Int) -> Double in row[i] * r * w[i] }
            }
        }
        func add(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
            zip(a, b).map { (p: ([Double], [Double])) -> [Double] in zip(p.0, p.1).map { $0 + $1 } }
        }
        func rope(_ x: [[Double]], heads: Int) -> [[Double]] {
            x.enumerated().map { t, row in
                var out = row
                for h in 0..<heads {
                    for i in 0..<(hs / 2) {
                        let angle = Double(t) / Foundation.pow(c.ropeTheta, Double(2 * i) / Double(hs))
                        let a = row[h * hs + i], b = row[h * hs + hs / 2 + i]
                        out[h * hs + i] = a * cos(angle) - b * sin(angle)
                        out[h * hs + hs / 2 + i] = b * cos(angle) + a * sin(angle)
                    }
                }
                return out
            }
        }
        let embedding = tensor(.embedding)
        var x = tokens.map { id in (0..<c.nEmbd).map { embedding[Int(id) * c.nEmbd + $0] } }
        for l in 0..<c.nLayer {
            let n = norm(x, tensor(.attentionNorm, layer: l))
            let bias = { (t: LlamaTensor) in c.attentionBias ? tensor(t, layer: l) : nil }
            let q = rope(matmul(n, tensor(.query, layer: l), out: c.nEmbd, bias: bias(.queryBias)), heads: c.nHead)
            let k = rope(matmul(n, tensor(.key, layer: l), out: c.kvWidth, bias: bias(.keyBias)), heads: c.nKVHead)
            let v = matmul(n, tensor(.value, layer: l), out: c.kvWidth, bias: bias(.valueBias))
            var y = [[Double]](repeating: [Double](repeating: 0, count: c.nEmbd), count: T)
            for h in 0..<c.nHead {
                let kv = h / (c.nHead / c.nKVHead)
                for t in 0..<T {
                    var scores: [Double] = []
                    for s in 0...t {
                        var dot = 0.0
                        for i in 0..<hs { dot += q[t][h * hs + i] * k[s][kv * hs + i] }
                        scores.append(dot / Double(hs).squareRoot())
                    }
                    let top = scores.max() ?? 0
                    let weights: [Double] = scores.map { exp($0 - top) }
                    let total = weights.reduce(0, +)
                    for i in 0..<hs {
                        var sum = 0.0
                        for s in 0...t { sum += weights[s] / total * v[s][kv * hs + i] }
                        y[t][h * hs + i] = sum
                    }
                }
            }
            let o = matmul(y, tensor(.attentionOutput, layer: l), out: c.nEmbd)
            x = add(x, o)
            let m = norm(x, tensor(.mlpNorm, layer: l))
            let g = matmul(m, tensor(.gate, layer: l), out: c.intermediateSize), u = matmul(m, tensor(.up, layer: l), out: c.intermediateSize)
            let a: [[Double]] = zip(g, u).map { (p: ([Double], [Double])) -> [Double] in zip(p.0, p.1).map { $0 / (1 + exp(-$0)) * $1 } }
            let d = matmul(a, tensor(.down, layer: l), out: c.nEmbd)
            x = add(x, d)
        }
        return matmul(norm(x, tensor(.finalNorm)), c.tiedEmbeddings ? embedding : tensor(.lmHead), out: c.vocabSize)
    }

    static func generatorLogits(_ model: Llama<Float>, _ tokens: [Int32]) throws -> [[Float]] {
        try BLAS.load(threads: 1)
        let generator = LlamaGenerator(model: model)
        return try tokens.map { try generator.feed($0); return generator.logits }
    }

    static func expectClose(_ ours: [[Float]], _ reference: [[Double]], tolerance: Double = 1e-4) {
        var worst = 0.0
        for (a, b) in zip(ours, reference) { for (x, y) in zip(a, b) { worst = max(worst, abs(Double(x) - y)) } }
        #expect(worst < tolerance, "max |difference| \(worst)")
    }

    static let tokens: [Int32] = [3, 17, 5, 39, 0, 22, 22, 8, 11, 30]

    @Test func generatorMatchesTheEquationsWithGroupedQueries() throws {
        let model = try Self.randomModel(Self.config)
        Self.expectClose(try Self.generatorLogits(model, Self.tokens), Self.reference(model, Self.tokens))
    }

    @Test func untiedHeadAndQwen2Biases() throws {
        var config = Self.config
        config.architecture = .qwen2
        config.tiedEmbeddings = false
        config.attentionBias = true
        config.nKVHead = 4
        let model = try Self.randomModel(config, seed: 11)
        Self.expectClose(try Self.generatorLogits(model, Self.tokens), Self.reference(model, Self.tokens))
    }

    /// The batched training forward pass gives the generator's logits: for a batch, and for
    /// packed sequences of different lengths (positions restart, attention stays within each).
    @Test func trainingForwardMatchesTheGenerator() throws {
        var config = Self.config
        config.attentionBias = true
        config.tiedEmbeddings = false
        let model = try Self.randomModel(config, seed: 5)
        _ = try model.forward(tokens: Self.tokens, targets: nil, B: 1, T: Self.tokens.count)
        let rows = Array(model.logits())
        let expected = try Self.generatorLogits(model, Self.tokens)
        Self.expectClose((0..<Self.tokens.count).map { Array(rows[($0 * 40)..<(($0 + 1) * 40)]) }, expected.map { $0.map(Double.init) })
        let first = Array(Self.tokens.prefix(4)), second = Array(Self.tokens.suffix(6))
        _ = try model.forward(tokens: first + second, targets: nil, Layers.Sequences(lengths: [4, 6]))
        let packed = Array(model.logits())
        let separately = try Self.generatorLogits(model, first) + Self.generatorLogits(model, second)
        Self.expectClose((0..<10).map { Array(packed[($0 * 40)..<(($0 + 1) * 40)]) }, separately.map { $0.map(Double.init) })
    }

    /// Every parameter's analytic gradient against central finite differences, in double
    /// precision: tied and untied heads, grouped queries, Qwen2 biases, packed sequences and
    /// ignored targets.
    @Test(arguments: [false, true])
    func backwardMatchesFiniteDifferences(qwen2: Bool) throws {
        var config = LlamaConfig(vocabSize: 11, nLayer: 2, nHead: 2, nKVHead: 1, nEmbd: 8, intermediateSize: 12, nPositions: 8, ropeTheta: 100)
        if qwen2 { config.architecture = .qwen2; config.attentionBias = true; config.tiedEmbeddings = false }
        var rng = SplitMix64(seed: qwen2 ? 21 : 12)
        let parameters: [Double] = (0..<config.parameterCount).map { _ in rng.uniform() * 1.2 - 0.6 }
        let model = try Llama<Double>(config: config, parameters: parameters)
        let tokens: [Int32] = [1, 5, 9, 2, 0, 7, 3, 10]
        let targets: [Int32] = [5, 9, -1, 4, 7, 3, -1, 1]
        let sequences = Layers.Sequences(lengths: [3, 5])
        model.zeroGradients()
        _ = try model.forward(tokens: tokens, targets: targets, sequences, training: true)
        try model.backward()
        let analytic = model.gradients
        // The loss and the head's gradients taken 3 rows at a time: the same, to rounding.
        model.lossChunkRows = 3
        model.zeroGradients()
        let chunkedLoss = try #require(try model.forward(tokens: tokens, targets: targets, sequences, training: true))
        try model.backward()
        model.lossChunkRows = 256
        let wholeLoss = try #require(try model.forward(tokens: tokens, targets: targets, sequences))
        #expect(abs(chunkedLoss - wholeLoss) < 1e-12)
        #expect(zip(model.gradients, analytic).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
        var worst = 0.0
        let h = 1e-5
        for i in parameters.indices {
            model.parameters[i] = parameters[i] + h
            let up = try #require(try model.forward(tokens: tokens, targets: targets, sequences))
            model.parameters[i] = parameters[i] - h
            let down = try #require(try model.forward(tokens: tokens, targets: targets, sequences))
            model.parameters[i] = parameters[i]
            let numeric = (up - down) / (2 * h)
            worst = max(worst, abs(numeric - analytic[i]) / max(1e-3, abs(numeric) + abs(analytic[i])))
        }
        #expect(worst < 1e-6, "worst relative difference \(worst)")
        #expect(analytic.contains { $0 != 0 })
    }

    /// llama.cpp's converter interleaves Q and K rows per head (`permute`); the same weights
    /// written that way under `llama`, and as they are under `qwen2` (never permuted), load
    /// into the same model.
    @Test func ggufLlamaRotaryPermutationIsUndone() throws {
        let model = try Self.randomModel(Self.config)
        func permute(_ w: ArraySlice<Float>, heads: Int) -> [Float] {   // llama.cpp's convert_hf_to_gguf.py permute
            let w = Array(w), rows = w.count / Self.config.nEmbd, hs = rows / heads, c = Self.config.nEmbd
            var out = w
            for h in 0..<heads { for i in 0..<(hs / 2) { for j in 0..<2 {
                out[((h * hs) + i * 2 + j) * c..<((h * hs) + i * 2 + j + 1) * c] = w[((h * hs) + j * hs / 2 + i) * c..<((h * hs) + j * hs / 2 + i + 1) * c]
            } } }
            return out
        }
        func file(_ architecture: String, permuted: Bool) throws -> GGUFFile {
            var writer = GGUFWriter()
            let c = Self.config
            writer.set("general.architecture", .string(architecture))
            for (key, value) in [("block_count", c.nLayer), ("context_length", c.nPositions), ("embedding_length", c.nEmbd),
                                 ("feed_forward_length", c.intermediateSize), ("attention.head_count", c.nHead), ("attention.head_count_kv", c.nKVHead)] {
                writer.set("\(architecture).\(key)", .unsigned(UInt64(value)))
            }
            writer.set("\(architecture).rope.freq_base", .float(c.ropeTheta))
            for (tensor, layer, shape, range) in c.namedTensors {
                let values = model.parameters[range]
                let heads = tensor == .query ? c.nHead : c.nKVHead
                writer.add(tensor.ggufName(layer: layer), shape: shape,
                           floats: permuted && (tensor == .query || tensor == .key) ? permute(values, heads: heads) : Array(values))
            }
            return try GGUFFile(bytes: writer.encoded(), path: "\(architecture).gguf")
        }
        let llama = try LlamaGGUF.load(file("llama", permuted: true))
        let qwen = try LlamaGGUF.load(file("qwen2", permuted: false))
        #expect(llama.parameters == model.parameters)
        #expect(qwen.parameters == model.parameters)
        #expect(llama.config == Self.config)
        // Permuted but read as qwen2, the weights are wrong: the permutation is not a no-op here.
        #expect(try LlamaGGUF.load(file("qwen2", permuted: true)).parameters != model.parameters)
    }

    @Test func unknownArchitecturesAndMissingTensorsAreNamed() throws {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("mamba"))
        writer.add("token_embd.weight", shape: [4, 2], floats: [Float](repeating: 0, count: 8))
        #expect(performing: { try LlamaGGUF.load(GGUFFile(bytes: writer.encoded(), path: "m.gguf")) },
                throws: { "\($0)".contains("architecture mamba") && "\($0)".contains("llama, qwen2") })
        var partial = GGUFWriter()
        partial.set("general.architecture", .string("llama"))
        for (key, value) in [("block_count", 1), ("context_length", 8), ("embedding_length", 2), ("feed_forward_length", 4), ("attention.head_count", 1)] {
            partial.set("llama.\(key)", .unsigned(UInt64(value)))
        }
        partial.add("token_embd.weight", shape: [4, 2], floats: [Float](repeating: 0, count: 8))
        #expect(performing: { try LlamaGGUF.load(GGUFFile(bytes: partial.encoded(), path: "p.gguf")) },
                throws: { "\($0)".contains("has no tensor blk.0.attn_norm.weight") })
    }

    /// The real SmolLM2-135M-Instruct (skipped unless `scripts/fetch-models` fetched it): its
    /// metadata gives the shape the model card states.
    @Test func smolLM2ConfigFromItsMetadata() throws {
        guard let path = TestPaths.model(TestPaths.smolLM2) else { return }
        let config = try LlamaGGUF.config(GGUFFile(path: path))
        #expect(config == LlamaConfig(vocabSize: 49_152, nLayer: 30, nHead: 9, nKVHead: 3, nEmbd: 576, intermediateSize: 1_536,
                                      nPositions: 8_192, ropeTheta: 100_000, rmsNormEps: 1e-5, tiedEmbeddings: true))
    }
}

/// Llama-family Hugging Face directories: config.json in both transformers layouts, F32 and BF16
/// safetensors, shards, and what is refused.
struct LlamaCheckpointTests {
    static let config = LlamaTests.config

    @Test func savedRunsLoadBackExactlyInF32AndRoundedInBF16() throws {
        let scratch = ScratchDirectory()
        let model = try LlamaTests.randomModel(Self.config)
        try LlamaCheckpoint.save(model, to: scratch.path + "/f32", eos: 2)
        let back = try LlamaCheckpoint.load(from: scratch.path + "/f32")
        #expect(back.config == model.config && back.parameters == model.parameters)
        try LlamaCheckpoint.save(model, to: scratch.path + "/bf16", bfloat16: true)
        let rounded = try LlamaCheckpoint.load(from: scratch.path + "/bf16")
        // bfloat16 keeps 8 significant bits: each value within half a unit in the last place.
        let worst = zip(rounded.parameters, model.parameters).map { abs($0 - $1) / max(abs($1), 1e-30) }.max() ?? 1
        #expect(worst <= 1.0 / 256)
        #expect(rounded.parameters.allSatisfy { $0.bitPattern & 0xFFFF == 0 })
    }

    /// PyTorch's float32 → bfloat16 rounds to nearest, ties to even.
    @Test func bfloat16RoundsToNearestEven() {
        #expect(SafeTensors.bfloat16Bits(1) == 0x3F80)
        #expect(SafeTensors.bfloat16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)   // a tie, down to even
        #expect(SafeTensors.bfloat16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)   // a tie, up to even
        #expect(SafeTensors.bfloat16Bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(SafeTensors.bfloat16Bits(-2.5) == 0xC020)
    }

    static func configJSON(_ extra: String) -> String {
        """
        {"model_type": "llama", "vocab_size": 40, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32, \(extra)}
        """
    }

    @Test func configInBothTransformersLayouts() throws {
        let legacy = try LlamaCheckpoint.config(Data(Self.configJSON("\"rope_theta\": 500000.0, \"tie_word_embeddings\": true").utf8), path: "c")
        let current = try LlamaCheckpoint.config(Data(Self.configJSON("\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500000.0}").utf8), path: "c")
        #expect(legacy.ropeTheta == 500_000 && current.ropeTheta == 500_000)
        #expect(legacy.tiedEmbeddings && !current.tiedEmbeddings)          // transformers' default: untied
        #expect(current.rmsNormEps == 1e-6)                                 // LlamaConfig's default
        let qwen = try LlamaCheckpoint.config(Data(Self.configJSON("\"rope_theta\": 1.0").utf8.map { $0 }).replacing(Data("llama".utf8), with: Data("qwen2".utf8)), path: "c")
        #expect(qwen.architecture == .qwen2 && qwen.attentionBias)
        #expect(performing: { try LlamaCheckpoint.config(Data(Self.configJSON("\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}").utf8), path: "c") },
                throws: { "\($0)".contains("rotary scaling llama3") })
        #expect(performing: { try LlamaCheckpoint.config(Data(Self.configJSON("\"hidden_act\": \"gelu\"").utf8), path: "c") },
                throws: { "\($0)".contains("hidden_act gelu") })
        #expect(performing: { try LlamaCheckpoint.config(Data(#"{"model_type": "mistral"}"#.utf8), path: "c") },
                throws: { "\($0)".contains("model_type mistral") })
    }

    @Test func shardsAreReadAndConfinedToTheDirectory() throws {
        let scratch = ScratchDirectory()
        let model = try LlamaTests.randomModel(Self.config)
        try LlamaCheckpoint.save(model, to: scratch.path + "/one")
        let dir = scratch.path + "/sharded"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: scratch.path + "/one/config.json", toPath: dir + "/config.json")
        // Two shards: the embedding in one, everything else in the other.
        let tensors = Self.config.namedTensors.map { ($0.tensor.huggingFaceName(layer: $0.layer), $0.shape, model.parameters[$0.range]) }
        try SafeTensors.write(dir + "/model-00001-of-00002.safetensors", tensors: Array(tensors.prefix(1)))
        try SafeTensors.write(dir + "/model-00002-of-00002.safetensors", tensors: Array(tensors.dropFirst()))
        let map = tensors.enumerated().map { "\"\($0.element.0)\": \"model-0000\($0.offset == 0 ? 1 : 2)-of-00002.safetensors\"" }
        _ = scratch.write("sharded/model.safetensors.index.json", "{\"metadata\": {}, \"weight_map\": {\(map.joined(separator: ", "))}}")
        #expect(try LlamaCheckpoint.load(from: dir).parameters == model.parameters)
        _ = scratch.write("sharded/model.safetensors.index.json", "{\"weight_map\": {\"model.norm.weight\": \"../one/model.safetensors\"}}")
        #expect(performing: { try LlamaCheckpoint.load(from: dir) }, throws: { "\($0)".contains("outside the directory") })
    }
}

/// LoRA adapters on a Llama (issue 24): a new adapter changes nothing; the adapters' gradients
/// against central differences in double precision, with and without dropout (the same masks
/// drawn again); the frozen base never gets a gradient buffer.
struct LoRATests {
    static func model(dropout: Double) throws -> Llama<Double> {
        let config = LlamaConfig(vocabSize: 11, nLayer: 2, nHead: 2, nKVHead: 1, nEmbd: 8, intermediateSize: 12, nPositions: 8, ropeTheta: 100)
        var rng = SplitMix64(seed: 31)
        let model = try Llama<Double>(config: config, parameters: (0..<config.parameterCount).map { _ in rng.uniform() * 1.2 - 0.6 })
        try model.attachAdapters(LoRAConfig(rank: 3, alpha: 6, dropout: dropout, targets: [.query, .key, .value, .output, .gate, .up, .down]), seed: 5)
        return model
    }

    @Test func aNewAdapterChangesNothing() throws {
        let model = try Self.model(dropout: 0)
        let tokens: [Int32] = [1, 5, 9, 2, 0, 7]
        _ = try model.forward(tokens: tokens, targets: nil, B: 1, T: 6)
        let with = Array(model.logits())
        let plain = try Llama<Double>(config: model.config, parameters: model.parameters)
        _ = try plain.forward(tokens: tokens, targets: nil, B: 1, T: 6)
        #expect(with == Array(plain.logits()))
    }

    @Test(arguments: [0.0, 0.3]) func adapterGradientsMatchFiniteDifferences(dropout: Double) throws {
        let model = try Self.model(dropout: dropout)
        var rng = SplitMix64(seed: 8)
        for i in model.adapters!.parameters.indices { model.adapters!.parameters[i] = rng.uniform() - 0.5 }   // B nonzero too
        let tokens: [Int32] = [1, 5, 9, 2, 0, 7, 3, 10], targets: [Int32] = [5, 9, -1, 4, 7, 3, -1, 1]
        let sequences = Layers.Sequences(lengths: [3, 5])
        _ = try model.forward(tokens: tokens, targets: targets, sequences, training: true)
        try model.backward()
        let analytic = model.adapters!.gradients
        #expect(model.gradients.isEmpty, "the frozen base's gradients are never allocated")
        let h = 1e-5, original = model.adapters!.parameters
        var worst = 0.0
        func loss() throws -> Double {
            model.adapters!.dropoutCounter -= 1   // the masks of the analytic pass, drawn again
            return try #require(try model.forward(tokens: tokens, targets: targets, sequences, training: true))
        }
        for i in original.indices {
            model.adapters!.parameters[i] = original[i] + h
            let up = try loss()
            model.adapters!.parameters[i] = original[i] - h
            let down = try loss()
            model.adapters!.parameters[i] = original[i]
            let numeric = (up - down) / (2 * h)
            worst = max(worst, abs(numeric - analytic[i]) / max(1e-3, abs(numeric) + abs(analytic[i])))
        }
        #expect(worst < 1e-6, "worst relative difference \(worst)")
        #expect(analytic.contains { $0 != 0 })
    }
}
