import ArgumentParser

struct Predictions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a model's predictions for suggestions and --order uncertain.",
        discussion: """
        Examples:
          quarry predictions compute sections --run run2
          quarry predictions import sections --model other-model predictions.jsonl
        """,
        subcommands: [PredictionsImport.self, PredictionsCompute.self]
    )
}
