/// `--tokens 1,2,3`: comma-separated token ids (the cross-check commands); what is not an id is skipped.
enum TokenIDList {
    static func parse(_ text: String) -> [Int32] {
        text.split(separator: ",").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
    }
}
