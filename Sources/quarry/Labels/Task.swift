import ArgumentParser

struct TaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Create and list labelling tasks.",
        discussion: """
        Examples:
          quarry task create sections --labels admin,games,net --instructions "The package's archive section."
          quarry task create --config task.json
          quarry task list
        """,
        subcommands: [TaskCreate.self, TaskList.self]
    )
}
