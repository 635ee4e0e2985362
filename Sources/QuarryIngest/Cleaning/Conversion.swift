import QuarryCore
/// Raw record → clean document: the per-record work that runs on worker threads.
public enum Conversion {
    public enum Result: Sendable {
        case document(Document, repairedBytes: Int)
        case dropped(DropReason)
    }

    /// `languages`: identify each document's language (its top label and probability).
    public static func convert(_ record: RawRecord, languages: LanguageIdentifier? = nil) -> Result {
        var title = record.title
        let outcome: TextCleaner.Outcome
        switch record.payload {
        case .wikitext(let markup, let siteInfo):
            outcome = cleaned(WikitextConverter(siteInfo: siteInfo).plainText(utf8: markup))
        case .html(let bytes, let charset):
            guard !HTMLExtractor.hasTooManyAttributes(bytes) else { return .dropped(.tooManyAttributes) }
            guard let page = HTMLExtractor.extract(bytes, declaredCharset: charset) else { return .dropped(.empty) }
            if title == nil, let pageTitle = page.title { title = TextCleaner.clean(pageTitle) }
            outcome = cleaned(page.text)
        case .plain(let bytes):
            outcome = TextCleaner.clean(bytes: bytes)
        case .decoded(let text):
            outcome = cleaned(text)
        }
        switch outcome {
        case .dropped(let reason):
            return .dropped(reason)
        case .clean(let text, let repaired):
            let id = record.id ?? stableID(record.source)
            let cleanTitle = title.map(TextCleaner.clean).flatMap { $0.isEmpty ? nil : $0 }
            var document = Document(id: id, source: record.source, title: cleanTitle, url: record.url, text: text)
            if let found = languages?.identify(text).first {
                document.language = found.language
                document.languageScore = found.score
            }
            return .document(document, repairedBytes: repaired)
        }
    }

    private static func cleaned(_ text: String) -> TextCleaner.Outcome {
        let clean = TextCleaner.clean(text)
        return clean.isEmpty ? .dropped(.empty) : .clean(clean, repairedBytes: 0)
    }
}
