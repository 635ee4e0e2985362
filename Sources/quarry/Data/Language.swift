import ArgumentParser
import Foundation
import QuarryCore
import QuarryIngest

struct Language: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "language",
        abstract: "Identify each document's language with a fastText model (lid.176 by default), as the cleaning does.",
        discussion: """
        Input is JSONL (each line's "text") or plain text (each non-blank line a document), from files or \
        standard input. One JSON line per document, in input order: {"language", "language_score"}, \
        with -k N the N most probable as "languages": [{"language", "score"}, …]. Newlines inside a \
        text are taken as spaces (datatrove's FastTextLID does the same).

        The model is lid.176.ftz in quarry's models cache (scripts/fetch-models lid176), or any \
        supervised fastText model (.bin or .ftz: GlotLID, a quality classifier) with --lang-model.

        Example:
          quarry language docs.jsonl -k 3
        """
    )

    @Option(help: "A fastText model (.bin or .ftz; default: lid.176.ftz in the models cache).") var langModel: String?
    @Option(name: .short, parsing: .unconditional, help: "How many labels to list per document.") var k: Int = 1
    @Argument(help: "Input files (default: standard input).") var inputs: [String] = []

    func validate() throws {
        guard k >= 1 else { throw ValidationError("-k must be at least 1 (got \(k))") }
    }

    func run() throws {
        let identifier = try runReporting { try LanguageIdentifier(modelPath: langModel) }
        let out = try OutputFile(path: nil)
        try runReporting {
            for path in inputs.isEmpty ? ["-"] : inputs {
                let reader = try JSONLines.TextReader(path: path)
                while case let items = try reader.next(max: 4096), !items.isEmpty {
                    for item in items {
                        let found = identifier.identify(item.text, k: k)
                        var record: [(String, JSONValue)] = [("language", found.first.map { .string($0.language) } ?? .null),
                                                             ("language_score", found.first.map { .number(Double($0.score)) } ?? .null)]
                        if k > 1 {
                            record.append(("languages", .array(found.map { .object([("language", .string($0.language)), ("score", .number(Double($0.score)))]) })))
                        }
                        try out.write(Array((JSONValue.object(record).serialized + "\n").utf8))
                    }
                }
            }
            try out.commit()
        }
    }
}
