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
}
