import ArgumentParser
import QuarryCore
import QuarryLabels

struct TaskList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the tasks with their progress.",
                                                    discussion: "Example:\n  quarry task list --db quarry.db")
    @OptionGroup var database: DatabaseOption
    func run() throws {
        let store = try database.open(access: .readOnly)
        for (stored, examples, annotated) in try runReporting({ try store.allTasks() }) {
            let (name, labels) = (SafeText.line(stored.task.name), SafeText.line(stored.task.labels.joined(separator: ",")))
            print("\(name)\t\(stored.task.kind.rawValue)\t\(examples) examples\t\(annotated) annotated\t\(labels)")
        }
    }
}
