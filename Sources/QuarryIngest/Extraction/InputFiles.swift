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
                // Only regular files are read from a directory: a FIFO would block the run forever,
                // a device (a planted /dev/zero link) never end. Named on the command line, they are
                // read as asked (`<(zcat dump.gz)` is a pipe).
                var info = stat()
                guard stat(path, &info) == 0 else { continue }   // a dangling link: nothing to read
                switch info.st_mode & S_IFMT {
                case S_IFREG: result.files.append(path)
                case S_IFDIR: break
                default: result.errors.append("\(path): not a regular file (a pipe, socket or device): skipped")
                }
            }
        }
        return result
    }

    /// The input `output` would overwrite (the same file by device and inode, whatever the path
    /// says), if any: writing there would replace the input with its own output.
    public static func input(overwrittenBy output: String, among files: [String]) -> String? {
        var target = stat()
        guard output != "-", stat(output, &target) == 0, (target.st_mode & S_IFMT) == S_IFREG else { return nil }
        return files.first { path in
            var info = stat()
            return path != "-" && stat(path, &info) == 0 && info.st_dev == target.st_dev && info.st_ino == target.st_ino
        }
    }

    /// Bytes on disk of the regular files (for the progress ETA); standard input counts 0.
    public static func totalSize(_ files: [String]) -> Int {
        files.reduce(0) { total, path in
            var info = stat()
            return total + (path != "-" && stat(path, &info) == 0 ? Int(info.st_size) : 0)
        }
    }
}
