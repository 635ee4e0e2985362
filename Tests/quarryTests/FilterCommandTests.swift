import Foundation
import Testing
import QuarryTestSupport

/// `quarry filter` (verdicts with datatrove's reasons; kept documents with C4's edits) and
/// `ingest --filters` (the same decisions in the manifest, the edited text in the shards).
@Suite struct FilterCommandTests {
    static let page = "Title without punctuation\\nThis is the first sentence. This is the second one[1]. And a third!\\nEnable javascript to see this page.\\nThe fourth sentence is here. And the fifth one is here too."
    static let edited = "This is the first sentence. This is the second one. And a third!\\nThe fourth sentence is here. And the fifth one is here too."
    static let short = "Only one sentence here, sadly.\\nAnd another single one."
    static let lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod."

    @Test func verdictsAndKeptDocuments() throws {
        let scratch = ScratchDirectory()
        let docs = scratch.write("docs.jsonl", [("a", Self.page), ("b", Self.short), ("c", Self.lorem)]
            .map { "{\"id\": \"\($0.0)\", \"text\": \"\($0.1)\", \"url\": \"https://example.org/\($0.0)\"}" }.joined(separator: "\n") + "\n")
        let verdicts = try quarry(["filter", "--filters", "c4", "--verdicts", docs])
        #expect(verdicts.status == 0, "\(verdicts.err)")
        #expect(verdicts.out.split(separator: "\n") == [
            #"{"id":"a","kept":true}"#,
            #"{"id":"b","kept":false,"filter":"c4","filter_reason":"too_few_sentences","value":2}"#,
            #"{"id":"c","kept":false,"filter":"c4","filter_reason":"lorem_ipsum","value":1}"#,
        ], "\(verdicts.out)")
        let kept = try quarry(["filter", "--filters", "c4", docs])
        #expect(kept.out == "{\"id\":\"a\",\"text\":\"\(Self.edited)\",\"url\":\"https://example.org/a\"}\n", "\(kept.out)")

        let pii = try quarry(["filter", "--filters", "", "--pii"], stdin: "{\"text\": \"Mail bob@host.co.uk from 8.8.8.8.\"}\n")
        #expect(pii.out == "{\"text\":\"Mail email@example.com from 22.214.171.124.\"}\n", "\(pii.out) \(pii.err)")

        let unknown = try quarry(["filter", "--filters", "c4,gopher", docs])
        #expect(unknown.status != 0 && unknown.err.contains("unknown filter 'gopher'") && unknown.err.contains("gopher-repetition"), "\(unknown.err)")
    }

    @Test func ingestCountsTheReasonsAndTokenizesTheEditedText() throws {
        let scratch = ScratchDirectory()
        let docs = scratch.write("docs.jsonl", [Self.page, Self.short, Self.lorem].map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n") + "\n")
        let common = ["--format", "nanogpt", "-q"]
        let trained = try quarry(["ingest", docs, "--vocab-size", "300", "--no-quality-filter", "--out", scratch.path + "/all"] + common)
        #expect(trained.status == 0, "\(trained.err)")
        let tokenizer = scratch.path + "/all/tokenizer.json"

        let filtered = try quarry(["ingest", docs, "--tokenizer", tokenizer, "--filters", "c4", "--out", scratch.path + "/c4"] + common)
        #expect(filtered.status == 0, "\(filtered.err)")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.path + "/c4/manifest.json"))) as? [String: Any]
        let dropped = manifest?["dropped"] as? [String: Int]
        #expect(dropped == ["too_few_sentences": 1, "lorem_ipsum": 1], "\(String(describing: dropped))")
        #expect((manifest?["settings"] as? [String: Any])?["filters"] as? [String] == ["c4"])
        #expect((manifest?["settings"] as? [String: Any])?["quality_filter"] as? Bool == false)
        let stats = try quarry(["shards", "stats", scratch.path + "/c4"])
        #expect(stats.out.contains("dropped lorem_ipsum: 1  (c4)\ndropped too_few_sentences: 1  (c4)"), "\(stats.out)")

        // The shards hold the text C4 left: the same bytes as ingesting `quarry filter`'s output unfiltered.
        let kept = try quarry(["filter", "--filters", "c4", docs])
        let keptFile = scratch.write("kept.jsonl", kept.out)
        let direct = try quarry(["ingest", keptFile, "--tokenizer", tokenizer, "--no-quality-filter", "--out", scratch.path + "/direct"] + common)
        #expect(direct.status == 0, "\(direct.err)")
        let a = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/c4/train.bin"))
        let b = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/direct/train.bin"))
        #expect(!a.isEmpty && a == b)
        let all = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/all/train.bin"))
        #expect(all.count > a.count, "the unfiltered shards hold more")

        let piiRun = try quarry(["ingest", docs, "--tokenizer", tokenizer, "--filters", "c4", "--pii", "--out", scratch.path + "/pii"] + common)
        let piiManifest = try String(contentsOfFile: scratch.path + "/pii/manifest.json", encoding: .utf8)
        #expect(piiRun.status == 0 && piiManifest.contains("\"pii\" : true"), "\(piiRun.err)")

        // --decontaminate: the page shares 13 words with the "evaluation set"; an empty set is refused.
        let evaluation = scratch.write("eval.jsonl", "{\"text\": \"he said: this is the second one. And a third! The fourth sentence is here.\"}\n")
        let clean = try quarry(["ingest", docs, "--tokenizer", tokenizer, "--filters", "c4", "--decontaminate", evaluation, "--out", scratch.path + "/clean"] + common)
        let cleanManifest = try String(contentsOfFile: scratch.path + "/clean/manifest.json", encoding: .utf8)
        #expect(clean.status == 0 && cleanManifest.contains("\"contaminated\" : 1"), "\(clean.err) \(cleanManifest)")
        let empty = scratch.write("empty.jsonl", "{\"text\": \"too short\"}\n")
        let refused = try quarry(["ingest", docs, "--tokenizer", tokenizer, "--decontaminate", empty, "--out", scratch.path + "/none"] + common)
        #expect(refused.status != 0 && refused.err.contains("holds no text of 8 words or more"), "\(refused.err)")

        // --url-blocklist: the page's url is on the list; a list that does not parse is refused.
        let withURLs = scratch.write("urls.jsonl", "{\"text\": \"\(Self.page)\", \"url\": \"https://www.spam.example/p\"}\n{\"text\": \"\(Self.page) Again.\", \"url\": \"https://fine.example/p\"}\n")
        let list = scratch.write("block.txt", "# spam\nspam.example\n")
        let blocked = try quarry(["ingest", withURLs, "--tokenizer", tokenizer, "--filters", "c4", "--url-blocklist", list, "--out", scratch.path + "/blocked"] + common)
        let blockedManifest = try String(contentsOfFile: scratch.path + "/blocked/manifest.json", encoding: .utf8)
        #expect(blocked.status == 0 && blockedManifest.contains("\"domain\" : 1") && blockedManifest.contains("\"documents_kept\" : 1"), "\(blocked.err) \(blockedManifest)")
        let badList = scratch.write("bad.txt", "spam example\n")
        let unparsable = try quarry(["ingest", withURLs, "--tokenizer", tokenizer, "--url-blocklist", badList, "--out", scratch.path + "/nolist"] + common)
        #expect(unparsable.status != 0 && unparsable.err.contains("bad.txt:1: an entry has no spaces"), "\(unparsable.err)")

        // --rejected: every dropped document, by filter, as many as the manifest counts.
        let twice = scratch.write("twice.jsonl", [Self.page, Self.short, Self.page, Self.lorem].map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n") + "\n")
        let out = scratch.path + "/r"
        let withRejected = try quarry(["ingest", twice, "--tokenizer", tokenizer, "--filters", "c4", "--rejected", out + "/rejected", "--out", out] + common)
        #expect(withRejected.status == 0, "\(withRejected.err)")
        let c4 = try String(contentsOfFile: out + "/rejected/c4/rejected.jsonl", encoding: .utf8).split(separator: "\n")
        let dedup = try String(contentsOfFile: out + "/rejected/dedup/rejected.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(c4.count == 2 && c4[0].contains("\"filter\":\"c4\",\"filter_reason\":\"too_few_sentences\",\"value\":2}")
                && c4[1].contains("\"filter_reason\":\"lorem_ipsum\"") && c4[1].contains("Lorem ipsum dolor"), "\(c4)")
        #expect(dedup.count == 1 && dedup[0].contains("\"text\":\"\(Self.edited)\"") && dedup[0].contains("\"filter_reason\":\"duplicate_exact\""), "\(dedup)")
        let rerun = try quarry(["ingest", twice, "--tokenizer", tokenizer, "--filters", "c4", "--rejected", out + "/rejected", "--out", out] + common)
        #expect(rerun.status == 0, "\(rerun.err)")
        #expect(try String(contentsOfFile: out + "/rejected/c4/rejected.jsonl", encoding: .utf8).split(separator: "\n") == c4)

        let bad = try quarry(["ingest", docs, "--tokenizer", tokenizer, "--filters", "fineweb,nope", "--out", scratch.path + "/bad"])
        #expect(bad.status != 0 && bad.err.contains("unknown filter 'nope'"), "\(bad.err)")
    }
}
