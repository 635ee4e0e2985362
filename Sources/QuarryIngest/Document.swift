/// A clean document: what every reader produces and every later stage consumes.
/// Its JSON form is described by `schemas/document.schema.json`.
public struct Document: Sendable, Equatable {
    /// Stable identifier: the input's own id where it has one (a JSONL `id`), otherwise a hash of `source`.
    public var id: String
    /// The input file's path, plus the record inside it for dumps and archives (`dump.xml.bz2#page=12`).
    public var source: String
    public var title: String?
    public var url: String?
    public var text: String
    /// The identified language (the model's label without `__label__`) and its probability,
    /// when language identification ran (`extract --lang-model`, `ingest --languages`).
    public var language: String?
    public var languageScore: Float?

    public init(id: String, source: String, title: String? = nil, url: String? = nil, text: String,
                language: String? = nil, languageScore: Float? = nil) {
        self.id = id
        self.source = source
        self.title = title
        self.url = url
        self.text = text
        self.language = language
        self.languageScore = languageScore
    }
}

/// A record as a reader found it, before conversion to text. Conversion (wikitext or HTML to
/// text, then cleaning) is the expensive part and runs on worker threads.
public struct RawRecord: Sendable {
    public enum Payload: Sendable {
        /// MediaWiki markup as UTF-8 (libxml2's, so valid), already XML-unescaped, with what its
        /// wiki's siteinfo says about links. Bytes: the reading thread does not validate them into
        /// a String (the converter's output is validated once, on a worker).
        case wikitext([UInt8], WikiSiteInfo)
        /// An HTML page's bytes with the charset declared outside it (an HTTP header), if any.
        case html([UInt8], declaredCharset: String?)
        /// Text that needs cleaning only.
        case plain([UInt8])
        /// Text from a JSON string: already valid Unicode.
        case decoded(String)
    }

    public var source: String
    public var id: String?
    public var title: String?
    public var url: String?
    public var payload: Payload
    /// Input bytes this record stands for, for the summary.
    public var byteCount: Int

    public init(source: String, id: String? = nil, title: String? = nil, url: String? = nil, payload: Payload, byteCount: Int) {
        self.source = source
        self.id = id
        self.title = title
        self.url = url
        self.payload = payload
        self.byteCount = byteCount
    }
}
