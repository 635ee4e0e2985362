// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets, one executable for each reader of bytes quarry takes from others (issue 22):
// built with -sanitize=fuzzer,address and run by scripts/fuzz; not part of the main build.
let targets: [(name: String, uses: [String])] = [
    ("FuzzWARC", ["QuarryIngest"]),           // WARC and ARC records, HTTP bodies (chunked, gzip, deflate), pages in them
    ("FuzzDecompress", ["QuarryIngest"]),     // gzip, bzip2 (one thread and several)
    ("FuzzMediaWiki", ["QuarryIngest"]),      // MediaWiki XML (UTF-8 and UTF-16) and wikitext
    ("FuzzHTML", ["QuarryIngest"]),           // HTML pages: charset, main content
    ("FuzzJSONL", ["QuarryIngest", "QuarryLabels"]),  // JSON values, JSONL documents, CSV records, text cleaning
    ("FuzzTokenizer", ["QuarryTokenizer"]),   // tokenizer.json, then encoding and decoding with it
    ("FuzzSafetensors", ["QuarryTraining"]),  // safetensors checkpoints and config.json
    ("FuzzShards", ["QuarryShards"]),         // Megatron .idx, llm.c headers, manifest.json
    ("FuzzGGUF", ["QuarryTraining", "QuarryTokenizer", "QuarryPipeline"]),  // GGUF models: tensors, metadata, tokenizer
    ("FuzzFastText", ["QuarryIngest"]),       // fastText models (.bin, .ftz) and predictions with them
    ("FuzzCleaning", ["QuarryIngest"]),       // words, filters, PII, decontamination, URL block lists over any text
]

let package = Package(
    name: "quarry-fuzz",
    dependencies: [.package(name: "quarry", path: "..")],
    targets: [.target(name: "FuzzSupport")] + targets.map { target in
        .executableTarget(name: target.name, dependencies: ["FuzzSupport"] + target.uses.map { .product(name: $0, package: "quarry") })
    }
)
