import ArgumentParser
import Foundation
import QuarryLabels

struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Label examples one keystroke at a time.",
        discussion: """
        On a terminal: the example, the labels with their hotkeys and your progress; a hotkey \
        answers and moves on (multi-label: hotkeys toggle, enter submits). enter/space accepts \
        the model's suggestion, s skips, u undoes the last answer, < > scroll, ? helps, q quits. \
        Every answer is committed before the next example is drawn; restarting resumes at the \
        first example you have not answered.

        Without a terminal (stdin is a pipe) one answer per line: a label or hotkey (a,b for \
        multi-label), spans as 0-2:label 5:label, the response text, or s / u / q.

        Examples:
          quarry tag sections --annotator alice
          printf '1\\n2\\ns\\nq\\n' | quarry tag sections --annotator bot
          quarry tag sections --unlabelled      # skip what was imported with labels
        """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Option(help: "Your name, recorded with every answer.") var annotator: String = ProcessInfo.processInfo.environment["USER"] ?? "annotator"
    @Option(help: "stream (input order), random, or uncertain (least confident model predictions first).")
    var order: TaggingSession.Order = .stream
    @Option(help: ArgumentHelp("Show a model's predictions as suggestions: a fine-tuned classifier's run directory (its predictions are computed first), or a name given to `quarry predictions import/compute`.", valueName: "RUN"))
    var model: String?
    @Flag(help: "Only examples nobody has answered yet (labels that came with the import count as answers).")
    var unlabelled = false
    @Option(help: .hidden) var latencyLog: String?

    func run() throws {
        let (store, stored) = try database.open(task: task)
        var modelName = model
        if let model, FileManager.default.fileExists(atPath: model + "/classifier.safetensors") {
            modelName = try PredictionsCompute.store(runDirectory: model, name: nil, batch: 16, into: store, task: stored)
        }
        let session = try runReporting { try TaggingSession(store: store, task: stored, annotator: annotator, order: order, model: modelName,
                                                                   unlabelledOnly: unlabelled) }
        let loop = TaggingLoop(session: session, interactive: isatty(0) != 0 && isatty(1) != 0)
        let answered = try runReporting { try loop.run() }
        if let latencyLog {
            // Benchmark aid: seconds from each answer to the next example, one per line.
            _ = FileManager.default.createFile(atPath: latencyLog, contents: Data(loop.latencies.map { String($0) }.joined(separator: "\n").utf8))
        }
        printError("\(answered) answer(s) saved; \(session.done)/\(session.total) answered by \(annotator)")
    }
}
