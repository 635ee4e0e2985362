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

/// `--lang-model [PATH]`: the option's value is optional, which the argument parser does not do.
enum LanguageModelArgument {
    /// Marks each bare `--lang-model` (last, before another option, or before an input that is no
    /// fastText model: an existing directory or file that is neither a .bin/.ftz nor starts with
    /// fastText's magic number) as `--lang-model lid.176.ftz`, the default model, which is found
    /// in the models cache by its name.
    static func givingBareOnesTheDefault(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            if argument == "--" { out += arguments[i...]; break }
            if argument == "--lang-model" && (i + 1 == arguments.count || !isModel(arguments[i + 1])) {
                out += ["--lang-model", LanguageIdentifier.defaultModelName]
            } else {
                out.append(argument)
            }
            i += 1
        }
        return out
    }

    static func isModel(_ argument: String) -> Bool {
        if argument.hasPrefix("-") { return false }
        if argument.hasSuffix(".ftz") || argument.hasSuffix(".bin") { return true }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else { return true }   // named as a model: "not found" says so
        guard !isDirectory.boolValue, let handle = FileHandle(forReadingAtPath: argument) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)).map { Array($0) == [0xBA, 0x16, 0x4F, 0x2F] } ?? false
    }
}
