import Foundation
@_exported import QuarryTestSupport
@testable import QuarryIngest

/// Runs a command-line tool and returns its exit status and output.
@discardableResult
func runTool(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
    try input.fileHandleForWriting.close()
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    let stderrData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdoutData, as: UTF8.self), String(decoding: stderrData, as: UTF8.self))
}

/// Compresses with the system's gzip or bzip2 (independent of the code under test).
func compress(_ bytes: [UInt8], with tool: String) throws -> [UInt8] {
    let scratch = ScratchDirectory()
    let file = scratch.write("data", bytes)
    try runTool("/bin/sh", ["-c", "\(tool) -c '\(file)' > '\(file).z'"])
    return Array(try Data(contentsOf: URL(fileURLWithPath: file + ".z")))
}

/// All records of a reader, and the error that stopped it, if any.
func drain(_ reader: RecordReader) -> (records: [RawRecord], error: Error?) {
    var records: [RawRecord] = []
    do {
        while let r = try reader.next() { records.append(r) }
        return (records, nil)
    } catch {
        return (records, error)
    }
}

func documents(from records: [RawRecord]) -> [Document] {
    records.compactMap {
        if case .document(let d, _) = Conversion.convert($0) { return d }
        return nil
    }
}
