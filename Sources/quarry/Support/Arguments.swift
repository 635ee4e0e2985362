import ArgumentParser
import Foundation
import QuarryIngest
import QuarryLabels
import QuarryShards

// The library's option types, read straight from the command line.
extension ShardFormat: ExpressibleByArgument {}
extension Deduplicator.Mode: ExpressibleByArgument {}
extension TextSampling: ExpressibleByArgument {}
extension LabelTask.Kind: ExpressibleByArgument {}
extension TaggingSession.Order: ExpressibleByArgument {}
extension Exporter.Format: ExpressibleByArgument {}

/// `--db PATH`, shared by every labelling command.
struct DatabaseOption: ParsableArguments {
    @Option(help: "The labels database (SQLite).")
    var db: String = "quarry.db"

    func open() throws -> LabelStore {
        try runReporting { try LabelStore(path: db) }
    }

    /// The store and one of its tasks, by name.
    func open(task name: String) throws -> (LabelStore, LabelStore.StoredTask) {
        let store = try open()
        return (store, try runReporting { try store.task(named: name) })
    }
}
