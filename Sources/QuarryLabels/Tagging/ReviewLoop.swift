import Foundation
import QuarryCore

/// `quarry review` at the terminal (or over a pipe: it reads whole lines): each disagreement's
/// text and answers, then the adjudicator's answer — a label or hotkey (a,b for multi-label), a
/// span list, a response — `s` to skip or `q` to quit.
public struct ReviewLoop {
    let queue: ReviewQueue
    let task: LabelTask
    let adjudicator: String
    /// Where a screen goes (standard output by default).
    public var show: (String) -> Void = { print($0) }
    /// Where the next typed line comes from (standard input by default); nil ends the review.
    public var nextLine: () -> String? = { readLine(strippingNewline: true) }
    /// Where a rejected answer is reported.
    public var warn: (String) -> Void = { _ in }

    public init(queue: ReviewQueue, task: LabelTask, adjudicator: String) {
        self.queue = queue
        self.task = task
        self.adjudicator = adjudicator
    }

    /// Runs until the disagreements are done or the adjudicator quits; returns the answers saved.
    public func run() throws -> Int {
        var done = 0
        let keys = task.labels.enumerated().map { "[\(LabelTask.hotkeys[$0.offset])] \(SafeText.line($0.element))" }.joined(separator: "  ")
        while let item = try queue.next() {
            show(String(repeating: "─", count: 60))
            show(String(SafeText.visible(item.text).prefix(1000)))
            for (annotator, answer) in item.answers { show("  \(SafeText.visible(annotator)): \(SafeText.visible(answer))") }
            show("labels: " + keys + "   s skip · q quit")
            guard let line = nextLine()?.trimmingCharacters(in: .whitespaces), line != "q" else { break }
            if line == "s" { queue.skip(item); continue }
            guard let answer = task.answer(typed: line) else {
                warn("\"\(SafeText.visible(line))\" is not an answer of this task; skipped")
                queue.skip(item)
                continue
            }
            try queue.adjudicate(item, answer: answer, adjudicator: adjudicator)
            done += 1
        }
        return done
    }
}
