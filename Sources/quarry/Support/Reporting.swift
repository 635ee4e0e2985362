import ArgumentParser
import Foundation
import QuarryCore
import QuarryIngest

/// One line on standard error, prefixed "quarry: ". Messages quote file names, task names and
/// values from files: shown terminal-safe.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("quarry: \(SafeText.visible(message))\n".utf8))
}

/// Runs work whose errors are user-facing: prints them as one line and exits non-zero.
func runReporting<T>(_ work: () throws -> T) throws -> T {
    do { return try work() } catch let exit as ExitCode { throw exit } catch {
        printError("error: \(error)")
        throw ExitCode(1)
    }
}

/// A value as indented JSON with sorted keys (`--json`).
func printJSON<Value: Encodable>(_ value: Value) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Whether a progress line may be drawn: standard error is a terminal and --quiet was not given.
func progressEnabled(quiet: Bool = false) -> Bool { !quiet && isatty(2) != 0 }

/// The files of the inputs given (directories read recursively); each input that cannot be read
/// is reported, and nothing readable at all is an error.
func expandInputs(_ inputs: [String]) throws -> (files: [String], unreadable: Int) {
    let expansion = InputFiles.expand(inputs)
    for message in expansion.errors { printError("error: \(message)") }
    guard !expansion.files.isEmpty else {
        printError("error: no input files to read")
        throw ExitCode(1)
    }
    return (expansion.files, expansion.errors.count)
}
