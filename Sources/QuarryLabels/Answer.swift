import Foundation
import QuarryCore

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

    /// Canonical JSON (written by hand: JSONEncoder per answer was a fifth of import time).
    public var json: String {
        var out = Array("{\"\(key)\":".utf8)
        appendValue(to: &out)
        out.append(0x7D)
        return String(decoding: out, as: UTF8.self)
    }

    /// The stored JSON's one key: label, labels, spans or response.
    public var key: String {
        switch self {
        case .label: return "label"
        case .labels: return "labels"
        case .spans: return "spans"
        case .response: return "response"
        }
    }

    /// The value under `key`, as canonical JSON: a string, or an array (labels sorted, so equal
    /// sets have equal JSON; spans in their order).
    public func appendValue(to out: inout [UInt8]) {
        switch self {
        case .label(let text), .response(let text):
            JSONText.appendString(text, to: &out)
        case .labels(let l):
            out.append(0x5B)
            for (k, label) in l.sorted().enumerated() {
                if k > 0 { out.append(0x2C) }
                JSONText.appendString(label, to: &out)
            }
            out.append(0x5D)
        case .spans(let spans):
            out.append(0x5B)
            for (k, span) in spans.enumerated() {
                if k > 0 { out.append(0x2C) }
                out += Array(#"{"end":\#(span.end),"label":"#.utf8)
                JSONText.appendString(span.label, to: &out)
                out += Array(#","start":\#(span.start)}"#.utf8)
            }
            out.append(0x5D)
        }
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

    /// The label of a single-label answer (stored beside the JSON for fast counts).
    public var singleLabel: String? {
        if case .label(let l) = self { return l }
        return nil
    }

    /// The answer as a trainer reads it: the response, or the labels joined by ", " (chat and
    /// shards exports, sft).
    public var text: String {
        if case .response(let r) = self { return r }
        return labelList.joined(separator: ", ")
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
