import Foundation

/// Paths the tests use: the repository (for samples/ and the built binary) and ../shared/data.
public enum TestPaths {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    public static func sample(_ relative: String) -> String { repository.appendingPathComponent("samples/" + relative).path }
    public static let sharedData = repository.deletingLastPathComponent().appendingPathComponent("shared/data").path
    public static var hasSharedData: Bool { FileManager.default.fileExists(atPath: sharedData) }
    public static func shared(_ relative: String) -> String { sharedData + "/" + relative }

    /// Where `scripts/fetch-models` puts pre-trained model files: $QUARRY_MODELS, else
    /// ${XDG_CACHE_HOME:-~/.cache}/quarry/models.
    public static var modelsCache: String {
        let environment = ProcessInfo.processInfo.environment
        if let own = environment["QUARRY_MODELS"] { return own }
        return (environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache") + "/quarry/models"
    }
    /// A fetched model file, or nil when it is absent (the test then skips).
    public static func model(_ name: String) -> String? {
        let path = modelsCache + "/" + name
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
    public static let smolLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
}

/// A scratch directory removed when the value is dropped.
public final class ScratchDirectory {
    public let path: String
    public init() {
        path = NSTemporaryDirectory() + "quarry-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    public func write(_ name: String, _ bytes: [UInt8]) -> String {
        let file = path + "/" + name
        precondition(FileManager.default.createFile(atPath: file, contents: Data(bytes)), "cannot write a test file")
        return file
    }
    public func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }
}

/// A new scratch directory the caller removes (`defer`).
public func scratchDirectory() -> String {
    let path = NSTemporaryDirectory() + "quarry-test-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes a test file.
public func write(_ path: String, _ text: String) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)), "cannot write a test file")
}
