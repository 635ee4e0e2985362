import Foundation
import Testing
import QuarryTestSupport

/// Language identification in the commands: `quarry language`, `extract --lang-model` (bare or
/// with a path), `ingest --languages` (kept per language in the manifest; the English stop-word
/// rule no longer drops a Bulgarian text), and the errors that need no model.
@Suite struct LanguageCommandTests {
    static let bulgarian = "Гранитът е едрозърнеста магмена скала, съставена главно от кварц, фелдшпат и слюда. Той се образува от магма, която изстива бавно дълбоко под земната повърхност. Гранитът се използва широко като строителен камък, за паметници и за облицовка на сгради в цялата страна."
    static let english = "The old quarry road runs from the village to the granite cliffs, and the masons who work there cut the stone by hand with the care and patience that has been handed down to them for generations of workers."

    @Test(.enabled(if: TestPaths.model("lid.176.ftz") != nil)) func languagesAreIdentifiedCountedAndKept() throws {
        let scratch = ScratchDirectory()
        let docs = scratch.write("docs.jsonl", [Self.bulgarian, Self.english].enumerated()
            .map { "{\"id\": \"d\($0.offset)\", \"text\": \"\($0.element)\"}" }.joined(separator: "\n") + "\n")
        let identified = try quarry(["language", docs, "-k", "2"])
        #expect(identified.status == 0, "\(identified.err)")
        let lines = identified.out.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].contains("\"language\":\"bg\"") && lines[1].contains("\"language\":\"en\""), "\(identified.out)")

        // extract: bare --lang-model (before an input) and with the model's path give the same documents.
        let bare = try quarry(["extract", "--lang-model", TestPaths.sample("wiki"), "-q"])
        let named = try quarry(["extract", TestPaths.sample("wiki"), "--lang-model", try #require(TestPaths.model("lid.176.ftz")), "-q"])
        #expect(bare.status == 0 && !bare.out.isEmpty && bare.out == named.out, "\(bare.err)")
        for line in bare.out.split(separator: "\n") { #expect(line.contains("\"language\":\"en\",\"language_score\":0.")) }

        // ingest: without identification the English stop-word rule drops the Bulgarian text.
        let common = ["--vocab-size", "300", "--min-words", "10", "-q"]
        let plain = try quarry(["ingest", docs, "--out", scratch.path + "/plain"] + common)
        let plainManifest = try manifest(scratch.path + "/plain")
        #expect(plain.status == 0 && plainManifest.contains("\"gopher_stop_words\" : 1"), "\(plain.err)")
        let kept = try quarry(["ingest", docs, "--languages", "bg", "--out", scratch.path + "/bg"] + common)
        #expect(kept.status == 0, "\(kept.err)")
        let m = try manifest(scratch.path + "/bg")
        #expect(m.contains("\"languages\" : {\n    \"bg\" : 1\n  }") && m.contains("\"language\" : 1") && !m.contains("gopher_stop_words"), "\(m)")
        let stats = try quarry(["shards", "stats", scratch.path + "/bg"])
        #expect(stats.out.contains("language bg: 1 documents") && stats.out.contains("languages kept: bg"), "\(stats.out)")
    }

    @Test func badLanguageOptionsAreOneLineErrors() throws {
        let scratch = ScratchDirectory()
        let docs = scratch.write("docs.jsonl", "{\"text\": \"\(Self.english)\"}\n")
        let empty = try quarry(["ingest", docs, "--vocab-size", "300", "--languages", ",", "--out", scratch.path + "/a"])
        #expect(empty.status != 0 && empty.err.contains("--languages needs at least one language"))
        let threshold = try quarry(["ingest", docs, "--vocab-size", "300", "--languages", "en", "--lang-threshold", "2", "--out", scratch.path + "/b"])
        #expect(threshold.status != 0 && threshold.err.contains("--lang-threshold"))
        let absent = try quarry(["ingest", docs, "--vocab-size", "300", "--languages", "en", "--out", scratch.path + "/c"],
                                environment: ["QUARRY_MODELS": scratch.path + "/no-models"])
        #expect(absent.status == 1 && absent.err.contains("scripts/fetch-models lid176"), "\(absent.err)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/c"), "nothing written before the model is found")
        let notAModel = scratch.write("model.bin", "certainly not fastText")
        let refused = try quarry(["language", "--lang-model", notAModel], stdin: "hello\n")
        #expect(refused.status == 1 && refused.err.contains("is not a fastText model"), "\(refused.err)")
    }

    private func manifest(_ directory: String) throws -> String {
        try String(contentsOfFile: directory + "/manifest.json", encoding: .utf8)
    }
}
