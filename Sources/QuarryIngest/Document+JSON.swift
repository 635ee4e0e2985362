import Foundation
import QuarryCore

/// Serialises documents as JSON Lines, one object per line, keys in a fixed order so output is
/// byte-for-byte reproducible.
public enum DocumentJSON {
    /// `rejection`: a dropped document (`ingest --rejected`) also says the filter that dropped it,
    /// the reason and the statistic that decided, when there is one.
    public static func line(_ doc: Document, rejection: (reason: DropReason, value: Double?)? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(doc.text.utf8.count + 128)
        out.append(contentsOf: Array(#"{"id":"#.utf8))
        JSONText.appendString(doc.id, to: &out)
        out.append(contentsOf: Array(#","source":"#.utf8))
        JSONText.appendString(doc.source, to: &out)
        if let title = doc.title {
            out.append(contentsOf: Array(#","title":"#.utf8))
            JSONText.appendString(title, to: &out)
        }
        if let url = doc.url {
            out.append(contentsOf: Array(#","url":"#.utf8))
            JSONText.appendString(url, to: &out)
        }
        if let language = doc.language, let score = doc.languageScore {
            out.append(contentsOf: Array(#","language":"#.utf8))
            JSONText.appendString(language, to: &out)
            // The float's shortest decimal (0.9746555, not 0.9746555089950562): what was computed, no more.
            out.append(contentsOf: Array(",\"language_score\":\(score.isFinite ? score : 0)".utf8))
        }
        out.append(contentsOf: Array(#","text":"#.utf8))
        JSONText.appendString(doc.text, to: &out)
        if let (reason, value) = rejection {
            out.append(contentsOf: Array(#","filter":"#.utf8))
            JSONText.appendString(reason.filter, to: &out)
            out.append(contentsOf: Array(#","filter_reason":"#.utf8))
            JSONText.appendString(reason.rawValue, to: &out)
            if let value, value.isFinite { out.append(contentsOf: Array(",\"value\":\(JSONValue.number(value).serialized)".utf8)) }
        }
        out.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        return out
    }
}
