import Foundation
import QuarryCore

/// The `quarry tag` loop: shows an example, takes one answer, commits it, shows the next.
/// On a terminal it reads single keystrokes (hotkeys answer at once); without one (stdin is a
/// pipe) it reads one answer per line, so sessions can be scripted and tested:
/// a label name or hotkey (`a,b` for multi-label), `0-2:label 5-6:label` for spans, the
/// response text for response tasks, or `s` (skip), `u` (undo), `q` (quit); an empty line
/// accepts the model's suggestion.
public final class TaggingLoop {
    let session: TaggingSession
    let terminal: RawTerminal?
    var task: LabelTask { session.task.task }
    var message = ""
    var scroll = 0
    /// Seconds from each answer's keystroke to the next example being ready (for benchmarks).
    public private(set) var latencies: [Double] = []

    public init(session: TaggingSession, interactive: Bool) {
        self.session = session
        terminal = interactive ? RawTerminal() : nil
    }

    /// Runs until the examples run out or the annotator quits; returns the answers given.
    public func run() throws -> Int {
        defer { session.finish() }
        var current = try session.next()
        while let example = current {
            let action = terminal != nil ? try readInteractive(example) : try readLine(example)
            switch action {
            case .quit:
                return session.answeredThisSession
            case .skip:
                session.skip(example)
                current = try session.next()
            case .undo:
                if let previous = try session.undo() { current = previous } else { message = "nothing to undo" }
            case .answer(let answer):
                do {
                    let keystroke = DispatchTime.now().uptimeNanoseconds
                    try session.answer(example, with: answer)
                    message = ""
                    scroll = 0
                    current = try session.next()
                    latencies.append(Double(DispatchTime.now().uptimeNanoseconds - keystroke) / 1e9)
                } catch let error as QuarryError {
                    message = error.message
                    if terminal == nil { FileHandle.standardError.write(Data("quarry: \(error.message)\n".utf8)) }
                }
            case .none:
                continue
            }
        }
        if let terminal {
            terminal.write("\u{1B}[H\u{1B}[2J")
            terminal.write("All \(session.total) examples of \"\(SafeText.line(task.name))\" are answered by \(SafeText.line(session.annotator)). Press any key.")
            _ = terminal.readKey()
        }
        return session.answeredThisSession
    }

    enum Action { case answer(Answer), skip, undo, quit, none }

    // MARK: - Lines (no terminal)

    func readLine(_ example: TaggingSession.Example) throws -> Action {
        let preview = SafeText.visible(example.text).replacingOccurrences(of: "\n", with: " ")
        let suggested = example.suggestion.map { " [suggested: \($0.label) \(String(format: "%.0f", $0.confidence * 100))%]" } ?? ""
        print("[\(session.done + 1)/\(session.total)] #\(example.position): \(preview.prefix(200))\(suggested)")
        guard let line = Swift.readLine(strippingNewline: true) else { return .quit }
        let input = line.trimmingCharacters(in: .whitespaces)
        switch input {
        case "q": return .quit
        case "s": return .skip
        case "u": return .undo
        case "":
            if let suggestion = example.suggestion { return .answer(.label(suggestion.label)) }
            return .skip
        default:
            if let answer = task.answer(typed: input) { return .answer(answer) }
            FileHandle.standardError.write(Data("quarry: \"\(SafeText.line(input))\" is not an answer for this task (labels: \(SafeText.line(task.labels.joined(separator: ", "))))\n".utf8))
            return .none
        }
    }

    // MARK: - Keystrokes (terminal)

    func readInteractive(_ example: TaggingSession.Example) throws -> Action {
        guard let terminal else { return .quit }
        var chosen: [String] = []
        while true {
            draw(example, chosen: chosen)
            guard let key = terminal.readKey() else { return .quit }
            switch key {
            case "q": return .quit
            case "s": return .skip
            case "u": return .undo
            case "?": message = "keys: label hotkeys answer · enter/space accept the suggestion (multi-label: submit) · s skip · u undo · < > scroll · q quit"
            case ">", "down": scroll += 5
            case "<", "up": scroll = max(0, scroll - 5)
            case "enter", " ":
                if task.multiLabel && !chosen.isEmpty { return .answer(.labels(chosen)) }
                if let suggestion = example.suggestion { return .answer(.label(suggestion.label)) }
                if task.kind == .span || task.kind == .response { return try typedAnswer(example) }
                message = "no suggestion to accept: press a label's key"
            default:
                if task.kind == .span || task.kind == .response {
                    if key == "e" || key == "r" { return try typedAnswer(example) }
                    message = "press enter to type the answer"
                    continue
                }
                guard let name = task.label(typed: key) else { message = "\"\(key)\" is not a key here (? for help)"; continue }
                if task.multiLabel {
                    if let i = chosen.firstIndex(of: name) { chosen.remove(at: i) } else { chosen.append(name) }
                } else {
                    return .answer(.label(name))
                }
            }
        }
    }

    func typedAnswer(_ example: TaggingSession.Example) throws -> Action {
        guard let terminal else { return .quit }
        if task.kind == .response, let editor = ProcessInfo.processInfo.environment["EDITOR"], !editor.isEmpty {
            let path = NSTemporaryDirectory() + "quarry-response-\(getpid()).txt"
            _ = FileManager.default.createFile(atPath: path, contents: Data())  // opening it below reports a failure
            defer { try? FileManager.default.removeItem(atPath: path) }
            RawTerminal.restore()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "\(editor) \"$1\"", "sh", path]
            try process.run()
            process.waitUntilExit()
            _ = RawTerminal()
            let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return text.isEmpty ? .none : .answer(.response(text))
        }
        let prompt = task.kind == .span ? "spans (e.g. 0-2:\(SafeText.line(task.labels[0])) 5:\(SafeText.line(task.labels[0])), - for none): " : "response: "
        guard let line = terminal.readLine(prompt: prompt) else { return .quit }
        if let answer = task.answer(typed: line.trimmingCharacters(in: .whitespaces)) { return .answer(answer) }
        message = "could not read that answer"
        return .none
    }

    func draw(_ example: TaggingSession.Example, chosen: [String]) {
        guard let terminal else { return }
        let (columns, rows) = terminal.size
        var screen = "\u{1B}[H\u{1B}[2J"
        let elapsed = Date().timeIntervalSince(session.started)
        let rate = elapsed > 1 ? Double(session.answeredThisSession) / elapsed * 3600 : 0
        let percent = session.total > 0 ? 100 * Double(session.done) / Double(session.total) : 0
        screen += "\u{1B}[1m\(SafeText.line(task.name))\u{1B}[0m  \(session.done)/\(session.total) (\(String(format: "%.1f", percent))%)"
        screen += "  · \(String(format: "%.0f", rate))/h · session \(ProgressLine.formatDuration(elapsed)) · \(SafeText.line(session.annotator))\n"
        if !task.instructions.isEmpty { screen += "\u{1B}[2m" + SafeText.visible(task.instructions).prefix(columns) + "\u{1B}[0m\n" }
        screen += String(repeating: "─", count: min(columns, 80)) + "\n"
        var body = SafeText.visible(example.text)
        if task.kind == .span {
            body = SpanTokens.tokens(of: example.text).enumerated().map { "\($0.offset):\(SafeText.visible(String($0.element)))" }.joined(separator: " ")
        }
        let lines = SafeText.wrap(body, width: columns - 1)
        let room = max(3, rows - 9)
        let start = min(scroll, max(0, lines.count - room))
        for line in lines[start..<min(lines.count, start + room)] { screen += line + "\n" }
        if lines.count > start + room { screen += "\u{1B}[2m… \(lines.count - start - room) more lines (> to scroll)\u{1B}[0m\n" }
        screen += String(repeating: "─", count: min(columns, 80)) + "\n"
        if let suggestion = example.suggestion {
            screen += "model suggests \u{1B}[1m\(SafeText.line(suggestion.label))\u{1B}[0m (\(String(format: "%.0f", suggestion.confidence * 100))%): enter accepts\n"
        }
        if task.kind == .classify {
            screen += task.labels.enumerated().map { i, name in
                let mark = chosen.contains(name) ? "\u{1B}[7m" : ""
                return "\(mark)[\(task.hotkey(for: i))] \(SafeText.visible(name))\u{1B}[0m"
            }.joined(separator: "  ") + "\n"
        } else {
            screen += "enter: type the \(task.kind == .span ? "spans" : "response")\n"
        }
        screen += "\u{1B}[2ms skip · u undo · ? help · q quit\u{1B}[0m\n"
        if !message.isEmpty { screen += "\u{1B}[33m\(message)\u{1B}[0m\n" }
        terminal.write(screen)
    }
}
