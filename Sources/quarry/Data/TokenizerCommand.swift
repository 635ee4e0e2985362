import ArgumentParser

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train, encode and decode with a byte-level BPE tokenizer (Hugging Face tokenizer.json).",
        discussion: """
        Examples:
          quarry tokenizer train docs.jsonl --vocab-size 8192 --out tokenizer.json
          quarry tokenizer encode --tokenizer tokenizer.json docs.jsonl > ids.txt
          quarry tokenizer decode --tokenizer tokenizer.json ids.txt
        """,
        subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self]
    )
}
