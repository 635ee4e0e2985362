import Foundation

/// Expands command-line inputs into files: a file as is, a directory recursively (sorted, so
/// runs are reproducible), `-` for standard input. What cannot be listed is reported, not fatal.
public enum InputFiles {
    public struct Expansion {
        public var files: [String] = []
        public var errors: [String] = []
    }

    public static func expand(_ inputs: [String]) -> Expansion {
        var result = Expansion()
        let fm = FileManager.default
        for input in inputs {
            if input == "-" { result.files.append(input); continue }
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: input, isDirectory: &isDirectory) else {
                result.errors.append("\(input): no such file or directory")
                continue
            }
            guard isDirectory.boolValue else { result.files.append(input); continue }
            guard fm.isReadableFile(atPath: input), let entries = try? fm.subpathsOfDirectory(atPath: input) else {
                result.errors.append("\(input): cannot list directory (permission denied?)")
                continue
            }
            let base = input.hasSuffix("/") ? String(input.dropLast()) : input
            for entry in entries.sorted() {
                let path = base + "/" + entry
                if (entry as NSString).lastPathComponent.hasPrefix(".") { continue }
                var entryIsDirectory: ObjCBool = false
                if fm.fileExists(atPath: path, isDirectory: &entryIsDirectory), !entryIsDirectory.boolValue {
                    result.files.append(path)
                }
            }
        }
        return result
    }

    /// Bytes on disk of the regular files (for the progress ETA); standard input counts 0.
    public static func totalSize(_ files: [String]) -> Int {
        files.reduce(0) { total, path in
            var info = stat()
            return total + (path != "-" && stat(path, &info) == 0 ? Int(info.st_size) : 0)
        }
    }
}
