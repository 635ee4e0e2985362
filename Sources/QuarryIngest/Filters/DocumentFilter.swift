import QuarryCore

/// One step of cleaning, as datatrove's filters are: it keeps a document (possibly with its text
/// edited, as C4's line rules do) or drops it and says why, with the statistic that decided.
public protocol DocumentFilter: Sendable {
    /// `language`: the identified language (nil: not identified).
    func apply(_ text: String, language: String?) -> FilterOutcome
}

public enum FilterOutcome: Sendable, Equatable {
    /// Kept; `text` is the edited text when the filter changed it.
    case keep(text: String?)
    /// Dropped for `reason`; `value` is the statistic that crossed its threshold.
    case drop(DropReason, value: Double)

    public static let kept = FilterOutcome.keep(text: nil)

    public var dropReason: DropReason? {
        if case .drop(let reason, _) = self { return reason }
        return nil
    }
}

/// The filters `--filters` names, in the order they run.
public struct FilterChain: Sendable {
    public enum Name: String, CaseIterable, Sendable {
        case gopherQuality = "gopher-quality"
        case gopherRepetition = "gopher-repetition"
        case fineweb = "fineweb"
        case c4 = "c4"
    }

    public private(set) var names: [Name]
    public var quality = QualityFilter()
    public var repetition = RepetitionFilter()
    public var fineweb = FineWebQualityFilter()
    public var c4 = C4Filter()
    /// `--url-blocklist`: run first, on the document's URL (documents without one pass).
    public var urlBlocklist: URLBlocklist? = nil
    /// `--quality-model`: run after the named filters, on the text they leave.
    public var qualityModel: QualityModelFilter? = nil
    /// `--decontaminate`: run after the named filters, on the text they leave.
    public var decontaminator: Decontaminator? = nil

    public init(names: [Name]) { self.names = names }

    /// "gopher-quality,c4" → the chain; an unknown name is refused with the known ones.
    public init(parsing list: String) throws {
        var names: [Name] = []
        for part in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let name = Name(rawValue: part) else {
                throw QuarryError("unknown filter '\(part)': the filters are \(Name.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !names.contains(name) { names.append(name) }
        }
        self.names = names
    }

    /// Runs the filters in order; an edited text goes on to the next one.
    public func apply(_ text: String, language: String?, url: String? = nil) -> FilterOutcome {
        if let urlBlocklist, let url, let reason = urlBlocklist.reason(for: url) { return .drop(reason, value: 1) }
        var current = text
        var edited = false
        for name in names {
            let outcome: FilterOutcome
            switch name {
            case .gopherQuality: outcome = quality.check(current, language: language).map { .drop($0, value: 0) } ?? .kept
            case .gopherRepetition: outcome = repetition.apply(current, language: language)
            case .fineweb: outcome = fineweb.apply(current, language: language)
            case .c4: outcome = c4.apply(current, language: language)
            }
            switch outcome {
            case .drop: return outcome
            case .keep(let text?): current = text; edited = true
            case .keep(nil): break
            }
        }
        if let qualityModel, case .drop(let reason, let value) = qualityModel.apply(current, language: language) {
            return .drop(reason, value: value)
        }
        if let decontaminator, case .drop(let reason, let value) = decontaminator.apply(current, language: language) {
            return .drop(reason, value: value)
        }
        return .keep(text: edited ? current : nil)
    }
}
