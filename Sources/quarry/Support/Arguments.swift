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

    /// The store and one of its tasks, by name; `readOnly` for commands that only read (they
    /// create no database, and read one they may not write).
    func open(task name: String, access: LabelStore.Access = .readWrite) throws -> (LabelStore, LabelStore.StoredTask) {
        let store = try open(access: access)
        return (store, try runReporting { try store.task(named: name) })
    }

    func open(access: LabelStore.Access) throws -> LabelStore {
        try runReporting { try LabelStore(path: db, access: access) }
    }
}
