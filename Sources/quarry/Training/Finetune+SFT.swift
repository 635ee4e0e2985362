import ArgumentParser
import Foundation
import QuarryCore
import QuarryPipeline
import QuarryTraining

/// `quarry finetune --task sft`, and `--merge` (both tasks).
extension Finetune {
    var sftOptions: SFTOptions {
        var options = SFTOptions()
        options.epochs = epochs
        options.batch = batch
        options.learningRate = lr ?? options.learningRate
        options.weightDecay = weightDecay
        options.patience = patience
        options.seed = seed
        options.groupByLength = groupByLength
        return options
    }

    /// `--task sft`: the assistant-only next-token loss on chat records; the result is a plain
    /// language model (what `generate --chat` and `transformers` load).
    func runSFT(_ start: StartingModel) throws {
        guard let endOfText = start.endOfText else {
            printError("error: the tokenizer has no <|endoftext|> token, which ends every assistant turn in sft")
            throw ExitCode(1)
        }
        if start.chatTemplateIsUnknown { printError("warning: \(from) has a chat template quarry does not know: training on the plain User:/Assistant: one") }
        let data = try runReporting { try source.chats(encoder: start.encoder, endOfText: endOfText, limit: start.model.contextLength, format: start.chatFormat) }
        for note in data.notes { printError(note) }
        try runReporting { try start.prepareOutput(out, refusingIfExists: lora == nil ? "model.safetensors" : "adapter_model.safetensors") }
        let trainer = SFTTrainer(model: start.model, options: sftOptions, directory: out)
        let template = start.chatFormat == .quarry ? "quarry's plain User:/Assistant: template" : "the model's own chat template (\(start.chatFormat.endOfTurnToken ?? "") ends a turn)"
        printError("sft: \(data.train.count) train chats, \(data.dev.count) dev chats, in \(template); loss on the assistant's tokens only")
        let before = try runReporting { try trainer.loss(data.dev) }
        printError(String(format: "before: dev loss %.4f", before))
        let progress = ProgressLine(label: "sft", enabled: progressEnabled())
        trainer.onBatch = { progress.update(done: $0, of: $1) }
        trainer.onEpoch = { epoch, loss, devLoss in
            progress.finish()
            printError(String(format: "epoch %d: train loss %.4f, dev loss %.4f (perplexity %.2f)", epoch, loss, devLoss, Foundation.exp(devLoss)))
        }
        let best = try runReporting { try trainer.run(train: data.train, dev: data.dev, endOfTextID: endOfText) }
        printError(String(format: "best dev loss %.4f; saved in %@ (try: quarry generate --model %@ --chat --prompt \"…\")", best, out, out))
        try writeMerged()
    }

    /// `--merge`: the kept adapters folded into the base, as a plain Hugging Face directory.
    func writeMerged() throws {
        guard merge else { return }
        let merged = out + "/merged"
        try runReporting { try LanguageModel.load(out).saveHuggingFace(to: merged, bfloat16: false) }
        printError("wrote \(merged): the adapted model with the adapters folded in (loads as a plain model)")
    }
}
