// swift-tools-version:6.0
import PackageDescription

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
        // What every stage shares: JSON text, atomic output files, progress, errors.
        .target(name: "QuarryCore"),
        // Stage 1: raw dumps → clean documents.
        // libxml2's allocator for HTML pages: a per-thread arena dropped with each document.
        .target(name: "CXMLArena", dependencies: ["CLibXML2"]),
        .target(name: "QuarryIngest", dependencies: ["QuarryCore", "CLibXML2", "CXMLArena", "CCompression"]),
        // Stage 1b: byte-level BPE (Hugging Face tokenizer.json compatible).
        .target(name: "QuarryTokenizer", dependencies: ["QuarryCore"]),
        // Stage 1c: filtered, de-duplicated, tokenized documents → binary shards + manifest.
        .target(name: "QuarryShards", dependencies: ["QuarryCore", "QuarryIngest", "QuarryTokenizer"]),
        // The trainer's exp-bound element-wise kernels, vectorised per CPU at load time.
        .target(name: "CTrainingKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Stage 3: the GPT-2 trainer (OpenBLAS loaded at run time).
        .target(name: "QuarryTraining", dependencies: ["QuarryCore", "QuarryShards", "QuarryTokenizer", "CTrainingKernels"]),
        // Stage 2: the labelling workflow over SQLite (GRDB).
        .target(name: "QuarryLabels", dependencies: [
            "QuarryCore", "QuarryIngest", "QuarryTokenizer", "QuarryShards",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        // The executable only parses arguments and calls the libraries.
        .executableTarget(
            name: "quarry",
            dependencies: [
                "QuarryCore", "QuarryIngest", "QuarryTokenizer", "QuarryShards", "QuarryLabels", "QuarryTraining",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // jemalloc replaces glibc's malloc for the whole process: libxml2 builds a DOM of small
            // nodes per page and frees it again, and glibc's allocator was ~18% of HTML extraction
            // (1.17x faster on one thread, 1.35x on two; BPE training 1.13x; encode unchanged).
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),
        .testTarget(name: "QuarryIngestTests", dependencies: ["QuarryIngest", "QuarryCore"]),
        .testTarget(name: "QuarryTokenizerTests", dependencies: ["QuarryTokenizer", "QuarryCore"]),
        .testTarget(name: "QuarryTrainingTests", dependencies: ["QuarryTraining", "QuarryShards", "CTrainingKernels"]),
        .testTarget(name: "QuarryLabelsTests", dependencies: ["QuarryLabels", "QuarryCore"]),
        .testTarget(name: "QuarryShardsTests", dependencies: ["QuarryShards", "QuarryIngest", "QuarryTokenizer", "QuarryCore"]),
    ]
)
