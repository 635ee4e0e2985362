/// Why a record did not become a document, or a document did not reach the shards: one
/// vocabulary for extraction's summary, ingest's manifest (`dropped`) and its summary.
public enum DropReason: String, Sendable, CaseIterable {
    // Reading and converting a record.
    case empty = "empty"
    case invalidUTF8 = "invalid_utf8"
    case notMainNamespace = "not_main_namespace"
    case redirect = "redirect"
    case notHTML = "not_html"
    case httpStatus = "http_status_not_2xx"
    case badRecord = "bad_record"
    case recordTooLarge = "record_too_large"
    case tooManyAttributes = "html_too_many_attributes"

    // The Gopher quality rules (`QualityFilter`).
    case tooFewWords = "gopher_too_few_words"
    case tooManyWords = "gopher_too_many_words"
    case meanWordLength = "gopher_mean_word_length"
    case symbolRatio = "gopher_symbol_ratio"
    case bulletLines = "gopher_bullet_lines"
    case ellipsisLines = "gopher_ellipsis_lines"
    case alphabeticWords = "gopher_alphabetic_words"
    case stopWords = "gopher_stop_words"

    // De-duplication (`Deduplicator`): the first copy is kept.
    case exactDuplicate = "duplicate_exact"
    case nearDuplicate = "duplicate_near"

    // `ingest --languages`: the identified language is not one kept, or scored under the threshold.
    case language = "language"

    // `ingest --part K/N`: the document belongs to another part.
    case otherPart = "other_part"
}
