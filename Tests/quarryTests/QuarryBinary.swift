import Foundation

/// The `quarry` executable under test: beside the test bundle (a `swift build` tree), else the
/// package's debug build.
enum QuarryBinary {
    static var path: String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("quarry").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/quarry").path
    }

}

/// Runs the quarry binary with `arguments`, `stdin` as its standard input and `environment`
/// added to this process's; waits for it to exit.
@discardableResult
func quarry(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: QuarryBinary.path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let input = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(stdin.utf8))
    try input.fileHandleForWriting.close()
    // Read both pipes before waiting: a full pipe would block the child.
    let out = UncheckedData()
    let reader = Thread { out.data = output.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !reader.isFinished { usleep(1000) }
    return (process.terminationStatus, String(decoding: out.data, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

private final class UncheckedData: @unchecked Sendable {
    var data = Data()
}

func scratchDirectory() -> String {
    let path = NSTemporaryDirectory() + "quarry-cli-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func write(_ path: String, _ text: String) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)), "cannot write a test file")
}
