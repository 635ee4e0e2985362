import QuarryCore

/// `--quality-model MODEL --quality-label LABEL --quality-threshold T`: keeps a document when a
/// fastText classifier (a DCLM or FineWeb-Edu style quality model, or one trained on your own
/// labels) gives LABEL a probability of at least T, as datatrove's `FastTextClassifierFilter`
/// with `keep_labels=[(LABEL, T)]` does: the whole document, its newlines removed (datatrove's
/// default `newline_replacement`), all labels scored.
public struct QualityModelFilter: DocumentFilter {
    public let model: FastTextModel
    public let label: String
    public let threshold: Float

    /// `label` with or without fastText's `__label__`; one the model does not have is an error
    /// naming some it has.
    public init(model: FastTextModel, label: String, threshold: Float) throws {
        let full = label.hasPrefix("__label__") ? label : "__label__" + label
        guard model.labels.contains(full) else {
            let known = model.labels.prefix(8).map { $0.hasPrefix("__label__") ? String($0.dropFirst(9)) : $0 }
            throw QuarryError("--quality-label \(label): the model has no such label (it has \(known.joined(separator: ", "))\(model.labels.count > 8 ? ", …" : ""))")
        }
        self.model = model
        self.label = full
        self.threshold = threshold
    }

    public func score(_ text: String) -> Float {
        let line = text.replacingOccurrences(of: "\n", with: "")
        return model.predict(line, k: model.labels.count).first { $0.label == label }?.probability ?? 0
    }

    public func apply(_ text: String, language: String?) -> FilterOutcome {
        let p = score(text)
        return p >= threshold ? .kept : .drop(.qualityModel, value: Double(p))
    }
}
