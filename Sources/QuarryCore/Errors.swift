import Foundation

/// A one-line error message for the user (the CLI prefixes "quarry: error:").
public struct QuarryError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// errno as words a user understands.
public func describeErrno(_ code: Int32) -> String {
    switch code {
    case ENOENT: return "no such file or directory"
    case EACCES: return "permission denied"
    case EISDIR: return "is a directory"
    case ENOSPC: return "no space left on device"
    default: return String(cString: strerror(code))
    }
}
