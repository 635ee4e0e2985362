import Foundation
import QuarryCore

/// One chat message of a `quarry export --format chat` record.
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(role: Role, content: String) { self.role = role; self.content = content }
}

/// A chat rendered for a GPT-2-style base model, which knows no chat tokens: the system text,
/// then each turn as `User: …\n\nAssistant: …<|endoftext|>`. Only the assistant's words and the
/// end-of-text token after them are trained (the model learns to answer, and to stop); the
/// prompt is context. `quarry generate --chat` renders a question the same way.
public enum ChatTemplate {
    public static let userPrefix = "User: "
    public static let assistantPrefix = "\n\nAssistant: "
    /// Where a chat model that runs on past its answer starts the next user turn.
    public static var nextUserTurn: String { "\n\n" + userPrefix.trimmingCharacters(in: .whitespaces) }

    /// The text pieces of a chat and whether each is trained.
    public static func segments(_ messages: [ChatMessage]) -> [(text: String, trained: Bool)] {
        var out: [(String, Bool)] = []
        for message in messages {
            switch message.role {
            case .system: out.append((message.content + "\n\n", false))
            case .user: out.append((userPrefix + message.content + assistantPrefix, false))
            case .assistant: out.append((message.content, true))
            }
        }
        return out
    }

    /// The prompt `generate --chat` continues: a user turn waiting for the assistant.
    public static func prompt(user: String, system: String? = nil) -> String {
        segments((system.map { [ChatMessage(role: .system, content: $0)] } ?? []) + [ChatMessage(role: .user, content: user)])
            .map(\.text).joined()
    }
}

/// A tokenized chat: the ids and, for each, whether the loss counts it.
public struct ChatExample: Sendable {
    public var tokens: [Int32]
    public var trained: [Bool]

    /// Encodes a chat piece by piece (so the mask falls on token boundaries) in `format` (the
    /// model's own chat template; quarry's plain one appends the end-of-text token after every
    /// assistant message); cut to `limit` tokens. Nil when no trained token is left inside the limit.
    public init?(_ messages: [ChatMessage], encoder: some TokenEncoder, endOfText: Int32, limit: Int, format: ChatFormat = .quarry) {
        var tokens: [Int32] = [], trained: [Bool] = []
        let appendsEndOfText = format == .quarry
        for (text, isTrained) in format.segments(messages) {
            let ids = encoder.encode(text) + (isTrained && appendsEndOfText ? [endOfText] : [])
            tokens += ids
            trained += [Bool](repeating: isTrained, count: ids.count)
        }
        if tokens.count > limit {
            tokens.removeLast(tokens.count - limit)
            trained.removeLast(trained.count - limit)
        }
        // Position 0 is never a target: something after it must be trained.
        guard tokens.count >= 2, trained.dropFirst().contains(true) else { return nil }
        self.tokens = tokens
        self.trained = trained
    }

    /// Inputs (all tokens but the last) and their next-token targets: -1 (ignored) where the
    /// next token is prompt.
    var inputsAndTargets: (inputs: [Int32], targets: [Int32]) {
        let inputs = Array(tokens.dropLast())
        let targets = (0..<inputs.count).map { trained[$0 + 1] ? tokens[$0 + 1] : -1 }
        return (inputs, targets)
    }

    var trainedTargets: Int { trained.dropFirst().filter { $0 }.count }
}

/// Chat records for `finetune --task sft`, one per JSONL line:
/// - `{"messages": [{"role", "content"}, …]}` (`quarry export --format chat`);
/// - `{"text", "response"}` (a response task's `--format jsonl` export): one user turn and its answer;
/// - `{"text", "label"}` (a classify task's export; a list of labels is joined by ", ", as the chat
///   export writes it): the text as the user's turn, the label as the assistant's.
public enum ChatRecords {
    /// The messages of one record; throws a one-line error naming `place` when it holds no chat.
    public static func messages(of json: JSONValue, place: String) throws -> [ChatMessage] {
        var messages: [ChatMessage] = []
        if let list = json["messages"]?.array {
            for item in list {
                guard let roleName = item["role"]?.string, let role = ChatMessage.Role(rawValue: roleName),
                      let content = item["content"]?.string else {
                    throw QuarryError("\(place): each message needs a \"role\" (system, user or assistant) and a string \"content\"")
                }
                messages.append(ChatMessage(role: role, content: content))
            }
        } else if let text = json["text"]?.string, let answer = json["response"]?.string ?? json["label"]?.string
                    ?? json["label"]?.array?.compactMap(\.string).joined(separator: ", ") {
            messages = [ChatMessage(role: .user, content: text), ChatMessage(role: .assistant, content: answer)]
        } else {
            throw QuarryError("\(place): no \"messages\" list (or \"text\" with \"response\" or \"label\"): sft reads chat records, `quarry export --format chat`")
        }
        guard messages.contains(where: { $0.role == .assistant }) else {
            throw QuarryError("\(place): no assistant message: nothing to learn from this chat")
        }
        return messages
    }
}

/// Tokenized chats and their texts (what the held-out split groups by); chats with nothing to
/// train inside the context are counted, not kept.
public struct ChatExamples {
    public var examples: [ChatExample] = []
    public var texts: [String] = []
    public var tooLong = 0

    public init() {}

    public mutating func append(_ messages: [ChatMessage], encoder: some TokenEncoder, endOfText: Int32, limit: Int, format: ChatFormat = .quarry) {
        if let example = ChatExample(messages, encoder: encoder, endOfText: endOfText, limit: limit, format: format) {
            examples.append(example)
            texts.append(messages.map(\.content).joined(separator: "\n"))
        } else {
            tooLong += 1
        }
    }

    /// Every chat record of a JSONL file (`ChatRecords`).
    public static func read(_ path: String, encoder: some TokenEncoder, endOfText: Int32, limit: Int, format: ChatFormat = .quarry) throws -> ChatExamples {
        var chats = ChatExamples()
        try JSONLines.forEachRecord(in: path) { json, place in
            chats.append(try ChatRecords.messages(of: json, place: place), encoder: encoder, endOfText: endOfText, limit: limit, format: format)
        }
        return chats
    }
}
