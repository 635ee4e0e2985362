import Foundation
import Testing
import QuarryTraining

/// The training commands' refusals, through the binary: one clear line, a non-zero exit, and
/// nothing written over what was there.
@Suite(.serialized) struct TrainCommandTests {
    @Test func badInputsAreRefusedAndNothingIsOverwritten() throws {
        let dir = NSTemporaryDirectory() + "quarry-train-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let samples = TestPaths.sample("")
        #expect(try quarry(["ingest", samples + "/wiki", samples + "/web", "--vocab-size", "300", "--no-quality-filter", "--out", dir + "/a", "-q"]).status == 0)
        #expect(try quarry(["ingest", samples + "/text", "--vocab-size", "290", "--no-quality-filter", "--out", dir + "/other", "-q"]).status == 0)
        #expect(try quarry(["ingest", samples + "/wiki", "--vocab-size", "400", "--no-quality-filter", "--out", dir + "/bigger", "-q"]).status == 0)
        #expect(try quarry(["pretrain", "--data", dir + "/a", "--out", dir + "/run", "--steps", "0", "-q"]).status == 0)
        let saved = try Data(contentsOf: URL(fileURLWithPath: dir + "/run/model.safetensors"))

        // Shards moved after ingest (the manifest's tokenizer path no longer leads anywhere):
        // the run still gets the tokenizer from beside the shards, so finetune can read it.
        try FileManager.default.copyItem(atPath: dir + "/bigger", toPath: dir + "/moved")
        let manifestPath = dir + "/moved/manifest.json"
        let manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
        try manifest.replacingOccurrences(of: dir + "/bigger/tokenizer.json", with: "nowhere/tokenizer.json")
            .write(toFile: manifestPath, atomically: true, encoding: .utf8)
        #expect(try quarry(["pretrain", "--data", dir + "/moved", "--out", dir + "/movedRun", "--steps", "0", "-q"]).status == 0)
        #expect(FileManager.default.contents(atPath: dir + "/movedRun/tokenizer.json") == FileManager.default.contents(atPath: dir + "/bigger/tokenizer.json"))

        // Shards made with another tokenizer (smaller, so only the tokenizer check can catch it).
        let other = try quarry(["eval", "--model", dir + "/run", "--data", dir + "/other"])
        #expect(other.status != 0 && other.err.contains("tokenized with"), "\(other.err)")
        let initOther = try quarry(["pretrain", "--data", dir + "/other", "--init-from", dir + "/run", "--out", dir + "/run2", "--steps", "1", "-q"])
        #expect(initOther.status != 0 && initOther.err.contains("re-ingest them with --tokenizer"))
        // A vocabulary larger than the model's.
        let bigger = try quarry(["pretrain", "--data", dir + "/bigger", "--init-from", dir + "/run", "--out", dir + "/run3", "--steps", "1", "-q"])
        #expect(bigger.status != 0 && bigger.err.contains("is larger than the model's"))
        // A context longer than n_positions (tiny: 256).
        let long = try quarry(["pretrain", "--data", dir + "/a", "--out", dir + "/run4", "--context", "300", "--steps", "1", "-q"])
        #expect(long.status != 0 && long.err.contains("n_positions"))
        // The run directory already holds a run: refused, the model untouched.
        let again = try quarry(["pretrain", "--data", dir + "/a", "--out", dir + "/run", "--steps", "1", "-q"])
        #expect(again.status != 0 && again.err.contains("already holds a run"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/run/model.safetensors")) == saved)
        // A loss that blows up stops the run and says what was kept.
        let nan = try quarry(["pretrain", "--data", dir + "/a", "--out", dir + "/nan", "--steps", "4", "--lr", "1e30", "--warmup", "0",
                              "--context", "32", "--batch", "2", "--checkpoint-every", "100", "-q"])
        #expect(nan.status != 0 && nan.err.contains("the loss became") && nan.err.contains("no checkpoint had been written yet"), "\(nan.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/nan/model.safetensors"))
        // The default peak rate of a new tiny model is 1.5e-3 (step 1's rate, without warm-up); a
        // run resumed without --lr keeps its own rather than meeting "the options differ".
        let small = ["--data", dir + "/a", "--steps", "2", "--warmup", "0", "--context", "32", "--batch", "2", "--checkpoint-every", "1", "-q"]
        #expect(try quarry(["pretrain", "--out", dir + "/lr"] + small).status == 0)
        let firstStep = try String(contentsOfFile: dir + "/lr/metrics.jsonl", encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstStep.contains("\"lr\":0.0015,"), "\(firstStep)")
        #expect(try quarry(["pretrain", "--out", dir + "/lr1", "--lr", "1e-3"] + small).status == 0)
        let resumed = try quarry(["pretrain", "--out", dir + "/lr1", "--resume"] + small)
        #expect(resumed.status == 0, "\(resumed.err)")

        // Fine-tuning sets: empty, unlabelled, one label only.
        write(dir + "/empty.jsonl", "\n")
        let empty = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/empty.jsonl", "--out", dir + "/ft0"])
        #expect(empty.status != 0 && empty.err.contains("no labelled examples"))
        write(dir + "/unlabelled.jsonl", "{\"text\": \"granite\"}\n")
        let unlabelled = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/unlabelled.jsonl", "--out", dir + "/ft1"])
        #expect(unlabelled.status != 0 && unlabelled.err.contains("no string \"label\""))
        write(dir + "/one.jsonl", "{\"text\": \"granite\", \"label\": \"rock\"}\n{\"text\": \"slate\", \"label\": \"rock\"}\n")
        #expect(try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/one.jsonl", "--out", dir + "/ft2"]).status != 0)
        // A label the classifier does not know, at eval.
        let rows = (0..<8).map { "{\"text\": \"\($0 % 2 == 0 ? "granite rock" : "steel saw") \($0)\", \"label\": \"\($0 % 2 == 0 ? "rock" : "tool")\"}" }
        write(dir + "/train.jsonl", rows.joined(separator: "\n"))
        let frozen = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ft", "--epochs", "1", "--freeze-base"])
        #expect(frozen.status == 0, "\(frozen.err)")
        // The held-out examples and the kept model's predictions on them, as the message counts them.
        let heldOut = try String(contentsOfFile: dir + "/ft/held-out-predictions.jsonl", encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(frozen.err.contains("dev: \(heldOut.count) of the 8 examples held out"), "\(frozen.err)")
        for p in heldOut {
            let line = try #require((p["id"] as? String)?.split(separator: ":").last.flatMap { Int($0) })
            #expect(p["label"] as? String == (line % 2 == 1 ? "rock" : "tool"), "\(p)")
        }
        #expect(try SafeTensors.metadata(dir + "/ft/classifier.safetensors")["pooling"] == "mean", "mean pooling is the default")
        // An unknown pooling is refused before any work; last-token pooling trains, and eval reads it back.
        let pooling = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ftp", "--pooling", "max"])
        #expect(pooling.status != 0 && pooling.err.contains("--pooling must be last, mean or mean-max"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/ftp/labels.json"))
        #expect(try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ftm", "--epochs", "1", "--pooling", "last", "--schedule", "constant", "--group-by-length", "--layer-decay", "0.8", "--lm-weight", "0.5", "--token-dropout", "0.2", "--ema", "0.99"]).status == 0)
        let epochLine = try String(contentsOfFile: dir + "/ftm/metrics.jsonl", encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        #expect(epochLine.contains("\"lm_loss\":"), "the auxiliary loss is recorded: \(epochLine)")
        write(dir + "/known.jsonl", rows.prefix(2).joined(separator: "\n"))
        #expect(try SafeTensors.metadata(dir + "/ftm/classifier.safetensors")["pooling"] == "last_token")
        // Mean-max pooling: a head twice as wide, which eval reads back.
        #expect(try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ftmm", "--epochs", "1", "--pooling", "mean-max"]).status == 0)
        #expect(try SafeTensors.metadata(dir + "/ftmm/classifier.safetensors")["pooling"] == "mean_max")
        #expect(try quarry(["eval", "--model", dir + "/ftmm", "--data", dir + "/train.jsonl", "--json"]).status == 0)
        let meanEval = try quarry(["eval", "--model", dir + "/ftm", "--data", dir + "/train.jsonl", "--json",
                                   "--predictions", dir + "/predictions.jsonl"])
        #expect(meanEval.status == 0, "\(meanEval.err)")
        // One prediction per example, in the file's order; they agree with the reported accuracy.
        let predictions = try String(contentsOfFile: dir + "/predictions.jsonl", encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(predictions.count == 8)
        #expect(predictions.map { $0["label"] as? String } == (0..<8).map { $0 % 2 == 0 ? "rock" : "tool" })
        #expect(predictions.first?["id"] as? String == dir + "/train.jsonl:1")
        for p in predictions {
            let probabilities = try #require(p["probabilities"] as? [String: Double])
            #expect(Set(probabilities.keys) == ["rock", "tool"] && abs(probabilities.values.reduce(0, +) - 1) < 1e-5)
            #expect(p["predicted"] as? String == probabilities.max { $0.value < $1.value }?.key)
        }
        let accuracy = try #require(try JSONSerialization.jsonObject(with: Data(meanEval.out.utf8)) as? [String: Any])["accuracy"] as? Double
        let correct = predictions.filter { $0["label"] as? String == $0["predicted"] as? String }.count
        #expect(accuracy == Double(correct) / 8)
        let schedule = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/fts", "--schedule", "cosine"])
        #expect(schedule.status != 0 && schedule.err.contains("--schedule must be constant or linear"))
        let decay = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ftd", "--layer-decay", "1.5"])
        #expect(decay.status != 0 && decay.err.contains("--layer-decay must be in (0, 1]"))
        let sftDecay = try quarry(["finetune", "--from", dir + "/run", "--task", "sft", "--train", dir + "/train.jsonl", "--out", dir + "/ftd", "--layer-decay", "0.8"])
        #expect(sftDecay.status != 0 && sftDecay.err.contains("--layer-decay applies to --task classify only"))
        let ema = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ftd", "--ema", "1"])
        #expect(ema.status != 0 && ema.err.contains("--ema must be in [0, 1)"))
        let tokenDropout = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ftd", "--token-dropout", "1"])
        #expect(tokenDropout.status != 0 && tokenDropout.err.contains("--token-dropout must be in [0, 1)"))
        let lmWeight = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ftd", "--lm-weight=-1"])
        #expect(lmWeight.status != 0 && lmWeight.err.contains("--lm-weight must be 0 or more"))
        let frozenLM = try quarry(["finetune", "--from", dir + "/run", "--train", dir + "/train.jsonl", "--out", dir + "/ftd", "--lm-weight", "0.5", "--freeze-base"])
        #expect(frozenLM.status != 0 && frozenLM.err.contains("cannot go with --freeze-base"))
        write(dir + "/test.jsonl", "{\"text\": \"a mountain\", \"label\": \"place\"}\n")
        let unknown = try quarry(["eval", "--model", dir + "/ft", "--data", dir + "/test.jsonl"])
        #expect(unknown.status != 0 && unknown.err.contains("unknown to the model"))
        for message in [other.err, bigger.err, long.err, nan.err, unknown.err] {
            #expect(message.split(separator: "\n").count == 1, "one line: \(message)")
        }
    }
}
