import ArgumentParser
import Foundation
import QuarryCore
import QuarryLabels
import QuarryShards
import QuarryTokenizer
import QuarryTraining

extension LabelTask.Kind: ExpressibleByArgument {}
extension TaggingSession.Order: ExpressibleByArgument {}
extension Exporter.Format: ExpressibleByArgument {}

/// `--db PATH`, shared by every labelling command.
struct DatabaseOption: ParsableArguments {
    @Option(help: "The labels database (SQLite).")
    var db: String = "quarry.db"

    func open() throws -> LabelStore {
        try runReporting { try LabelStore(path: db) }
    }
}

struct TaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Create and list labelling tasks.",
        discussion: """
        Examples:
          quarry task create sections --labels admin,games,net --instructions "The package's archive section."
          quarry task create --config task.json
          quarry task list
        """,
        subcommands: [Create.self, List.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a labelling task.",
            discussion: """
            Examples:
              quarry task create sections --labels admin,devel,doc,games,libs,net,utils
              quarry task create topics --labels a,b,c --multi-label --instructions "Pick every topic that applies"
              quarry task create answers --kind response
              quarry task create --config task.json        # schemas/task.schema.json
            """)
        @OptionGroup var database: DatabaseOption
        @Argument(help: "Task name (or use --config).") var name: String?
        @Option(help: "Comma-separated labels; each gets a hotkey (1-9, 0, then letters).", transform: { $0.split(separator: ",").map(String.init) })
        var labels: [String] = []
        @Flag(help: "Several labels per example (classify tasks).") var multiLabel = false
        @Option(help: "classify, span or response.") var kind: LabelTask.Kind = .classify
        @Option(help: "Shown above every example.") var instructions: String = ""
        @Option(help: "A task definition in JSON (schemas/task.schema.json).") var config: String?

        func validate() throws {
            if config == nil && name == nil { throw ValidationError("give a task NAME or --config task.json") }
        }

        func run() throws {
            let task = try runReporting { () -> LabelTask in
                if let config { return try LabelTask.load(config: config) }
                return LabelTask(name: name ?? "", kind: kind, labels: labels, multiLabel: multiLabel, instructions: instructions)
            }
            let store = try database.open()
            let stored = try runReporting { try store.createTask(task) }
            print("created task \"\(stored.task.name)\" (\(stored.task.kind.rawValue), \(stored.task.labels.count) labels) in \(database.db)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tasks with their progress.",
                                                        discussion: "Example:\n  quarry task list --db quarry.db")
        @OptionGroup var database: DatabaseOption
        func run() throws {
            let store = try database.open()
            for (stored, examples, annotated) in try runReporting({ try store.allTasks() }) {
                print("\(stored.task.name)\t\(stored.task.kind.rawValue)\t\(examples) examples\t\(annotated) annotated\t\(stored.task.labels.joined(separator: ","))")
            }
        }
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import examples into a task: JSONL, CSV/TSV with a header, or `quarry extract` output.",
        discussion: """
        JSONL lines need "text"; "id", "label" (or "labels"), "meta", "title", "url", "source" are kept. \
        CSV/TSV need a "text" column; "id" and "label" are recognised, other columns go to meta. \
        Examples are de-duplicated by their text; labels already present become annotations of \
        --label-annotator.

        Example:
          quarry import sections ../shared/data/labels/debian-sections-train.jsonl
        """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Argument(help: "Files to import.") var files: [String]
    @Option(help: "Who the labels in the files are attributed to.") var labelAnnotator: String = "imported"

    func run() throws {
        let store = try database.open()
        let stored = try runReporting { try store.task(named: task) }
        var importer = Importer(store: store, task: stored)
        importer.labelAnnotator = labelAnnotator
        var failed = false
        for file in files {
            let started = Date()
            let progress = ProgressLine(label: "import \(file)", totalBytes: 0, enabled: isatty(2) != 0)
            do {
                let report = try importer.importFile(file) { progress.update(bytes: 0, items: $0, force: false) }
                progress.finish()
                for problem in report.problems { printError("warning: \(problem)") }
                printError(String(format: "%@: %d read, %d imported, %d duplicates, %d with labels, %d skipped (%.1fs)",
                                  file, report.read, report.imported, report.duplicates, report.labelled, report.skipped,
                                  Date().timeIntervalSince(started)))
            } catch {
                progress.finish()
                printError("error: \(file): \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Label examples one keystroke at a time.",
        discussion: """
        On a terminal: the example, the labels with their hotkeys and your progress; a hotkey \
        answers and moves on (multi-label: hotkeys toggle, enter submits). enter/space accepts \
        the model's suggestion, s skips, u undoes the last answer, < > scroll, ? helps, q quits. \
        Every answer is committed before the next example is drawn; restarting resumes at the \
        first example you have not answered.

        Without a terminal (stdin is a pipe) one answer per line: a label or hotkey (a,b for \
        multi-label), spans as 0-2:label 5:label, the response text, or s / u / q.

        Examples:
          quarry tag sections --annotator alice
          printf '1\\n2\\ns\\nq\\n' | quarry tag sections --annotator bot
          quarry tag sections --unlabelled      # skip what was imported with labels
        """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Option(help: "Your name, recorded with every answer.") var annotator: String = ProcessInfo.processInfo.environment["USER"] ?? "annotator"
    @Option(help: "stream (input order), random, or uncertain (least confident model predictions first).")
    var order: TaggingSession.Order = .stream
    @Option(help: ArgumentHelp("Show a model's predictions as suggestions: a fine-tuned classifier's run directory (its predictions are computed first), or a name given to `quarry predictions import/compute`.", valueName: "RUN"))
    var model: String?
    @Flag(help: "Only examples nobody has answered yet (labels that came with the import count as answers).")
    var unlabelled = false
    @Option(help: .hidden) var latencyLog: String?

    func run() throws {
        let store = try database.open()
        let stored = try runReporting { try store.task(named: task) }
        var modelName = model
        if let model, FileManager.default.fileExists(atPath: model + "/classifier.safetensors") {
            modelName = try Predictions.ComputePredictions.compute(store: store, task: stored, runDirectory: model, name: nil, batch: 16)
        }
        let session = try runReporting { try TaggingSession(store: store, task: stored, annotator: annotator, order: order, model: modelName,
                                                                   unlabelledOnly: unlabelled) }
        let loop = TaggingLoop(session: session, interactive: isatty(0) != 0 && isatty(1) != 0)
        let answered = try runReporting { try loop.run() }
        if let latencyLog {
            // Benchmark aid: seconds from each answer to the next example, one per line.
            _ = FileManager.default.createFile(atPath: latencyLog, contents: Data(loop.latencies.map { String($0) }.joined(separator: "\n").utf8))
        }
        printError("\(answered) answer(s) saved; \(session.done)/\(session.total) answered by \(annotator)")
    }
}

struct Review: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Walk the examples where annotators disagree and record the adjudicated answer.",
        discussion: "Type the right label (or hotkey), s to skip, q to quit.\n\nExample:\n  quarry review sections --adjudicator carol")
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Option(help: "Your name.") var adjudicator: String = ProcessInfo.processInfo.environment["USER"] ?? "adjudicator"

    func run() throws {
        let store = try database.open()
        let stored = try runReporting { try store.task(named: task) }
        let queue = ReviewQueue(store: store, task: stored)
        var done = 0
        let labels = stored.task.labels
        while let item = try runReporting({ try queue.next() }) {
            print(String(repeating: "─", count: 60))
            print(SafeText.visible(item.text).prefix(1000))
            for (annotator, answer) in item.answers { print("  \(annotator): \(answer)") }
            print("labels: " + labels.enumerated().map { "[\(LabelTask.hotkeys[$0.offset])] \($0.element)" }.joined(separator: "  ") + "   s skip · q quit")
            guard let line = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces), line != "q" else { break }
            if line == "s" { queue.skip(item); continue }
            let parts = line.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            let chosen = parts.compactMap { p -> String? in
                if labels.contains(p) { return p }
                if p.count == 1, let i = LabelTask.hotkeys.firstIndex(of: Character(p)), i < labels.count { return labels[i] }
                return nil
            }
            let answer: Answer
            switch stored.task.kind {
            case .response: answer = .response(line)
            case .classify where chosen.count == parts.count && !chosen.isEmpty:
                answer = stored.task.multiLabel ? .labels(chosen) : .label(chosen[0])
            default:
                printError("warning: \"\(line)\" is not a label of this task; skipped")
                queue.skip(item)
                continue
            }
            try runReporting { try queue.adjudicate(item, answer: answer, adjudicator: adjudicator) }
            done += 1
        }
        printError("\(done) adjudication(s) saved")
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Counts per label and annotator, progress, and agreement (Cohen's kappa, Krippendorff's alpha).",
        discussion: "Example:\n  quarry stats sections --json")
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try database.open()
        let stored = try runReporting { try store.task(named: task) }
        let stats = try runReporting { try TaskStatistics.compute(store: store, task: stored) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(stats), as: UTF8.self))
        } else {
            print(stats.table(), terminator: "")
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export labelled examples as fine-tuning sets (jsonl, chat, or token shards).",
        discussion: """
        Answers: --annotator WHO's, or --adjudicated only; by default the adjudicated answer, \
        else the annotators' answer when they all agree. Splits are chosen by hash, near-duplicate \
        texts kept together (the same on every export); with more than one split, --out is a \
        directory holding one file per split.

        Examples:
          quarry export sections --format jsonl --out sections.jsonl
          quarry export sections --format chat --split train=0.8,dev=0.1,test=0.1 --out sft/
          quarry export sections --format shards --tokenizer tokenizer.json --out shards/
        """)
    @OptionGroup var database: DatabaseOption
    @Argument(help: "The task.") var task: String
    @Option(help: "jsonl, chat or shards.") var format: Exporter.Format = .jsonl
    @Option(name: [.short, .long], help: "Output file, or directory (splits, shards).") var out: String
    @Option(help: "Splits, e.g. train=0.8,dev=0.1,test=0.1.") var split: String?
    @Option(help: "Export this annotator's answers.") var annotator: String?
    @Flag(help: "Export adjudicated answers only.") var adjudicated = false
    @Option(help: "Tokenizer for --format shards.") var tokenizer: String?
    @Option(help: "Shard format for --format shards: megatron, llmc or nanogpt.") var shardFormat: ShardFormat = .megatron

    func validate() throws {
        if annotator != nil && adjudicated { throw ValidationError("give --annotator or --adjudicated, not both") }
        if format == .shards && tokenizer == nil { throw ValidationError("--format shards needs --tokenizer FILE") }
    }

    func run() throws {
        let store = try database.open()
        let stored = try runReporting { try store.task(named: task) }
        var exporter = Exporter(store: store, task: stored)
        exporter.format = format
        exporter.shardFormat = shardFormat
        if let annotator { exporter.source = .annotator(annotator) } else if adjudicated { exporter.source = .adjudicated }
        if let split { exporter.splits = try runReporting { try Exporter.parseSplits(split) } }
        if let tokenizer {
            let model = try loadTokenizer(tokenizer)
            guard let eot = model.id(of: "<|endoftext|>") else {
                printError("error: \(tokenizer) has no <|endoftext|> token")
                throw ExitCode(1)
            }
            let sha = try runReporting { try fileSHA256(tokenizer) }
            exporter.tokenizer = (model, Manifest.Tokenizer(path: tokenizer, sha256: sha, vocabSize: model.vocabularySize, endOfTextID: eot))
        }
        let started = Date()
        let report = try runReporting { try exporter.export(to: out) }
        let counts = report.written.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        printError(String(format: "exported %@ to %@ (%d unlabelled, %d disagreements left out) in %.1fs",
                          counts.isEmpty ? "nothing" : counts, out, report.unlabelled, report.disagreements, Date().timeIntervalSince(started)))
    }
}

struct Predictions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a model's predictions for suggestions and --order uncertain.",
        discussion: """
        Examples:
          quarry predictions compute sections --run run2
          quarry predictions import sections --model other-model predictions.jsonl
        """,
        subcommands: [ImportPredictions.self, ComputePredictions.self]
    )

    struct ComputePredictions: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compute",
            abstract: "Run a fine-tuned classifier over a task's examples and store its predictions.",
            discussion: """
            Examples the model has already predicted are skipped, so an interrupted run resumes. \
            The predictions are stored under --model (default: the run directory's name).
            Example:
              quarry finetune --from run1 --train train.jsonl --out run2
              quarry predictions compute sections --run run2
              quarry tag sections --model run2 --order uncertain
            """)
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The task.") var task: String
        @Option(name: .customLong("run"), help: "A directory written by `quarry finetune --task classify`.") var runDirectory: String
        @Option(help: "The name to store the predictions under (used with quarry tag --model).") var model: String?
        @Option(help: "Examples per forward pass.") var batch: Int = 16

        func run() throws {
            guard batch >= 1 else { printError("error: --batch must be at least 1"); throw ExitCode(1) }
            let store = try database.open()
            let stored = try runReporting { try store.task(named: task) }
            _ = try Self.compute(store: store, task: stored, runDirectory: runDirectory, name: model, batch: batch)
        }

        /// Stores the run's predictions for the task's unpredicted examples; returns their model name.
        static func compute(store: LabelStore, task stored: LabelStore.StoredTask, runDirectory: String, name: String?, batch: Int) throws -> String {
            let task = stored.task.name
            try runReporting { try BLAS.load() }
            let classifier = try runReporting { try Classifier.load(from: runDirectory) }
            let tokenizer = try loadTokenizer(runDirectory + "/tokenizer.json")
            let foreign = classifier.labels.filter { !stored.task.labels.contains($0) }
            if !foreign.isEmpty {
                printError("warning: the model's label(s) \(foreign.joined(separator: ", ")) are not in task \(task)'s labels; they are stored but cannot be accepted as answers")
            }
            let encoder = BPEEncoder(model: tokenizer)
            let name = name ?? URL(fileURLWithPath: runDirectory).standardizedFileURL.lastPathComponent
            let progress = ProgressLine(label: "predicting", totalBytes: 0)
            let n = try runReporting {
                try store.storePredictions(task: stored, model: name, batchSize: batch, progress: { progress.update(bytes: 0, items: $0, total: $1) }) { texts in
                    let ids = texts.map { Classifier.encode($0, encoder: encoder, limit: classifier.model.config.nPositions) }
                    return try classifier.probabilities(ids).map { p in
                        let best = p.indices.max(by: { p[$0] < p[$1] }) ?? 0
                        return (classifier.labels[best], Double(p[best]))
                    }
                }
            }
            progress.finish()
            printError("\(n) prediction(s) stored for model \(name)")
            return name
        }
    }

    struct ImportPredictions: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Load predictions: JSONL with the example's text (or id), a label and a confidence.",
            discussion: "Example:\n  quarry predictions import sections --model run1 predictions.jsonl")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The task.") var task: String
        @Option(help: "The model's name (used with quarry tag --model).") var model: String
        @Argument(help: "A JSONL file of predictions.") var file: String

        func run() throws {
            let store = try database.open()
            let stored = try runReporting { try store.task(named: task) }
            let (n, unmatched) = try runReporting { try store.importPredictions(task: stored, model: model, path: file) }
            printError("\(n) prediction(s) stored for model \(model)" + (unmatched > 0 ? "; \(unmatched) line(s) matched no example or were malformed" : ""))
        }
    }
}
