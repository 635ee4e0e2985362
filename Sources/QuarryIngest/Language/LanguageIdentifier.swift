import Foundation
import QuarryCore

/// Language identification as the field's pipelines do it (datatrove's `FastTextLID`, FineWeb's
/// and FineWeb-2's): a fastText model's top label for the document's text, newlines taken as
/// spaces, the label without `__label__` (`en`, or GlotLID's `deu_Latn`) and its probability.
public struct LanguageIdentifier: Sendable {
    public let model: FastTextModel
    public let path: String

    /// lid.176.ftz (FineWeb's model, 176 languages) in quarry's models cache, where
    /// `scripts/fetch-models lid176` puts it: $QUARRY_MODELS, else ${XDG_CACHE_HOME:-~/.cache}/quarry/models.
    public static var defaultModelPath: String {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["QUARRY_MODELS"]
            ?? (environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache") + "/quarry/models"
        return cache + "/lid.176.ftz"
    }

    /// `path` nil: the default model, with the way to fetch it when it is missing.
    public init(modelPath path: String? = nil) throws {
        let path = path ?? Self.defaultModelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw QuarryError("no language-identification model at \(path): run scripts/fetch-models lid176 (it fetches lid.176.ftz there), or give --lang-model PATH")
        }
        self.path = path
        model = try FastTextModel(path: path)
    }

    public struct Identification: Sendable, Equatable {
        /// The label without fastText's `__label__` prefix.
        public let language: String
        public let score: Float
    }

    /// The `k` most probable languages, most probable first; empty for a text without words.
    public func identify(_ text: String, k: Int = 1) -> [Identification] {
        model.predict(text, k: k).map { Identification(language: Self.languageName($0.label), score: $0.probability) }
    }

    static func languageName(_ label: String) -> String {
        label.hasPrefix("__label__") ? String(label.dropFirst("__label__".count)) : label
    }
}
