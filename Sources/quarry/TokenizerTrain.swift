import ArgumentParser
import Foundation
import QuarryCore
import QuarryTokenizer

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a byte-level BPE tokenizer (not yet available).")
    func run() throws { throw ValidationError("not yet implemented") }
}
