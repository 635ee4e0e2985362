import Foundation
import Testing

/// Issue 22's repros through the binary: each gives a clear one-line error (or the right
/// result), a bounded time, and touches nothing outside the paths given.
@Suite(.serialized) struct HostileInputTests {
    let scratch = ScratchDirectory()
    var dir: String { scratch.path }

    /// R6-R7: a FIFO (or a device) inside an input directory is skipped, not read forever.
    /// Issue 22, R6: a shard truncated under a running pretrain (its pages mapped) is one line and
    /// exit status 1, not death by SIGBUS.
    @Test func aShardTruncatedUnderARunningPretrainIsOneLine() throws {
        let scratch = ScratchDirectory()
        let ingest = try quarry(["ingest", TestPaths.sample("text"), "--vocab-size", "300", "--no-quality-filter", "--out", scratch.path + "/shards", "-q"])
        #expect(ingest.status == 0, "\(ingest.err)")
        let shard = scratch.path + "/shards/train-00000.bin"
        #expect(FileManager.default.fileExists(atPath: shard))
        // Once the run has taken a step, the shard is cut to nothing under it.
        let metrics = scratch.path + "/run/metrics.jsonl"
        let cutter = Thread {
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && !FileManager.default.fileExists(atPath: metrics) { usleep(20_000) }
            truncate(shard, 0)
        }
        cutter.start()
        let run = try quarry(["pretrain", "--data", scratch.path + "/shards", "--out", scratch.path + "/run", "--steps", "1000000",
                              "--batch", "2", "--context", "32", "--val-every", "0", "--jobs", "1", "-q"], killAfter: 150)
        #expect(run.status == 1 && run.err.contains("memory-mapped file shrank"), "status \(run.status): \(run.err)")
    }

    @Test func pipesAndDevicesInADirectoryAreSkipped() throws {
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        _ = scratch.write("in/a.txt", "Some prose, with words in it.")
        #expect(mkfifo(dir + "/in/fifo", 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: dir + "/in/zero", withDestinationPath: "/dev/zero")
        let result = try quarry(["extract", dir + "/in", "--out", dir + "/out.jsonl", "-q"], killAfter: 20)
        #expect(result.status == 0, "\(result.err)")
        #expect(result.err.contains("fifo: not a regular file") && result.err.contains("zero: not a regular file"))
        #expect(try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).contains("Some prose"))
    }

    /// R12-a: the output may not be one of the inputs.
    @Test func extractRefusesToOverwriteItsInput() throws {
        let input = scratch.write("tiny.txt", "A text that must survive its own extraction.")
        let result = try quarry(["extract", input, "--out", input])
        #expect(result.status == 1 && result.err.contains("is the input"))
        #expect(try String(contentsOfFile: input, encoding: .utf8) == "A text that must survive its own extraction.")
    }

    /// R11: ingest deletes nothing in a directory it did not make, even as it refuses it.
    @Test func ingestLeavesAForeignDirectoryAlone() throws {
        try FileManager.default.createDirectory(atPath: dir + "/d", withIntermediateDirectories: true)
        _ = scratch.write("d/corpus.tokens", "precious")
        _ = scratch.write("d/old.bin", "x")
        _ = scratch.write("d/.notes.tmp-1", "mine")
        let result = try quarry(["ingest", TestPaths.sample("text"), "--vocab-size", "300", "--out", dir + "/d", "-q"])
        #expect(result.status == 1 && result.err.contains("already holds shards"))
        for name in ["corpus.tokens", "old.bin", ".notes.tmp-1"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/d/" + name), "\(name) was deleted")
        }
    }

    /// R5: a batch that cannot fit is refused before any allocation, in a moment.
    @Test func anImpossibleBatchIsRefusedUpFront() throws {
        #expect(try quarry(["ingest", TestPaths.sample("wiki"), "--vocab-size", "300", "--no-quality-filter", "--out", dir + "/s", "-q"]).status == 0)
        let started = Date()
        let result = try quarry(["pretrain", "--data", dir + "/s", "--out", dir + "/p", "--batch", "100000000", "--context", "16", "--steps", "2"], killAfter: 60)
        #expect(result.status == 1 && result.err.contains("lower --batch"), "\(result.err)")
        #expect(Date().timeIntervalSince(started) < 30)
    }

    /// R16: names reach terminals: escape sequences are refused at creation, and shown as
    /// symbols wherever a message quotes them.
    @Test func namesCannotCarryEscapeSequences() throws {
        let result = try quarry(["task", "create", "evil\u{1B}]0;PWNED\u{7}\u{1B}[2J", "--labels", "a,b", "--db", dir + "/e.db"])
        #expect(result.status == 1 && !result.err.contains("\u{1B}") && result.err.contains("␛"))
        let label = try quarry(["task", "create", "fine", "--labels", "red\u{1B}[31mX,b", "--db", dir + "/e.db"])
        #expect(label.status == 1 && !label.err.contains("\u{1B}"))
        let missing = try quarry(["stats", "no\u{1B}[2Jsuch", "--db", dir + "/e.db"])
        #expect(missing.status == 1 && !missing.err.contains("\u{1B}"))
    }

    /// R19: split names are file names inside --out.
    @Test func splitNamesCannotLeaveTheOutputDirectory() throws {
        #expect(try quarry(["task", "create", "t", "--labels", "a,b", "--db", dir + "/q.db"]).status == 0)
        let result = try quarry(["export", "t", "--db", dir + "/q.db", "--split", "../../escape=0.5,train=0.5", "--out", dir + "/a/b/out"])
        #expect(result.status == 1 && result.err.contains("split names"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/escape.jsonl"))
    }

    /// R13 and R21: temporary files are new files (never a planted symlink's target), and those
    /// of killed runs are removed; an interrupted run removes its own.
    @Test func temporaryFilesAreSafeAndCleanedUp() throws {
        let victim = scratch.write("victim.txt", "ORIGINAL")
        // A killed run's temporary file (a process that no longer exists) and a planted link.
        _ = scratch.write(".out.jsonl.tmp-99999999-abc", "stale")
        try FileManager.default.createSymbolicLink(atPath: dir + "/.out.jsonl.tmp-99999998-x", withDestinationPath: victim)
        let result = try quarry(["extract", TestPaths.sample("text"), "--out", dir + "/out.jsonl", "-q"])
        #expect(result.status == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/.out.jsonl.tmp-99999999-abc"), "a killed run's temporary file is removed")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "ORIGINAL")
        var info = stat()
        #expect(lstat(dir + "/out.jsonl", &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG)
        // SIGTERM while writing: the temporary file goes with the process.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: QuarryBinary.path)
        process.arguments = ["extract", "-", "--out", dir + "/interrupted.jsonl", "-q"]
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        stdin.fileHandleForWriting.write(Data("The first words of a page that never ends.\n".utf8))
        var temporaries: [String] = []
        for _ in 0..<200 where temporaries.isEmpty {
            usleep(20_000)
            temporaries = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".interrupted.jsonl.tmp-") }
        }
        #expect(!temporaries.isEmpty, "the run writes through a temporary file")
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 143)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".interrupted") }.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir + "/interrupted.jsonl"))
    }

    /// R8: inputs built to cost quadratic time take linear time (each took minutes before).
    @Test func pathologicalMarkupAndCSVTakeLinearTime() throws {
        let head = "<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.10/\" version=\"0.10\"><siteinfo><sitename>W</sitename></siteinfo>"
        func page(_ text: String) -> String {
            head + "<page><title>A</title><ns>0</ns><id>1</id><revision><id>2</id><text xml:space=\"preserve\">" + text + "</text></revision></page></mediawiki>"
        }
        let prose = String(repeating: "Some prose words here, with commas, and sentences to keep. ", count: 5)
        let links = scratch.write("links.xml", page(String(repeating: "[http://x ", count: 100_000) + prose))
        let refs = scratch.write("refs.xml", page(String(repeating: "&lt;ref&gt;", count: 200_000) + prose))
        let attributes = (0..<300_000).map { "a\($0)=\"x\"" }.joined(separator: " ")
        let html = scratch.write("attrs.html", "<html><body><div " + attributes + "><p>hello, world.</p></div></body></html>")
        for input in [links, refs] {
            let result = try quarry(["extract", input, "--out", dir + "/out.jsonl", "-q"], killAfter: 60)
            #expect(result.status == 0, "\(input): \(result.err)")
            #expect(try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).contains("Some prose words here"))
        }
        let page = try quarry(["extract", html, "--out", dir + "/page.jsonl"], killAfter: 60)
        #expect(page.status == 0 && page.err.contains("html_too_many_attributes"), "dropped and counted, as one bad document among many")
        #expect(try quarry(["task", "create", "topics", "--labels", "a,b,c", "--db", dir + "/t.db"]).status == 0)
        let rows = "text,label\n\"unterminated start\n" + (0..<60_000).map { "line \($0) with some words,a\n" }.joined()
        let csv = try quarry(["import", "topics", scratch.write("open.csv", rows), "--db", dir + "/t.db"], killAfter: 60)
        #expect(csv.status == 1 && csv.err.contains("line 2: a quoted field opened on this line is still open"), "\(csv.err)")
    }

    /// R12-d: a UTF-8 byte order mark is no part of the first JSONL record.
    @Test func aByteOrderMarkKeepsTheFirstRecord() throws {
        let jsonl = scratch.write("bom.jsonl", [0xEF, 0xBB, 0xBF] + Array("{\"text\": \"first record\"}\n{\"text\": \"second record\"}\n".utf8))
        let extracted = try quarry(["extract", jsonl, "-q"])
        #expect(extracted.status == 0 && extracted.out.contains("first record") && extracted.out.contains("second record"))
        #expect(try quarry(["task", "create", "t", "--labels", "a,b", "--db", dir + "/b.db"]).status == 0)
        let imported = try quarry(["import", "t", jsonl, "--db", dir + "/b.db"])
        #expect(imported.status == 0 && imported.err.contains("2 read, 2 imported"), "\(imported.err)")
    }

    /// R20: what used to be lost without a word, or said unclearly.
    @Test func unclearCasesGetClearMessages() throws {
        // A page whose <meta> declares UTF-32, and a UTF-16 dump with one lone surrogate: kept.
        let page = scratch.write("u32.html", "<html><head><meta charset=\"utf-32\"></head><body><article><p>Real prose, with commas, and words worth keeping.</p></article></body></html>")
        #expect(try quarry(["extract", page, "-q"]).out.contains("Real prose"))
        let xml = "<mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><text>Hello \u{FFFD} world, some prose.</text></revision></page></mediawiki>"
        var utf16: [UInt8] = [0xFF, 0xFE]
        for unit in xml.utf16 { utf16 += unit == 0xFFFD ? [0x00, 0xD8] : [UInt8(unit & 0xFF), UInt8(unit >> 8)] }   // a lone high surrogate
        let dump = scratch.write("lone.xml", utf16)
        let extracted = try quarry(["extract", dump, "-q"])
        #expect(extracted.status == 0 && extracted.out.contains("Hello \u{FFFD} world"), "\(extracted.err)")
        // libxml2's own error printing (without the file's name) is off: every line is quarry's.
        let encoding = scratch.write("enc.xml", Array("<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?><mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><text>Hello \u{1B}$B world".utf8) + [0xFF, 0xFE] + Array(", prose.</text></revision></page></mediawiki>".utf8))
        let noisy = try quarry(["extract", encoding, "-q"])
        #expect(noisy.err.split(separator: "\n").allSatisfy { $0.hasPrefix("quarry: ") }, "\(noisy.err)")
        // Compression quarry does not read, and a damaged header: an error naming the file.
        let xz = scratch.write("corpus.txt.xz", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0x00, 0x04] + Array("rest".utf8))
        let damaged = scratch.write("dump.xml.bz2", Array("BZx9 not really bzip2".utf8))
        let unread = try quarry(["extract", xz, damaged, "-q"])
        #expect(unread.status == 1 && unread.err.contains("corpus.txt.xz: xz-compressed data") && unread.err.contains("dump.xml.bz2: named .bz2 but not bzip2 data"))
        // Reading commands create no database; negative numbers and NaN are refused by name.
        let missing = try quarry(["task", "list", "--db", dir + "/none.db"])
        #expect(missing.status == 1 && missing.err.contains("does not exist") && !FileManager.default.fileExists(atPath: dir + "/none.db"))
        let negative = try quarry(["extract", page, "--jobs", "-1"])
        #expect(negative.status != 0 && negative.err.contains("--jobs must be at least 1") && !negative.err.contains("Missing value"))
        let nan = try quarry(["pretrain", "--data", dir, "--out", dir + "/p", "--grad-clip", "nan"])
        #expect(nan.status != 0 && nan.err.contains("finite"))
    }
}
