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

    /// The family of `template`, or nil when it is not one quarry knows.
    public static func recognise(template: String) -> ChatFormat? {
        if template.contains("<|im_start|>") { return .chatML(defaultSystem: chatMLDefaultSystem(template)) }
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
        }
    }

    /// The token that ends the assistant's turn, when the format has one.
    public var endOfTurnToken: String? {
        switch self {
        case .quarry: return nil
        case .chatML: return "<|im_end|>"
        }
    }

    /// Text that, once generated, means the model has run on past its answer.
    public var stops: [String] {
        switch self {
        case .quarry: return [ChatTemplate.nextUserTurn]
        case .chatML: return ["<|im_end|>", "<|im_start|>"]
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
}
