import Foundation

/// What an annotator answered, stored as JSON in `annotation.answer`:
/// `{"label": "a"}`, `{"labels": ["a", "b"]}`, `{"spans": [{"start": 0, "end": 2, "label": "a"}]}`
/// (token indices, end exclusive) or `{"response": "text"}`.
public enum Answer: Equatable, Sendable {
    case label(String)
    case labels([String])
    case spans([Span])
    case response(String)

    public struct Span: Codable, Equatable, Sendable {
        public var start: Int
        public var end: Int
        public var label: String
        public init(start: Int, end: Int, label: String) { self.start = start; self.end = end; self.label = label }
    }

    private struct Stored: Codable {
        var label: String?
        var labels: [String]?
        var spans: [Span]?
        var response: String?
    }

    public var json: String {
        var stored = Stored()
        switch self {
        case .label(let l): stored.label = l
        case .labels(let l): stored.labels = l.sorted()   // canonical: equal sets, equal JSON
        case .spans(let s): stored.spans = s
        case .response(let r): stored.response = r
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(stored)) ?? Data("{}".utf8), as: UTF8.self)
    }

    public init?(json: String) {
        guard let stored = try? JSONDecoder().decode(Stored.self, from: Data(json.utf8)) else { return nil }
        if let l = stored.label { self = .label(l) }
        else if let l = stored.labels { self = .labels(l) }
        else if let s = stored.spans { self = .spans(s) }
        else if let r = stored.response { self = .response(r) }
        else { return nil }
    }

    /// A single comparable value for agreement statistics (multi-label sets sorted and joined).
    public var agreementKey: String {
        switch self {
        case .label(let l): return l
        case .labels(let l): return l.sorted().joined(separator: "+")
        case .spans(let s): return s.map { "\($0.start)-\($0.end):\($0.label)" }.sorted().joined(separator: ",")
        case .response(let r): return r
        }
    }

    /// The label(s) for exports and counts.
    public var labelList: [String] {
        switch self {
        case .label(let l): return [l]
        case .labels(let l): return l
        case .spans(let s): return s.map(\.label)
        case .response: return []
        }
    }
}
