import ArgumentParser
import Foundation
import QuarryLabels

struct Review: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Walk the examples where annotators disagree and record the adjudicated answer.",
        discussion: "Type the right label (or hotkey), s to skip, q to quit.\n\nExample:\n  quarry review sections --adjudicator carol")
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Option(help: "Your name.") var adjudicator: String = ProcessInfo.processInfo.environment["USER"] ?? "adjudicator"

    func run() throws {
        let (store, stored) = try database.open(task: task)
        var loop = ReviewLoop(queue: ReviewQueue(store: store, task: stored), task: stored.task, adjudicator: adjudicator)
        loop.warn = { printError("warning: \($0)") }
        let done = try runReporting { try loop.run() }
        printError("\(done) adjudication(s) saved")
    }
}
