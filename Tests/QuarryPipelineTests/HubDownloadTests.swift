import Foundation
import Testing
import QuarryTestSupport
import QuarryCore
@testable import QuarryPipeline

/// `quarry pull` against a Hub of the test's own on the loopback interface (nothing else on the
/// network): the cache it leaves is the one huggingface_hub leaves, a dropped connection resumes,
/// bad bytes and hostile names are refused with nothing half-written.
@Suite(.serialized) struct HubDownloadTests {
    static let repository = "org/tiny-llama"
    static let config = Array("{\"model_type\": \"llama\"}\n".utf8)
    static let tokenizer = Array("{\"version\": \"1.0\"}\n".utf8)
    static let weights: [UInt8] = {
        var random = SplitMix64(seed: 7)
        return (0..<300_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }()

    static func hub() throws -> LoopbackHub {
        try LoopbackHub(repository: repository, files: [
            .init(name: "config.json", bytes: config, isLFS: false),
            .init(name: "nested/dir/tokenizer.json", bytes: tokenizer, isLFS: false),
            .init(name: "model.safetensors", bytes: weights, isLFS: true),
        ])
    }

    static func settings(_ hub: LoopbackHub, cache: String, token: String? = "hf_secret") -> HubDownload.Settings {
        var settings = HubDownload.Settings(endpoint: hub.endpoint, token: token, cacheRoot: cache)
        settings.retryDelay = 0.01
        return settings
    }

    @Test func pullLaysOutTheCacheAsHuggingFaceHubAndResumesADroppedDownload() throws {
        let scratch = ScratchDirectory()
        let hub = try Self.hub()
        defer { hub.stop() }
        hub.dropNextDownloadAfter = 100_000
        let outcome = try HubDownload.pull(Self.repository, settings: Self.settings(hub, cache: scratch.path))

        let repo = scratch.path + "/models--org--tiny-llama"
        #expect(outcome.snapshot == repo + "/snapshots/" + hub.commit)
        #expect(outcome.downloaded.sorted() == ["config.json", "model.safetensors", "nested/dir/tokenizer.json"])
        #expect(try String(contentsOfFile: repo + "/refs/main", encoding: .utf8) == hub.commit)
        let lfs = LoopbackHub.File(name: "", bytes: Self.weights, isLFS: true).etag
        let git = LoopbackHub.File(name: "", bytes: Self.config, isLFS: false).etag
        let manager = FileManager.default
        #expect(try manager.destinationOfSymbolicLink(atPath: outcome.snapshot + "/model.safetensors") == "../../blobs/" + lfs)
        #expect(try manager.destinationOfSymbolicLink(atPath: outcome.snapshot + "/config.json") == "../../blobs/" + git)
        #expect(try manager.destinationOfSymbolicLink(atPath: outcome.snapshot + "/nested/dir/tokenizer.json").hasPrefix("../../../../blobs/"))
        #expect(manager.contents(atPath: outcome.snapshot + "/model.safetensors") == Data(Self.weights))
        #expect(manager.contents(atPath: outcome.snapshot + "/nested/dir/tokenizer.json") == Data(Self.tokenizer))
        #expect(try manager.contentsOfDirectory(atPath: repo + "/blobs").allSatisfy { !$0.hasSuffix(".incomplete") })

        // The dropped download resumed with a range request from where it stopped.
        let cdn = hub.requests.filter { $0.path.hasPrefix("/cdn/") }
        #expect(cdn.count == 2)
        #expect(cdn.last?.headers["range"] == "bytes=100000-")
        // The token went to the Hub, never to the host the redirect named (localhost ≠ 127.0.0.1).
        #expect(hub.requests.filter { !$0.path.hasPrefix("/cdn/") }.allSatisfy { $0.headers["authorization"] == "Bearer hf_secret" })
        #expect(cdn.allSatisfy { $0.headers["authorization"] == nil })
        // ORG/NAME now resolves wherever quarry takes a model.
        #expect(try HubCache.snapshot(Self.repository, root: scratch.path) == outcome.snapshot)

        // A second pull downloads nothing; offline, the cache answers without asking the Hub.
        let asked = hub.requests.count
        let again = try HubDownload.pull(Self.repository, settings: Self.settings(hub, cache: scratch.path))
        #expect(again.downloaded.isEmpty && again.cached.count == 3)
        #expect(hub.requests.count == asked + 1)
        var offline = Self.settings(hub, cache: scratch.path)
        offline.offline = true
        #expect(try HubDownload.pull(Self.repository, settings: offline).snapshot == outcome.snapshot)
        #expect(hub.requests.count == asked + 1)
    }

    @Test func aCorruptedDownloadOrAnOfflineMissKeepsNothing() throws {
        let scratch = ScratchDirectory()
        let hub = try Self.hub()
        defer { hub.stop() }
        hub.corruptLFS = true
        #expect { try HubDownload.pull(Self.repository, settings: Self.settings(hub, cache: scratch.path)) } throws: { error in
            "\(error)".contains("SHA-256") && "\(error)".contains("nothing kept")
        }
        let repo = scratch.path + "/models--org--tiny-llama"
        let lfs = LoopbackHub.File(name: "", bytes: Self.weights, isLFS: true).etag
        let manager = FileManager.default
        #expect(!manager.fileExists(atPath: repo + "/blobs/" + lfs) && !manager.fileExists(atPath: repo + "/blobs/" + lfs + ".incomplete"))
        #expect(!manager.fileExists(atPath: repo + "/refs/main"))
        #expect(!manager.fileExists(atPath: repo + "/snapshots/" + hub.commit + "/model.safetensors"))

        var offline = Self.settings(hub, cache: scratch.path + "/empty")
        offline.offline = true
        #expect { try HubDownload.pull(Self.repository, settings: offline) } throws: { "\($0)".contains("HF_HUB_OFFLINE") }
    }

    @Test func includeNarrowsTheFilesAndBadAnswersAreRefused() throws {
        let scratch = ScratchDirectory()
        let hub = try Self.hub()
        defer { hub.stop() }
        let only = try HubDownload.pull(Self.repository, include: ["*.json"], settings: Self.settings(hub, cache: scratch.path, token: nil))
        #expect(only.downloaded.sorted() == ["config.json", "nested/dir/tokenizer.json"])
        #expect(hub.requests.allSatisfy { $0.headers["authorization"] == nil })
        #expect { try HubDownload.pull(Self.repository, include: ["*.gguf"], settings: Self.settings(hub, cache: scratch.path)) } throws: {
            "\($0)".contains("matches --include")
        }
        #expect { try HubDownload.pull("org/missing", settings: Self.settings(hub, cache: scratch.path)) } throws: { "\($0)".contains("404") }
        #expect { try HubDownload.pull("../etc", settings: Self.settings(hub, cache: scratch.path)) } throws: { "\($0)".contains("not a Hub model name") }

        // A listing that names a file outside the snapshot is refused before anything is written.
        let fresh = ScratchDirectory()
        hub.extraListing = ["../../../escape.txt"]
        #expect { try HubDownload.pull(Self.repository, settings: Self.settings(hub, cache: fresh.path)) } throws: { "\($0)".contains("outside its snapshot") }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: fresh.path)) == [])
    }

    @Test func globsMatchAsHuggingFaceHubs() {
        #expect(HubDownload.matches("onnx/model.onnx", pattern: "*.onnx"))
        #expect(HubDownload.matches("onnx/model.onnx", pattern: "onnx/"))
        #expect(!HubDownload.matches("model.safetensors", pattern: "*.json"))
        #expect(HubDownload.matches("a-Q8_0.gguf", pattern: "*Q8_0.gguf"))
        #expect(HubClient.normalizedETag("W/\"abc\"") == "abc")
    }
}
