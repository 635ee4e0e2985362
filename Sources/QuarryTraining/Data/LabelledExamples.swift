import QuarryCore

/// One classification example: its tokens and the index of its label.
public struct LabelledExample: Sendable {
    public var tokens: [Int32]
    public var label: Int
    /// Where the example came from (its record's "id", else FILE:LINE), for predictions files.
    public var id: String?
    public init(tokens: [Int32], label: Int, id: String? = nil) { self.tokens = tokens; self.label = label; self.id = id }
}

/// Labelled examples for classification, with the label names their indices point into.
public struct LabelledExamples {
    public var examples: [LabelledExample] = []
    /// Each example's text (what the held-out split groups by).
    public var texts: [String] = []
    /// Label names in the order of the head's outputs: first appearance, unless a model fixed them.
    public private(set) var labels: [String]
    let labelsAreFixed: Bool

    /// `labels`: names known already (a model's, when `fixed`; earlier files', when not).
    public init(labels: [String] = [], fixed: Bool = false) {
        self.labels = labels
        labelsAreFixed = fixed
    }

    /// Adds a text with its label, cut to `limit` tokens (the beginning is kept).
    public mutating func append(text: String, label: String, id: String?, place: String, encoder: some TokenEncoder, limit: Int) throws {
        var index = labels.firstIndex(of: label)
        if index == nil {
            guard !labelsAreFixed else {
                throw QuarryError("\(place): label \"\(label)\" is unknown to the model (its labels: \(labels.joined(separator: ", ")))")
            }
            labels.append(label)
            index = labels.count - 1
        }
        examples.append(LabelledExample(tokens: Classifier.encode(text, encoder: encoder, limit: limit), label: index ?? 0, id: id ?? place))
        texts.append(text)
    }

    /// Every record of a labelled JSONL file (`{"text", "label"}`, `quarry export --format jsonl`).
    public mutating func read(_ path: String, encoder: some TokenEncoder, limit: Int) throws {
        try JSONLines.forEachRecord(in: path) { json, place in
            guard let text = json["text"]?.string else {
                throw QuarryError("\(place): not a JSON object with a string \"text\"")
            }
            guard let label = json["label"]?.string else {
                if json["label"]?.array != nil {
                    throw QuarryError("\(place): a list of labels (a multi-label task): --task classify trains one label per example")
                }
                throw QuarryError("\(place): no string \"label\" (fine-tuning needs labelled examples: `quarry export --format jsonl`)")
            }
            try append(text: text, label: label, id: json["id"]?.string, place: place, encoder: encoder, limit: limit)
        }
    }
}
