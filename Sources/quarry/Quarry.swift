import ArgumentParser

@main
struct Quarry: ParsableCommand {
    /// `--lang-model` may stand alone (the default model); the parser wants a value, so a bare
    /// one is given the empty value here (`--lang-model=`).
    static func main() {
        main(LanguageModelArgument.givingBareOnesTheDefault(Array(CommandLine.arguments.dropFirst())))
    }

    static let configuration = CommandConfiguration(
        commandName: "quarry",
        abstract: "From raw text dumps to a trained language model, in one binary.",
        discussion: """
        The pipeline: extract clean documents from Wikipedia dumps, web pages and WARC \
        archives; train a tokenizer and ingest documents into token shards; label a \
        fine-tuning set at the terminal; pre-train a GPT-2, fine-tune it, evaluate, generate.

        Example, end to end:
          quarry extract dump.xml.bz2 --out docs.jsonl
          quarry tokenizer train docs.jsonl --vocab-size 8192 --out tokenizer.json
          quarry ingest dump.xml.bz2 --tokenizer tokenizer.json --val-fraction 0.01 --out shards/
          quarry pretrain --data shards/ --out run1 --preset tiny --steps 2000
          quarry task create topics --labels a,b,c && quarry import topics items.jsonl && quarry tag topics
          quarry export topics --format jsonl --split train=0.8,dev=0.1,test=0.1 --out data/
          quarry finetune --from run1 --train data/train.jsonl --dev data/dev.jsonl --out run2
          quarry eval --model run2 --data data/test.jsonl
          quarry generate --model run1 --prompt "The quarry" --max-tokens 60

        Or start from a pre-trained Llama-family model (GGUF, a Hugging Face directory, or \
        ORG/NAME in the Hugging Face cache):
          quarry generate --model SmolLM2-135M-Instruct.Q4_1.gguf --chat --prompt "Hello" --temperature 0
          quarry convert SmolLM2-135M-Instruct.Q4_1.gguf --to hf --out smollm2/

        Every stage on the built-in samples, in about a minute: scripts/demo
        """,
        version: "0.1.0",
        groupedSubcommands: [
            CommandGroup(name: "Data", subcommands: [Extract.self, Language.self, Filter.self, TokenizerCommand.self, Ingest.self, Shards.self]),
            CommandGroup(name: "Labelling", subcommands: [TaskCommand.self, Import.self, Tag.self, Review.self, Stats.self,
                                                          Export.self, Predictions.self]),
            CommandGroup(name: "Training", subcommands: [Pretrain.self, Finetune.self, Eval.self, Generate.self, Pull.self, Convert.self, Logits.self, Gradients.self, ModelSpeed.self]),
        ]
    )
}
