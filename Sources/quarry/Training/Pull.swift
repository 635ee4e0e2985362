import ArgumentParser
import Foundation
import QuarryCore
import QuarryPipeline

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a model from the Hugging Face Hub into the Hugging Face cache.",
        discussion: """
        Lays the files out as `huggingface-cli download` does ($HF_HUB_CACHE, else $HF_HOME/hub, \
        else ~/.cache/huggingface/hub: blobs, snapshots/COMMIT/ symlinks, refs/), so that quarry, \
        transformers and huggingface_hub share them; afterwards ORG/NAME works wherever quarry \
        takes a model or a tokenizer. An interrupted download resumes where it stopped; each file's \
        size, and an LFS file's SHA-256, are checked before it is put in place.

        HF_ENDPOINT (a mirror), HF_TOKEN (gated or private models; sent to the endpoint only, \
        never to the CDN it redirects to) and HF_HUB_OFFLINE (answer from the cache, no network) \
        are honoured. Prints the snapshot directory.

        Examples:
          quarry pull HuggingFaceTB/SmolLM2-135M-Instruct
          quarry pull bartowski/SmolLM2-135M-Instruct-GGUF --include '*Q8_0.gguf'
          quarry generate --model HuggingFaceTB/SmolLM2-135M-Instruct --chat --prompt Hello
        """)
    @Argument(help: "The model repository: ORG/NAME (optionally ORG/NAME@REVISION).") var model: String
    @Option(help: "A branch, tag or commit (default main).") var revision: String?
    @Option(help: ArgumentHelp("Only files matching this glob (repeatable; * crosses /, as huggingface-cli's --include).", valueName: "glob"))
    var include: [String] = []
    @Flag(name: .shortAndLong, help: "No progress line.") var quiet = false

    func run() throws {
        let progress = ProgressLine(label: "pull \(model)", enabled: progressEnabled(quiet: quiet))
        let outcome = try runReporting {
            try HubDownload.pull(model, revision: revision, include: include, settings: .fromEnvironment()) { bytes, total, files in
                progress.update(bytes: bytes, of: total, items: files, noun: "files")
            }
        }
        progress.finish()
        if outcome.offline {
            printError("HF_HUB_OFFLINE: \(model) answered from the cache")
        } else {
            let fetched = outcome.downloaded.isEmpty ? "nothing to download" : "downloaded \(outcome.downloaded.count) files (\(ProgressLine.formatBytes(outcome.bytes)))"
            printError("\(fetched), \(outcome.cached.count) already cached; commit \(outcome.commit)")
        }
        print(outcome.snapshot)
    }
}
