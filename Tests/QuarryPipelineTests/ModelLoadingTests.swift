import Foundation
import Testing
import QuarryTestSupport
import QuarryCore
@testable import QuarryPipeline
import QuarryTokenizer
import QuarryTraining

/// Tokenizers and models from GGUF files, and the forms a user names a model by.
struct ModelLoadingTests {
    /// A GGUF tokenizer: two control tokens, the byte alphabet without byte 0x04, and one merge.
    static func tokenizerFile(pre: String, model: String = "gpt2") -> GGUFWriter {
        var tokens = ["<|endoftext|>", "<|im_start|>"]
        var types: [GGUFFile.Value] = [.signed(3), .signed(3)]
        for b in 0..<256 where b != 4 { tokens.append(String(ByteLevelAlphabet.characters[b])); types.append(.signed(1)) }
        tokens.append("12"); types.append(.signed(1))
        var writer = GGUFWriter()
        writer.set("tokenizer.ggml.model", .string(model))
        writer.set("tokenizer.ggml.pre", .string(pre))
        writer.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
        writer.set("tokenizer.ggml.token_type", .array(types))
        writer.set("tokenizer.ggml.merges", .array([.string("1 2")]))
        return writer
    }

    static func load(_ writer: GGUFWriter) throws -> BPEModel {
        try GGUFTokenizer.load(GGUFFile(bytes: writer.encoded(), path: "t.gguf"))
    }

    @Test func smollmSplitsDigitsGPT2DoesNot() throws {
        let smollm = try Self.load(Self.tokenizerFile(pre: "smollm")), gpt2 = try Self.load(Self.tokenizerFile(pre: "gpt-2"))
        let a = try #require(smollm.id(of: "a")), one = try #require(smollm.id(of: "1")), two = try #require(smollm.id(of: "2"))
        let twelve = try #require(smollm.id(of: "12"))
        #expect(BPEEncoder(model: smollm).encode("a12") == [a, one, two])
        #expect(BPEEncoder(model: gpt2).encode("a12") == [a, twelve])
        // Control tokens are matched in the text before BPE; a byte the vocabulary lacks is skipped.
        #expect(BPEEncoder(model: smollm).encode("<|im_start|>a\u{04}a") == [1, a, a])
        #expect(smollm.addedTokens.count == 2 && smollm.addedTokens.allSatisfy(\.special))
    }

    /// Written as a tokenizer.json, the digit rule survives (HF's Sequence[Digits, ByteLevel]).
    @Test func theDigitRuleRoundTripsThroughTokenizerJSON() throws {
        let smollm = try Self.load(Self.tokenizerFile(pre: "smollm"))
        let again = try TokenizerFile.parse(Data(TokenizerFile.serialise(smollm).utf8))
        #expect(again.splitsDigits && again.encodesLike(smollm))
    }

    /// Llama 3's and Qwen2's tokenizers (GGUF pre llama-bpe, qwen2) split digits in runs of three
    /// and one, and survive a round trip through tokenizer.json's Split form.
    @Test func llamaBPEAndQwen2PreTokenizers() throws {
        let llama = try Self.load(Self.tokenizerFile(pre: "llama-bpe")), qwen = try Self.load(Self.tokenizerFile(pre: "qwen2"))
        #expect(llama.preTokenization == .llama3 && qwen.preTokenization == .qwen2)
        let twelve = try #require(llama.id(of: "12"))
        #expect(BPEEncoder(model: llama).encode("12").last == twelve)
        #expect(!BPEEncoder(model: qwen).encode("12").contains(twelve))
        for model in [llama, qwen] {
            let again = try TokenizerFile.parse(Data(TokenizerFile.serialise(model).utf8))
            #expect(again.encodesLike(model))
        }
    }

    @Test func unknownTokenizersAreNamed() throws {
        #expect(performing: { try Self.load(Self.tokenizerFile(pre: "llama-bpe-unknown")) }, throws: { "\($0)".contains("pre-tokenizer llama-bpe-unknown") })
        #expect(performing: { try Self.load(Self.tokenizerFile(pre: "smollm", model: "llama")) }, throws: { "\($0)".contains("tokenizer model llama") })
    }

    @Test func modelsAreNamedByPathAndRefusedClearly() throws {
        let scratch = ScratchDirectory()
        #expect(performing: { try LanguageModel.load(scratch.path + "/missing.gguf") }, throws: { "\($0)".contains("no such model") })
        let text = scratch.write("notes.txt", "not a model")
        #expect(performing: { try LanguageModel.load(text) }, throws: { "\($0)".contains("neither a model directory nor a .gguf file") })
        let fake = scratch.write("fake.gguf", "GGUF but nothing after it")
        #expect(performing: { try LanguageModel.load(fake) }, throws: { $0 is QuarryError })
    }
}

/// `ORG/NAME[@REVISION]` in a Hugging Face cache laid out as huggingface_hub writes it.
struct HubCacheTests {
    static let commit = "0123456789abcdef0123456789abcdef01234567"

    /// models--ORG--NAME with refs/main → the commit, a snapshot of symlinks into blobs/.
    static func cache(files: [String: String]) throws -> ScratchDirectory {
        let scratch = ScratchDirectory()
        let repository = scratch.path + "/models--Org--Tiny-Model"
        for folder in ["refs", "blobs", "snapshots/\(commit)"] {
            try FileManager.default.createDirectory(atPath: repository + "/" + folder, withIntermediateDirectories: true)
        }
        _ = scratch.write("models--Org--Tiny-Model/refs/main", commit)
        for (name, content) in files {
            let blob = scratch.write("models--Org--Tiny-Model/blobs/\(name.hashValue.magnitude)", content)
            try FileManager.default.createSymbolicLink(atPath: repository + "/snapshots/\(commit)/" + name, withDestinationPath: blob)
        }
        return scratch
    }

    @Test func namesResolveThroughRefsToSnapshots() throws {
        let scratch = try Self.cache(files: ["config.json": "{}", "tokenizer.json": "{}"])
        let snapshot = scratch.path + "/models--Org--Tiny-Model/snapshots/\(Self.commit)"
        #expect(try HubCache.model("Org/Tiny-Model", root: scratch.path) == snapshot)
        #expect(try HubCache.model("Org/Tiny-Model@main", root: scratch.path) == snapshot)
        #expect(try HubCache.model("Org/Tiny-Model@\(Self.commit)", root: scratch.path) == snapshot)
        #expect(performing: { try HubCache.model("Org/Tiny-Model@v2", root: scratch.path) }, throws: { "\($0)".contains("no revision v2") })
        #expect(performing: { try HubCache.model("Org/Other", root: scratch.path) }, throws: { "\($0)".contains("no such model in the Hugging Face cache") })
        #expect(performing: { try HubCache.model("Org/Tiny-Model@\(String(repeating: "f", count: 40))", root: scratch.path) },
                throws: { "\($0)".contains("snapshot") && "\($0)".contains("missing") })
    }

    @Test func aGGUFRepositoryResolvesToItsOneFile() throws {
        let one = try Self.cache(files: ["model.Q4_0.gguf": "GGUF"])
        #expect(try HubCache.model("Org/Tiny-Model", root: one.path).hasSuffix("/model.Q4_0.gguf"))
        let two = try Self.cache(files: ["a.gguf": "GGUF", "b.gguf": "GGUF"])
        #expect(performing: { try HubCache.model("Org/Tiny-Model", root: two.path) }, throws: { "\($0)".contains("2 GGUF files (a.gguf, b.gguf)") })
    }

    @Test func theCacheRootFollowsHuggingFaceHub() {
        #expect(HubCache.root(environment: ["HF_HUB_CACHE": "/c", "HF_HOME": "/h"]) == "/c")
        #expect(HubCache.root(environment: ["HF_HOME": "/h"]) == "/h/hub")
        #expect(HubCache.root(environment: [:]).hasSuffix("/.cache/huggingface/hub"))
        #expect(HubCache.isModelName("HuggingFaceTB/SmolLM2-135M-Instruct@main"))
        #expect(!HubCache.isModelName("run1") && !HubCache.isModelName("a/b/c") && !HubCache.isModelName("../x"))
    }
}
