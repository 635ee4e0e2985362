import Foundation
import GRDB
import QuarryCore

/// `quarry stats`: counts per label and annotator, progress, and agreement.
public struct TaskStatistics: Codable, Sendable {
    public struct AnnotatorCounts: Codable, Sendable {
        public var annotator: String
        public var answered: Int
        public var labels: [String: Int]
    }

    public struct AgreementFigure: Codable, Sendable {
        public var method: String          // "cohens_kappa" or "krippendorffs_alpha"
        public var value: Double?
        public var annotators: [String]
        public var items: Int              // items answered by at least two of them
    }

    public var task: String
    public var kind: String
    public var examples: Int
    public var annotated: Int               // by at least one annotator
    public var adjudicated: Int
    public var disagreements: Int           // items with differing answers and no adjudication
    public var labels: [String: Int]        // over all answers
    public var annotators: [AnnotatorCounts]
    public var agreement: AgreementFigure?

    public static func compute(store: LabelStore, task: LabelStore.StoredTask) throws -> TaskStatistics {
        try store.read { db in
            let id = task.id
            let examples = try Int.fetchOne(db, sql: "SELECT count(*) FROM example WHERE task_id = ?", arguments: [id]) ?? 0
            let annotated = try Int.fetchOne(db, sql: "SELECT count(DISTINCT example_id) FROM annotation WHERE task_id = ?", arguments: [id]) ?? 0
            let adjudicated = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM adjudication j JOIN example e ON e.id = j.example_id WHERE e.task_id = ?
                """, arguments: [id]) ?? 0
            // Items answered more than once (the only ones that can disagree), from the covering index.
            let multiple = try Int64.fetchAll(db, sql: """
                SELECT example_id FROM annotation WHERE task_id = ? GROUP BY example_id HAVING count(*) > 1
                """, arguments: [id])
            var disagreements = 0
            // Labels: the `label` column for single-label answers; JSON only for multi-label and spans.
            var labelRows = try Row.fetchAll(db, sql: """
                SELECT annotator, label, count(*) AS n FROM annotation WHERE task_id = ? AND label IS NOT NULL GROUP BY annotator, label
                """, arguments: [id])
            if task.task.multiLabel || task.task.kind == .span {
                labelRows += try Row.fetchAll(db, sql: """
                    SELECT a.annotator AS annotator, coalesce(j.value ->> '$.label', j.value) AS label, count(*) AS n
                    FROM annotation a, json_each(a.answer, CASE WHEN json_type(a.answer, '$.labels') IS NOT NULL THEN '$.labels' ELSE '$.spans' END) j
                    WHERE a.task_id = ? AND a.label IS NULL GROUP BY a.annotator, label
                    """, arguments: [id])
            }
            let answeredRows = try Row.fetchAll(db, sql: """
                SELECT annotator, count(*) AS n FROM annotation WHERE task_id = ? GROUP BY annotator ORDER BY annotator
                """, arguments: [id])
            var perAnnotator: [String: AnnotatorCounts] = [:]
            for row in answeredRows {
                let name: String = row["annotator"]
                perAnnotator[name] = AnnotatorCounts(annotator: name, answered: row["n"], labels: [:])
            }
            var labels: [String: Int] = [:]
            for row in labelRows {
                guard let label: String = row["label"] else { continue }
                let name: String = row["annotator"], n: Int = row["n"]
                perAnnotator[name]?.labels[label, default: 0] += n
                labels[label, default: 0] += n
            }
            let names = perAnnotator.keys.sorted()
            var agreement: AgreementFigure?
            if names.count >= 2 || !multiple.isEmpty {
                // Units: the answers (canonical JSON) of every item answered by two or more annotators.
                var units: [[String]] = []
                var pairs: [(String, String)] = []
                let answersOf = try db.cachedStatement(sql: "SELECT annotator, answer FROM annotation WHERE task_id = ? AND example_id = ?")
                let adjudicatedItem = try db.cachedStatement(sql: "SELECT 1 FROM adjudication WHERE example_id = ?")
                for item in multiple {
                    let unit = try Row.fetchAll(answersOf, arguments: [id, item]).map { ($0["annotator"] as String, $0["answer"] as String) }
                    guard unit.count >= 2 else { continue }
                    if Set(unit.map(\.1)).count > 1, try Int.fetchOne(adjudicatedItem, arguments: [item]) == nil { disagreements += 1 }
                    units.append(unit.map(\.1))
                    if names.count == 2, let a = unit.first(where: { $0.0 == names[0] }), let b = unit.first(where: { $0.0 == names[1] }) {
                        pairs.append((a.1, b.1))
                    }
                }
                if names.count == 2 {
                    agreement = AgreementFigure(method: "cohens_kappa", value: Agreement.cohensKappa(pairs), annotators: names, items: pairs.count)
                } else if names.count > 2 {
                    agreement = AgreementFigure(method: "krippendorffs_alpha", value: Agreement.krippendorffsAlpha(units), annotators: names, items: units.count)
                }
            }
            return TaskStatistics(task: task.task.name, kind: task.task.kind.rawValue, examples: examples, annotated: annotated,
                                  adjudicated: adjudicated, disagreements: disagreements, labels: labels,
                                  annotators: names.compactMap { perAnnotator[$0] }, agreement: agreement)
        }
    }

    public func table() -> String {
        var out = "task \(task) (\(kind)): \(examples) examples, \(annotated) annotated"
        if examples > 0 { out += String(format: " (%.1f%%)", 100 * Double(annotated) / Double(examples)) }
        out += ", \(adjudicated) adjudicated, \(disagreements) open disagreements\n"
        let labelNames = labels.keys.sorted()
        if !labelNames.isEmpty {
            let width = max(9, (annotators.map(\.annotator.count).max() ?? 0) + 1)
            out += "annotator".padding(toLength: width, withPad: " ", startingAt: 0) + "  answered  " + labelNames.joined(separator: "  ") + "\n"
            for a in annotators {
                out += a.annotator.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(a.answered).leftPadded(8) + "  "
                out += labelNames.map { String(a.labels[$0] ?? 0).leftPadded($0.count) }.joined(separator: "  ") + "\n"
            }
        }
        if let agreement {
            let name = agreement.method == "cohens_kappa" ? "Cohen's kappa" : "Krippendorff's alpha (nominal)"
            let value = agreement.value.map { String(format: "%.3f", $0) } ?? "n/a"
            out += "agreement: \(name) = \(value) over \(agreement.items) items (\(agreement.annotators.joined(separator: ", ")))\n"
        }
        return SafeText.visible(out)   // names and labels come from the database
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
