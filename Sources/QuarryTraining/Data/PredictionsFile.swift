import QuarryCore

/// `schemas/prediction.schema.json`: one JSON line per example, its id, true and predicted
/// labels and every label's probability (`eval --predictions`, `held-out-predictions.jsonl`).
public enum PredictionsFile {
    public static func write(_ examples: [LabelledExample], _ probabilities: [[Float]], labels: [String], to path: String) throws {
        let file = try OutputFile(path: path)
        do {
            for (example, p) in zip(examples, probabilities) {
                let record = JSONValue.object([
                    ("id", .string(example.id ?? "")),
                    ("label", .string(labels[example.label])),
                    ("predicted", .string(labels[Classifier.mostLikely(p)])),
                    ("probabilities", .object(zip(labels, p).map { ($0, .number(Double($1))) })),
                ])
                try file.write(Array((record.serialized + "\n").utf8))
            }
            try file.commit()
        } catch {
            file.abandon()
            throw error
        }
    }
}
