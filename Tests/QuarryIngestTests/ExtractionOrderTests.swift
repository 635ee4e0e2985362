import Foundation
import Testing
@testable import QuarryIngest

/// Many small batches converted several at a time by two workers, pages of very different sizes:
/// the documents come out in input order, exactly as with one thread.
@Suite struct ParallelExtractionOrderTests {
    @Test func manyBatchesInFlightKeepInputOrder() throws {
        let dir = NSTemporaryDirectory() + "quarry-order-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<120 {
            let paragraphs = String(repeating: "<p>Page \(i) tells of granite, slate and the quarry men who cut them by hand.</p>\n", count: 1 + (i * 37) % 90)
            let html = "<html><head><title>Page \(i)</title></head><body><article><h1>Page \(i)</h1>\(paragraphs)</article></body></html>"
            try Data(html.utf8).write(to: URL(fileURLWithPath: dir + String(format: "/page-%03d.html", i)))
        }
        func run(jobs: Int) throws -> [String] {
            var texts: [String] = []
            let files = InputFiles.expand([dir]).files
            _ = try ExtractionRun(files: files, options: ExtractionOptions(jobs: jobs, showProgress: false), batchRecords: 3, report: { _ in })
                .run { texts.append(($0.title ?? "") + "\n" + $0.text) }
            return texts
        }
        let serial = try run(jobs: 1), parallel = try run(jobs: 2)
        #expect(serial.count == 120)
        #expect(parallel == serial)
        #expect(serial.first?.hasPrefix("Page 0\n") == true && serial.last?.hasPrefix("Page 119\n") == true)
    }
}
