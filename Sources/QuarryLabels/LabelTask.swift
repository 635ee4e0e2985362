import Foundation
import GRDB
import QuarryCore

/// A labelling task: what is asked of annotators. Its JSON form (`--config task.json`) is
/// described by `schemas/task.schema.json`.
public struct LabelTask: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Choose one label (or several, with `multiLabel`).
        case classify
        /// Mark token ranges of the text and give each a label.
        case span
        /// Write a response to the text (a prompt), for instruction tuning.
        case response
    }

    public var name: String
    public var kind: Kind
    public var labels: [String]
    public var multiLabel: Bool
    public var instructions: String

    enum CodingKeys: String, CodingKey { case name, kind, labels, multiLabel = "multi_label", instructions }

    public init(name: String, kind: Kind = .classify, labels: [String], multiLabel: Bool = false, instructions: String = "") {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.multiLabel = multiLabel
        self.instructions = instructions
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decodeIfPresent(Kind.self, forKey: .kind) ?? .classify
        labels = try c.decodeIfPresent([String].self, forKey: .labels) ?? []
        multiLabel = try c.decodeIfPresent(Bool.self, forKey: .multiLabel) ?? false
        instructions = try c.decodeIfPresent(String.self, forKey: .instructions) ?? ""
    }

    /// Checks what the database would otherwise accept silently.
    public func validate() throws {
        guard !name.isEmpty, name.count <= 200, !name.contains(where: { $0.isNewline }) else {
            throw QuarryError("a task name must be 1–200 characters on one line")
        }
        // Names are shown on every annotator's terminal: no escape sequences, controls or bidi overrides.
        guard SafeText.isPlain(name) else {
            throw QuarryError("the task name \(SafeText.line(name)) holds control or direction characters: give a plain name")
        }
        if let label = labels.first(where: { !SafeText.isPlain($0) }) {
            throw QuarryError("the label \(SafeText.line(label)) holds control or direction characters: give plain labels")
        }
        if kind != .response && labels.isEmpty { throw QuarryError("a \(kind.rawValue) task needs labels (--labels a,b,c)") }
        if Set(labels).count != labels.count { throw QuarryError("labels must be distinct") }
        if labels.contains(where: { $0.isEmpty || $0.contains(",") }) { throw QuarryError("labels must be non-empty and contain no comma") }
        if labels.count > Self.hotkeys.count { throw QuarryError("at most \(Self.hotkeys.count) labels (one hotkey each)") }
        if multiLabel && kind != .classify { throw QuarryError("--multi-label applies to classify tasks only") }
    }

    /// Hotkeys for labels, in order: digits, then letters that no command uses.
    public static let hotkeys: [Character] = Array("1234567890abcdefghijklmnoprtvwxyz")

    public func hotkey(for index: Int) -> Character { Self.hotkeys[index] }

    public static func load(config path: String) throws -> LabelTask {
        guard let data = FileManager.default.contents(atPath: path) else { throw QuarryError("cannot read \(path)") }
        do { return try JSONDecoder().decode(LabelTask.self, from: data) } catch {
            throw QuarryError("\(path) is not a task definition (schemas/task.schema.json): \(error.localizedDescription)")
        }
    }
}

extension LabelTask {
    /// A typed answer: label names or hotkeys (comma-separated), spans (`0-2:label 5:label`, `-`
    /// for none), or a response; nil when the input answers nothing of this task.
    public func answer(typed input: String) -> Answer? {
        switch kind {
        case .response:
            return input.isEmpty ? nil : .response(input)
        case .classify:
            let parts = input.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let labels = parts.compactMap(label(typed:))
            guard labels.count == parts.count, !labels.isEmpty else { return nil }
            return multiLabel ? .labels(labels) : (labels.count == 1 ? .label(labels[0]) : nil)
        case .span:
            if input == "-" || input == "none" { return .spans([]) }
            var spans: [Answer.Span] = []
            for part in input.split(separator: " ") {
                let pieces = part.split(separator: ":", maxSplits: 1)
                guard pieces.count == 2, let name = label(typed: String(pieces[1])) else { return nil }
                let range = pieces[0].split(separator: "-")
                guard let start = Int(range[0]) else { return nil }
                let end = range.count > 1 ? Int(range[1]).map { $0 + 1 } : start + 1   // "3-5" includes token 5
                guard let end else { return nil }
                spans.append(Answer.Span(start: start, end: end, label: name))
            }
            return spans.isEmpty ? nil : .spans(spans)
        }
    }

    /// A label typed by name or by its hotkey.
    public func label(typed text: String) -> String? {
        if labels.contains(text) { return text }
        if text.count == 1, let index = Self.hotkeys.firstIndex(of: Character(text)), index < labels.count {
            return labels[index]
        }
        return nil
    }
}
