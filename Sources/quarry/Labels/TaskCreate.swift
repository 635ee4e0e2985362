import ArgumentParser
import QuarryCore
import QuarryLabels

struct TaskCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a labelling task.",
        discussion: """
        Examples:
          quarry task create sections --labels admin,devel,doc,games,libs,net,utils
          quarry task create topics --labels a,b,c --multi-label --instructions "Pick every topic that applies"
          quarry task create answers --kind response
          quarry task create --config task.json        # schemas/task.schema.json
        """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: "Task name (or use --config).") var name: String?
    @Option(help: "Comma-separated labels; each gets a hotkey (1-9, 0, then letters).", transform: { $0.split(separator: ",").map(String.init) })
    var labels: [String] = []
    @Flag(help: "Several labels per example (classify tasks).") var multiLabel = false
    @Option(help: "classify, span or response.") var kind: LabelTask.Kind = .classify
    @Option(help: "Shown above every example.") var instructions: String = ""
    @Option(help: "A task definition in JSON (schemas/task.schema.json).") var config: String?

    func validate() throws {
        if config == nil && name == nil { throw ValidationError("give a task NAME or --config task.json") }
    }

    func run() throws {
        let task = try runReporting { () -> LabelTask in
            if let config { return try LabelTask.load(config: config) }
            return LabelTask(name: name ?? "", kind: kind, labels: labels, multiLabel: multiLabel, instructions: instructions)
        }
        let store = try database.open()
        let stored = try runReporting { try store.createTask(task) }
        print("created task \"\(SafeText.line(stored.task.name))\" (\(stored.task.kind.rawValue), \(stored.task.labels.count) labels) in \(database.db)")
    }
}
