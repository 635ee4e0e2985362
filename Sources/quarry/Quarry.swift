import ArgumentParser

@main
struct Quarry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarry",
        abstract: "From raw text dumps to a trained language model, in one binary.",
        discussion: """
        Stages: extract clean documents from Wikipedia dumps, web pages and WARC archives; \
        (next) tokenize into shards, tag a fine-tuning set, train.

        Example:
          quarry extract samples/ --out docs.jsonl
        """,
        version: "0.1.0",
        subcommands: [Extract.self, TokenizerCommand.self, Ingest.self, Shards.self, TaskCommand.self, Import.self, Tag.self, Review.self, Stats.self, Export.self, Predictions.self, Pretrain.self, Finetune.self, Eval.self, Generate.self, Logits.self, Gradients.self]
    )
}
