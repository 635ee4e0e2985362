import ArgumentParser
import QuarryLabels

struct TaskList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the tasks with their progress.",
                                                    discussion: "Example:\n  quarry task list --db quarry.db")
    @OptionGroup var database: DatabaseOption
    func run() throws {
        let store = try database.open()
        for (stored, examples, annotated) in try runReporting({ try store.allTasks() }) {
            print("\(stored.task.name)\t\(stored.task.kind.rawValue)\t\(examples) examples\t\(annotated) annotated\t\(stored.task.labels.joined(separator: ","))")
        }
    }
}
