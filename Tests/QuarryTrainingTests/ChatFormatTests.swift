import Foundation
import Testing
@testable import QuarryTraining

struct ChatFormatTests {
    /// SmolLM2-135M-Instruct's template, as its GGUF and tokenizer_config.json carry it.
    static let smolLM2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

    /// Expected text: transformers' `apply_chat_template(…, add_generation_prompt=True)`.
    @Test func chatMLWithTheTemplatesDefaultSystemTurn() throws {
        let format = try #require(ChatFormat.recognise(template: Self.smolLM2))
        #expect(format == .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        #expect(format.prompt(user: "What is the capital of France?", system: nil)
                == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
        #expect(format.prompt(user: "Hi", system: "Be brief.") == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(format.endOfTurnToken == "<|im_end|>")
    }

    /// A template whose only system turn is built from the message has no default.
    @Test func aSystemTurnFromTheMessageIsNoDefault() {
        let plain = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}{% endfor %}"
        #expect(ChatFormat.recognise(template: plain) == .chatML(defaultSystem: nil))
        #expect(ChatFormat.recognise(template: "{{ bos_token }}[INST] {{ message }} [/INST]") == nil)
    }

    /// Llama 3.0's template (no system preamble) and a 3.1-style one (a dated system turn always),
    /// written in Meta's form. Expected text: transformers' `render_jinja_template` of each
    /// (bos_token "<|begin_of_text|>", add_generation_prompt), 2026-12-07.
    static let llama30 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    static let llama31 = "{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n{%- endif %}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}"

    @Test func llama3HeadersAsTransformersRendersThem() throws {
        let old = try #require(ChatFormat.recognise(template: Self.llama30))
        #expect(old == .llama3(knowledgePreamble: nil))
        #expect(old.prompt(user: " Hi there \n", system: nil)
                == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        #expect(old.prompt(user: "Hi", system: "Be brief. ")
                == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        let dated = try #require(ChatFormat.recognise(template: Self.llama31))
        #expect(dated.prompt(user: " Hi there \n", system: nil)
                == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        #expect(dated.prompt(user: "Hi", system: "Be brief. ")
                == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        #expect(dated.endOfTurnToken == "<|eot_id|>")
        // Llama 3.2's templates ask the renderer for today's date (transformers' strftime_now).
        let today = ChatFormat.llama3KnowledgePreamble(Self.llama31.replacingOccurrences(of: "if not date_string is defined", with: "if strftime_now is defined"),
                                                       today: Date(timeIntervalSince1970: 1_796_644_800))  // 2026-12-07 12:00 UTC
        #expect(today == "Cutting Knowledge Date: December 2023\nToday Date: 07 Dec 2026\n\n")
    }

    /// sft's pieces of a whole conversation: joined, transformers' rendering of it (no generation
    /// prompt) with the same templates; trained, exactly the assistant's words and its end of turn.
    @Test func aConversationIsTrainedOnTheAssistantsTurnOnly() throws {
        let messages = [ChatMessage(role: .user, content: "What is 2+2?"), ChatMessage(role: .assistant, content: "4.")]
        let chatML = try #require(ChatFormat.recognise(template: Self.smolLM2)).segments(messages)
        #expect(chatML.map(\.text).joined()
                == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4.<|im_end|>\n")
        #expect(chatML.filter(\.trained).map(\.text) == ["4.", "<|im_end|>"])
        let llama = try #require(ChatFormat.recognise(template: Self.llama31)).segments([ChatMessage(role: .system, content: "Be brief.")] + messages)
        #expect(llama.map(\.text).joined()
                == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n4.<|eot_id|>")
        #expect(llama.filter(\.trained).map(\.text) == ["4.", "<|eot_id|>"])
        // The prompt generate --chat writes is the same text up to where the answer begins.
        let format = try #require(ChatFormat.recognise(template: Self.smolLM2))
        #expect(chatML.map(\.text).joined().hasPrefix(format.prompt(user: "What is 2+2?", system: nil)))
    }
}
