import ArgumentParser
import QuarryLabels

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Counts per label and annotator, progress, and agreement (Cohen's kappa, Krippendorff's alpha).",
        discussion: "Example:\n  quarry stats sections --json")
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let (store, stored) = try database.open(task: task, access: .readOnly)
        let stats = try runReporting { try TaskStatistics.compute(store: store, task: stored) }
        if json {
            try printJSON(stats)
        } else {
            print(stats.table(), terminator: "")
        }
    }
}
