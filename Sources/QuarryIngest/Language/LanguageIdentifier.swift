import Foundation
import QuarryCore

/// Language identification as the field's pipelines do it (datatrove's `FastTextLID`, FineWeb's
/// and FineWeb-2's): a fastText model's top label for the document's text, newlines taken as
/// spaces, the label without `__label__` (`en`, or GlotLID's `deu_Latn`) and its probability.
public struct LanguageIdentifier: Sendable {
    public let model: FastTextModel
    public let path: String

    /// lid.176.ftz (FineWeb's model, 176 languages), found in quarry's models cache.
    public static let defaultModelName = "lid.176.ftz"

    /// Where `scripts/fetch-models` puts model files: $QUARRY_MODELS, else ${XDG_CACHE_HOME:-~/.cache}/quarry/models.
    public static var modelsCache: String {
        let environment = ProcessInfo.processInfo.environment
        return environment["QUARRY_MODELS"] ?? (environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache") + "/quarry/models"
    }

    /// `path`: a model file, or the name of one in the models cache; nil: lid.176.ftz there.
    /// A missing model is an error that says how to fetch it.
    public init(modelPath given: String? = nil) throws {
        let named = given ?? Self.defaultModelName
        let cached = Self.modelsCache + "/" + named
        let path = FileManager.default.fileExists(atPath: named) || named.contains("/") ? named : cached
        guard FileManager.default.fileExists(atPath: path) else {
            throw QuarryError(named == Self.defaultModelName
                ? "no language-identification model at \(cached): run scripts/fetch-models lid176 (it fetches lid.176.ftz there), or give --lang-model PATH"
                : "no fastText model at \(named) (nor in the models cache, \(Self.modelsCache))")
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
