import ArgumentParser
import Foundation
import QuarryCore
import QuarryIngest

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn dumps, web pages and archives into clean plain-text documents (JSONL).",
        discussion: """
        Reads MediaWiki XML dumps (.xml, .xml.bz2, .xml.gz, UTF-8 or UTF-16), HTML pages, WARC and \
        ARC archives (plain or gzip), JSONL with a "text" field, and plain text. The format is \
        detected from the content, not the file name. Directories are read recursively; "-" is \
        standard input. Each output line is a JSON object with id, source, title, url and text \
        (schemas/document.schema.json).

        A file that cannot be read is reported on one line and the rest of the input is still \
        processed; the exit status is non-zero only when nothing could be read, or with --strict.

        Examples:
          quarry extract enwiki-latest-pages-articles.xml.bz2 --out wiki.jsonl
          quarry extract crawl/ --jobs 8 --out pages.jsonl
          cat page.html | quarry extract - > page.jsonl
        """
    )

    @Argument(help: "Files, directories (read recursively) or - for standard input.")
    var inputs: [String]

    @Option(name: [.short, .long], help: "Write JSONL here (written to a temporary name, renamed when complete). Default: standard output.")
    var out: String?

    @Option(name: [.short, .long], parsing: .unconditional, help: "Worker threads for converting documents, and for decompressing a .bz2 block by block (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "What one document of a plain-text input is: the whole file, each blank-line-separated paragraph, or each line.")
    var sampleBy: TextSampling = .document

    @Option(help: ArgumentHelp("Identify each document's language with this fastText model and add \"language\" and \"language_score\" (bare --lang-model: lid.176.ftz from the models cache, fetched by scripts/fetch-models lid176).", valueName: "path")) var langModel: String?

    @Flag(help: "Exit with an error if any file or record could not be read.")
    var strict = false

    @Flag(name: [.short, .long], help: "No progress line and no summary on standard error.")
    var quiet = false

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one input file or directory") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
    }

    func run() throws {
        let expansion = try expandInputs(inputs)
        if let out, let input = InputFiles.input(overwrittenBy: out, among: expansion.files) {
            printError("error: --out \(out) is the input \(input): write the documents elsewhere")
            throw ExitCode(1)
        }
        let output: OutputFile
        do {
            output = try OutputFile(path: out)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let languages = try langModel.map { path in try runReporting { try LanguageIdentifier(modelPath: path) } }
        let runner = ExtractionRun(files: expansion.files,
                                   options: ExtractionOptions(jobs: jobs, showProgress: !quiet && isatty(2) != 0, textSampling: sampleBy,
                                                              languages: languages),
                                   report: { printError("warning: \($0)") })
        let summary: ExtractionSummary
        do {
            summary = try runner.run { try output.write(DocumentJSON.line($0)) }
            try output.commit()
        } catch {
            output.abandon()
            printError("error: \(error)")
            throw ExitCode(1)
        }
        if !quiet { FileHandle.standardError.write(Data((summary.table() + "\n").utf8)) }
        let problems = summary.errors.count + expansion.unreadable
        if summary.documentsWritten == 0 && problems > 0 {
            printError("error: nothing usable could be read")
            throw ExitCode(1)
        }
        if strict && (problems > 0 || !summary.warnings.isEmpty) {
            printError("error: \(problems + summary.warnings.count) problem(s) with the input (--strict)")
            throw ExitCode(1)
        }
    }
}
