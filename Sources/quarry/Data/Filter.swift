import ArgumentParser
import Foundation
import QuarryCore
import QuarryIngest

struct Filter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Run the cleaning filters over documents and keep what passes (or say, per document, what dropped it).",
        discussion: """
        Input is JSONL (each line's "text"; "id" and "language" are used when present, as \
        `quarry extract --lang-model` writes them) or plain text (each non-blank line a document), \
        from files or standard input. Output, in input order: the kept records, their text as the \
        filters left it (C4 removes lines); with --verdicts, one line per document: {"id", "kept", \
        "filter", "filter_reason", "value"} — the filter that dropped it, datatrove's name for the \
        reason and the statistic that crossed its threshold.

        Filters (run in the order given; thresholds are datatrove's defaults):
          gopher-quality     word count, mean word length, symbols, bullets, ellipses, stop words
          gopher-repetition  duplicate lines and paragraphs, top 2–4-grams, duplicated 5–10-grams
          fineweb            line punctuation, short lines, duplicated-line characters, newlines per word
          c4                 removes lines (no terminal punctuation, javascript, cookie notices);
                             drops lorem ipsum, '{', fewer than 5 sentences

        Examples:
          quarry extract crawl.warc.gz | quarry filter --filters gopher-repetition,fineweb > kept.jsonl
          quarry filter docs.jsonl --filters c4 --verdicts | grep '"kept":false'
        """
    )

    @Option(help: "Comma-separated filters (gopher-quality, gopher-repetition, fineweb, c4).") var filters: String = "gopher-repetition,gopher-quality,c4,fineweb"
    @Flag(help: "One verdict per document instead of the kept documents.") var verdicts = false
    @Flag(help: "Replace e-mail addresses and public IPv4 addresses in the kept documents (as ingest --pii).") var pii = false
    /// For scripts/crosscheck-filters: each document's words and sentence count as the filters see them.
    @Flag(help: .hidden) var showWords = false
    @Option(name: [.short, .long], parsing: .unconditional, help: "Threads (default: all cores).") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Argument(help: "Input files (default: standard input).") var inputs: [String] = []

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        do {
            if try FilterChain(parsing: filters).names.isEmpty && !pii { throw ValidationError("--filters needs at least one filter, e.g. --filters fineweb (or --pii alone)") }
        } catch let error as QuarryError { throw ValidationError(error.message) }
    }

    func run() throws {
        let chain = try runReporting { try FilterChain(parsing: filters) }
        let out = try OutputFile(path: nil)
        let showVerdicts = verdicts, showWords = self.showWords
        try runReporting {
            var ordinal = 0
            var formatter = PIIFormatter()
            for path in inputs.isEmpty ? ["-"] : inputs {
                let reader = try JSONLines.TextReader(path: path)
                while case let items = try reader.next(max: 4096), !items.isEmpty {
                    let isJSON = reader.isJSON
                    let lines = items.map(\.line)
                    let results = parallelMap(items, jobs: jobs) { item -> (JSONValue?, FilterOutcome) in
                        (item.record, chain.apply(item.text, language: item.record?["language"]?.string, url: item.record?["url"]?.string))
                    }
                    for ((record, outcome), line) in zip(results, lines) {
                        ordinal += 1
                        let id: JSONValue = record?["id"] ?? .number(Double(ordinal))
                        if showWords {
                            let scalars = Array((record?["text"]?.string ?? line).unicodeScalars)
                            let words = WordSplitter.words(scalars).map { JSONValue.string(String(String.UnicodeScalarView($0))) }
                            let fields: [(String, JSONValue)] = [("id", id), ("words", .array(words)), ("sentences", .number(Double(WordSplitter.sentenceCount(scalars))))]
                            try out.write(Array((JSONValue.object(fields).serialized + "\n").utf8))
                        } else if showVerdicts {
                            var fields: [(String, JSONValue)] = [("id", id), ("kept", .bool(outcome.dropReason == nil))]
                            if case .drop(let reason, let value) = outcome {
                                fields += [("filter", .string(reason.filter)), ("filter_reason", .string(reason.rawValue)), ("value", .number(value))]
                            }
                            try out.write(Array((JSONValue.object(fields).serialized + "\n").utf8))
                        } else if case .keep(var edited) = outcome {
                            if pii {
                                let text = edited ?? (isJSON ? record?["text"]?.string ?? "" : line)
                                let formatted = formatter.format(text)
                                if formatted != text { edited = formatted }
                            }
                            let kept: String
                            if let edited {
                                if isJSON, case .object(let members)? = record {
                                    kept = JSONValue.object(members.map { $0.0 == "text" ? ("text", .string(edited)) : $0 }).serialized
                                } else {
                                    kept = edited.replacingOccurrences(of: "\n", with: " ")
                                }
                            } else {
                                kept = line
                            }
                            try out.write(Array((kept + "\n").utf8))
                        }
                    }
                }
            }
            try out.commit()
        }
    }
}
