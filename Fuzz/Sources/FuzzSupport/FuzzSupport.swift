import Foundation

/// The input as a file, for readers that take a path (one file per process, rewritten per input).
public func asFile(_ bytes: [UInt8], name: String) -> String {
    let directory = NSTemporaryDirectory() + "quarry-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// The input's bytes.
public func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}
