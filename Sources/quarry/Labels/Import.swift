import ArgumentParser
import Foundation
import QuarryCore
import QuarryLabels

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import examples into a task: JSONL, CSV/TSV with a header, or `quarry extract` output.",
        discussion: """
        JSONL lines need "text"; "id", "label" (or "labels"), "meta", "title", "url", "source" are kept. \
        CSV/TSV need a "text" column; "id" and "label" are recognised, other columns go to meta. \
        Examples are de-duplicated by their text; labels already present become annotations of \
        --label-annotator.

        Example:
          quarry import sections ../shared/data/labels/debian-sections-train.jsonl
        """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Argument(help: "Files to import.") var files: [String]
    @Option(help: "Who the labels in the files are attributed to.") var labelAnnotator: String = "imported"

    func run() throws {
        let (store, stored) = try database.open(task: task)
        var importer = Importer(store: store, task: stored)
        importer.labelAnnotator = labelAnnotator
        var failed = false
        for file in files {
            let started = Date()
            let progress = ProgressLine(label: "import \(file)", enabled: progressEnabled())
            do {
                let report = try importer.importFile(file) { progress.update(bytes: 0, items: $0, force: false) }
                progress.finish()
                for problem in report.problems { printError("warning: \(problem)") }
                printError(String(format: "%@: %d read, %d imported, %d duplicates, %d with labels, %d skipped (%.1fs)",
                                  file, report.read, report.imported, report.duplicates, report.labelled, report.skipped,
                                  Date().timeIntervalSince(started)))
            } catch {
                progress.finish()
                printError("error: \(file): \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
