import Foundation

/// How a model expects a conversation, recognised from its chat template (a Jinja text in
/// `tokenizer_config.json` or a GGUF's `tokenizer.chat_template`) by family, without a Jinja
/// interpreter: what matters is the markers each family's template writes around a turn.
public enum ChatFormat: Equatable, Sendable {
    /// quarry's own `finetune --task sft` template (`User: …\n\nAssistant: `).
    case quarry
    /// ChatML (SmolLM2, Qwen2): `<|im_start|>ROLE\nTEXT<|im_end|>\n`. Some templates add a
    /// system turn of their own when the conversation has none.
    case chatML(defaultSystem: String?)
    /// Llama 3's header format: `<|start_header_id|>ROLE<|end_header_id|>\n\nTEXT<|eot_id|>` after
    /// `<|begin_of_text|>`, contents trimmed. Llama 3.1 and later always open with a system turn
    /// that dates the model (`knowledgePreamble`: "Cutting Knowledge Date: …\nToday Date: …\n\n").
    case llama3(knowledgePreamble: String?)

    /// The family of `template`, or nil when it is not one quarry knows.
    public static func recognise(template: String) -> ChatFormat? {
        if template.contains("<|im_start|>") { return .chatML(defaultSystem: chatMLDefaultSystem(template)) }
        if template.contains("<|start_header_id|>") && template.contains("<|eot_id|>") {
            return .llama3(knowledgePreamble: llama3KnowledgePreamble(template))
        }
        return nil
    }

    /// The prompt for one user message, ending where the assistant's answer begins.
    public func prompt(user: String, system: String?) -> String {
        switch self {
        case .quarry:
            return ChatTemplate.prompt(user: user, system: system)
        case .chatML(let defaultSystem):
            var text = ""
            if let system = system ?? defaultSystem { text += "<|im_start|>system\n\(system)<|im_end|>\n" }
            return text + "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
        case .llama3(let preamble):
            func turn(_ role: String, _ content: String) -> String {
                "<|start_header_id|>\(role)<|end_header_id|>\n\n\(content.trimmingCharacters(in: .whitespacesAndNewlines))<|eot_id|>"
            }
            var text = "<|begin_of_text|>"
            if let preamble {
                // 3.1+: the system turn is always there, the preamble first (not trimmed away).
                text += "<|start_header_id|>system<|end_header_id|>\n\n" + preamble
                    + (system?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") + "<|eot_id|>"
            } else if let system {
                text += turn("system", system)
            }
            return text + turn("user", user) + "<|start_header_id|>assistant<|end_header_id|>\n\n"
        }
    }

    /// A conversation as the format writes it, in pieces, each marked trained or not: only the
    /// assistant's words and the end of its turn are trained (the model learns to answer, and to
    /// stop); headers, system and user turns are context. `prompt(user:system:)` is the same
    /// text for one user turn, up to where the answer begins. (quarry's own format:
    /// `ChatTemplate.segments`, the end-of-text token appended by `ChatExample`.)
    public func segments(_ messages: [ChatMessage]) -> [(text: String, trained: Bool)] {
        switch self {
        case .quarry:
            return ChatTemplate.segments(messages)
        case .chatML(let defaultSystem):
            var out: [(String, Bool)] = []
            if messages.first?.role != .system, let defaultSystem { out.append(("<|im_start|>system\n\(defaultSystem)<|im_end|>\n", false)) }
            for message in messages {
                let answer = message.role == .assistant
                out += [("<|im_start|>\(message.role.rawValue)\n", false), (message.content, answer), ("<|im_end|>", answer), ("\n", false)]
            }
            return out
        case .llama3(let preamble):
            var out: [(String, Bool)] = [("<|begin_of_text|>", false)]
            var rest = messages[...]
            let system = rest.first?.role == .system ? rest.removeFirst().content.trimmingCharacters(in: .whitespacesAndNewlines) : nil
            if let preamble {
                out.append(("<|start_header_id|>system<|end_header_id|>\n\n" + preamble + (system ?? "") + "<|eot_id|>", false))
            } else if let system {
                out.append(("<|start_header_id|>system<|end_header_id|>\n\n\(system)<|eot_id|>", false))
            }
            for message in rest {
                let answer = message.role == .assistant
                out += [("<|start_header_id|>\(message.role.rawValue)<|end_header_id|>\n\n", false),
                        (message.content.trimmingCharacters(in: .whitespacesAndNewlines), answer), ("<|eot_id|>", answer)]
            }
            return out
        }
    }

    /// The token that ends the assistant's turn, when the format has one.
    public var endOfTurnToken: String? {
        switch self {
        case .quarry: return nil
        case .chatML: return "<|im_end|>"
        case .llama3: return "<|eot_id|>"
        }
    }

    /// Text that, once generated, means the model has run on past its answer.
    public var stops: [String] {
        switch self {
        case .quarry: return [ChatTemplate.nextUserTurn]
        case .chatML: return ["<|im_end|>", "<|im_start|>"]
        case .llama3: return ["<|eot_id|>", "<|start_header_id|>", "<|end_of_text|>"]
        }
    }

    /// A system turn written out literally in the template (`'<|im_start|>system\nYou are …<|im_end|>\n'`),
    /// which the template emits when the conversation brings none. A system turn built from a
    /// message's content (`… + message['content'] + …`) is not a default and is skipped.
    static func chatMLDefaultSystem(_ template: String) -> String? {
        let opening = "<|im_start|>system"
        var rest = template[...]
        while let start = rest.range(of: opening) {
            rest = rest[start.upperBound...]
            var body = rest
            if body.hasPrefix("\\n") { body = body.dropFirst(2) } else if body.hasPrefix("\n") { body = body.dropFirst() } else { continue }
            guard let end = body.range(of: "<|im_end|>") else { break }
            let text = body[..<end.lowerBound]
            if text.isEmpty || text.contains("'") || text.contains("\"") || text.contains("{") || text.contains("+") { continue }
            return text.replacingOccurrences(of: "\\n", with: "\n")
        }
        return nil
    }

    /// Llama 3.1+'s dated system preamble, when the template writes one: the knowledge cutoff
    /// as written, and the date the template falls back to (`date_string`, "26 Jul 2024" in
    /// Meta's) — or today's when the template asks the renderer for it (`strftime_now`, which
    /// transformers provides), as transformers renders it.
    static func llama3KnowledgePreamble(_ template: String, today: Date = Date()) -> String? {
        guard let cutoff = template.range(of: "Cutting Knowledge Date: ") else { return nil }
        let knowledge = template[cutoff.upperBound...].prefix { $0 != "\\" && $0 != "\n" && $0 != "\"" && $0 != "'" }
        var date = "26 Jul 2024"
        if template.contains("strftime_now") {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "dd MMM yyyy"
            date = formatter.string(from: today)
        } else if let set = template.range(of: "set date_string = \"") {
            let value = template[set.upperBound...].prefix { $0 != "\"" }
            if !value.isEmpty { date = String(value) }
        }
        return "Cutting Knowledge Date: \(knowledge)\nToday Date: \(date)\n\n"
    }
}
