import Foundation
@_exported import QuarryTestSupport

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
/// added to this process's; waits for it to exit. The one way the tests run the binary.
@discardableResult
func quarry(_ arguments: [String], stdin: String, environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    try quarry(arguments, input: Array(stdin.utf8), environment: environment)
}

/// The same with standard input given as bytes (empty by default).
@discardableResult
func quarry(_ arguments: [String], input: [UInt8] = [], environment: [String: String] = [:],
            killAfter seconds: Double = 300) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: QuarryBinary.path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let stdinPipe = Pipe(), output = Pipe(), errors = Pipe()
    process.standardInput = stdinPipe
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // A hang is a failure, not a stuck test run: killed (SIGKILL, status 9) after `seconds`.
    let watchdog = Thread { [process] in
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    watchdog.start()
    stdinPipe.fileHandleForWriting.write(Data(input))
    try stdinPipe.fileHandleForWriting.close()
    // Read both pipes before waiting: a full pipe would block the child.
    // The semaphore orders the reader's write before the read below (Thread.isFinished does not:
    // ThreadSanitizer reported the race).
    let out = UncheckedData(), done = DispatchSemaphore(value: 0)
    let reader = Thread { out.data = output.fileHandleForReading.readDataToEndOfFile(); done.signal() }
    reader.start()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    done.wait()
    return (process.terminationStatus, String(decoding: out.data, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

private final class UncheckedData: @unchecked Sendable {
    var data = Data()
}

/// Compresses with the system's gzip or bzip2 (independent of the code under test).
func compress(_ bytes: [UInt8], with tool: String) throws -> [UInt8] {
    let scratch = ScratchDirectory()
    let file = scratch.write("data", bytes)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "\(tool) -c '\(file)' > '\(file).z'"]
    try process.run()
    process.waitUntilExit()
    return Array(try Data(contentsOf: URL(fileURLWithPath: file + ".z")))
}
