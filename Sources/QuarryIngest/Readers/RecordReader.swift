/// Reads the pieces of a record stream: one `RawRecord` per kept item. What a reader skips
/// (redirects, other namespaces) it counts; a broken record it skips to the next is described in
/// `recordErrors` (the first few), which the run reports as warnings.
public protocol RecordReader: AnyObject {
    func next() throws -> RawRecord?
    var skipped: [DropReason: Int] { get }
    var recordErrors: [String] { get }
}

extension RecordReader {
    /// Most formats have no record to skip: a broken input is an error of the whole file.
    public var recordErrors: [String] { [] }
}
