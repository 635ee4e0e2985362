// swift-tools-version:6.0
import PackageDescription

// The modules are the pipeline, each a leaf of the ones below it:
//
//   QuarryCore                      text, JSON lines, hashing (FNV-1a, SHA-256, MinHash), random
//       ↑                           numbers, atomic output files, progress, errors
//   QuarryIngest  QuarryTokenizer   raw dumps → clean documents; byte-level BPE
//   QuarryShards                    token shard formats: writers, the reader, manifest, verify
//   QuarryLabels  QuarryTraining    the labelling store; the GPT-2 model and its training loops
//       ↑
//   QuarryPipeline                  the sequences that cross stages (ingest, tokenizer training
//       ↑                           on a corpus, labels → fine-tuning data, predictions → store)
//   quarry                          the executable: one command per file, parsing and printing
//
// Only QuarryPipeline and the executable depend on more than one stage.
let package = Package(
    name: "quarry",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "quarry", targets: ["quarry"]),
        .library(name: "QuarryIngest", targets: ["QuarryIngest"]),
        .library(name: "QuarryTokenizer", targets: ["QuarryTokenizer"]),
        .library(name: "QuarryShards", targets: ["QuarryShards"]),
        .library(name: "QuarryLabels", targets: ["QuarryLabels"]),
        .library(name: "QuarryTraining", targets: ["QuarryTraining"]),
        .library(name: "QuarryPipeline", targets: ["QuarryPipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Thin C shims: one per system library family, nothing else lives in them.
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0",
                       providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CCompression",
                       providers: [.apt(["libbz2-dev", "zlib1g-dev"])]),
        // libxml2's allocator for HTML pages: a per-thread arena dropped with each document.
        .target(name: "CXMLArena", dependencies: ["CLibXML2"]),
        // libxml2's own error printing turned off (quarry reports each failure naming its file).
        .target(name: "CXMLErrors", dependencies: ["CLibXML2"]),
        // The trainer's exp-bound element-wise kernels, vectorised per CPU at load time.
        .target(name: "CTrainingKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // What every stage shares.
        .target(name: "QuarryCore"),
        // Raw dumps, pages and archives → clean documents: readers → converters → cleaning → filters.
        .target(name: "QuarryIngest", dependencies: ["QuarryCore", "CLibXML2", "CXMLArena", "CXMLErrors", "CCompression"]),
        // Byte-level BPE, compatible with Hugging Face tokenizer.json.
        .target(name: "QuarryTokenizer", dependencies: ["QuarryCore"]),
        // Token shard formats (Megatron, llm.c, nanoGPT) and their manifest.
        .target(name: "QuarryShards", dependencies: ["QuarryCore"]),
        // The labelling workflow over SQLite (GRDB).
        .target(name: "QuarryLabels", dependencies: [
            "QuarryCore",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        // The GPT-2 model, its training loops and checkpoints (OpenBLAS loaded at run time).
        .target(name: "QuarryTraining", dependencies: ["QuarryCore", "QuarryShards", "CTrainingKernels"]),
        // The sequences that cross stages.
        .target(name: "QuarryPipeline", dependencies: [
            "QuarryCore", "QuarryIngest", "QuarryTokenizer", "QuarryShards", "QuarryLabels", "QuarryTraining",
        ]),
        // The executable parses arguments, calls QuarryPipeline and the stages, and prints.
        .executableTarget(
            name: "quarry",
            dependencies: [
                "QuarryCore", "QuarryIngest", "QuarryTokenizer", "QuarryShards", "QuarryLabels", "QuarryTraining", "QuarryPipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // jemalloc replaces glibc's malloc for the whole process: libxml2 builds a DOM of small
            // nodes per page and frees it again, and glibc's allocator was ~18% of HTML extraction
            // (1.17x faster on one thread, 1.35x on two; BPE training 1.13x; encode unchanged).
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),

        // What the test targets share: paths to samples/ and ../shared/data, scratch files.
        .target(name: "QuarryTestSupport", path: "Tests/Support"),
        .testTarget(name: "QuarryCoreTests", dependencies: ["QuarryCore"]),
        .testTarget(name: "QuarryIngestTests", dependencies: ["QuarryTestSupport", "QuarryIngest", "QuarryCore"]),
        .testTarget(name: "QuarryTokenizerTests", dependencies: ["QuarryTokenizer", "QuarryCore"]),
        .testTarget(name: "QuarryShardsTests", dependencies: ["QuarryTestSupport", "QuarryShards", "QuarryCore"]),
        .testTarget(name: "QuarryLabelsTests", dependencies: ["QuarryTestSupport", "QuarryLabels", "QuarryCore"]),
        .testTarget(name: "QuarryTrainingTests", dependencies: ["QuarryTestSupport", "QuarryTraining", "QuarryShards", "QuarryTokenizer", "QuarryCore", "CTrainingKernels"]),
        .testTarget(name: "QuarryPipelineTests", dependencies: [
            "QuarryTestSupport", "QuarryPipeline", "QuarryIngest", "QuarryTokenizer", "QuarryShards", "QuarryLabels", "QuarryTraining", "QuarryCore",
        ]),
        // The binary end to end: flags, messages, exit codes, and the files each command writes.
        .testTarget(name: "quarryTests", dependencies: [
            "QuarryTestSupport", "QuarryCore", "QuarryTokenizer", "QuarryShards", "QuarryLabels", "QuarryTraining", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
    ]
)
