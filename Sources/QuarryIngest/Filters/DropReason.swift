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

    // Gopher's repetition rules (`RepetitionFilter`), datatrove's names.
    case duplicateParagraphFraction = "dup_para_frac"
    case duplicateParagraphCharacterFraction = "dup_para_char_frac"
    case duplicateLineFraction = "dup_line_frac"
    case duplicateLineCharacterFraction = "dup_line_char_frac"
    case top2Gram = "top_2_gram"
    case top3Gram = "top_3_gram"
    case top4Gram = "top_4_gram"
    case duplicated5NGrams = "duplicated_5_n_grams"
    case duplicated6NGrams = "duplicated_6_n_grams"
    case duplicated7NGrams = "duplicated_7_n_grams"
    case duplicated8NGrams = "duplicated_8_n_grams"
    case duplicated9NGrams = "duplicated_9_n_grams"
    case duplicated10NGrams = "duplicated_10_n_grams"

    // FineWeb's quality rules (`FineWebQualityFilter`), datatrove's names.
    case linePunctuationRatio = "line_punct_ratio"
    case shortLineRatio = "short_line_ratio"
    case characterDuplicateRatio = "char_dup_ratio"
    case listRatio = "list_ratio"

    // C4's document rules (`C4Filter`), datatrove's names.
    case loremIpsum = "lorem_ipsum"
    case curlyBracket = "curly_bracket"
    case tooFewSentences = "too_few_sentences"

    // `--url-blocklist` (`URLBlocklist`), datatrove's URLFilter names.
    case blockedDomain = "domain"
    case blockedSubdomain = "subdomain"
    case blockedURL = "url"
    case bannedWord = "hard_blacklisted"
    case softBannedWords = "soft_blacklisted"
    case bannedSubword = "blacklisted_subword"

    // `--quality-model`: the classifier's probability of the wanted label is under the threshold.
    case qualityModel = "quality_model_score"

    // `--decontaminate`: shares a 13-word run with an evaluation set (`Decontaminator`).
    case contaminated = "contaminated"

    // De-duplication (`Deduplicator`): the first copy is kept.
    case exactDuplicate = "duplicate_exact"
    case nearDuplicate = "duplicate_near"

    // `ingest --languages`: the identified language is not one kept, or scored under the threshold.
    case language = "language"

    // `ingest --part K/N`: the document belongs to another part.
    case otherPart = "other_part"

    static func topNGram(_ n: Int) -> DropReason? { DropReason(rawValue: "top_\(n)_gram") }
    static func duplicatedNGrams(_ n: Int) -> DropReason? { DropReason(rawValue: "duplicated_\(n)_n_grams") }

    /// The step that dropped a document for this reason: a `--filters` name, or the stage's.
    public var filter: String {
        switch self {
        case .empty, .invalidUTF8, .notMainNamespace, .redirect, .notHTML, .httpStatus, .badRecord, .recordTooLarge, .tooManyAttributes:
            return "extract"
        case .tooFewWords, .tooManyWords, .meanWordLength, .symbolRatio, .bulletLines, .ellipsisLines, .alphabeticWords, .stopWords:
            return "gopher-quality"
        case .duplicateParagraphFraction, .duplicateParagraphCharacterFraction, .duplicateLineFraction, .duplicateLineCharacterFraction,
             .top2Gram, .top3Gram, .top4Gram, .duplicated5NGrams, .duplicated6NGrams, .duplicated7NGrams, .duplicated8NGrams,
             .duplicated9NGrams, .duplicated10NGrams:
            return "gopher-repetition"
        case .linePunctuationRatio, .shortLineRatio, .characterDuplicateRatio, .listRatio:
            return "fineweb"
        case .loremIpsum, .curlyBracket, .tooFewSentences:
            return "c4"
        case .exactDuplicate, .nearDuplicate:
            return "dedup"
        case .contaminated:
            return "decontaminate"
        case .qualityModel:
            return "quality-model"
        case .blockedDomain, .blockedSubdomain, .blockedURL, .bannedWord, .softBannedWords, .bannedSubword:
            return "url-blocklist"
        case .language:
            return "language"
        case .otherPart:
            return "part"
        }
    }
}
