import Foundation
import GRDB
import QuarryCore

/// The labelling database: one SQLite file (WAL, foreign keys, a busy timeout so several
/// annotators' processes share it), opened through GRDB with a versioned schema
/// (`schemas/labels-db.md`). Opening an older file upgrades it; a file from a newer quarry or
/// another program is refused before anything is written.
public final class LabelStore: @unchecked Sendable {
    public let path: String
    public let pool: DatabasePool

    /// Marks quarry files in SQLite's header ("QRRY"), so foreign databases are recognised.
    static let applicationID: Int32 = 0x5152_5259

    /// How a command uses the store: `readOnly` ones (`task list`, `stats`, `export`) never
    /// create a file, and read a database they may not write (a shared, read-only copy).
    public enum Access: Sendable { case readWrite, readOnly }

    public init(path: String, access: Access = .readWrite) throws {
        self.path = path
        let fm = FileManager.default
        let exists = fm.fileExists(atPath: path)
        if exists {
            guard fm.isReadableFile(atPath: path) else { throw QuarryError("cannot read \(path): permission denied") }
            guard access == .readOnly || fm.isWritableFile(atPath: path) else {
                throw QuarryError("\(path) is read-only: labelling needs to write answers (check its permissions)")
            }
            try Self.checkHeader(path)
        } else if access == .readOnly {
            throw QuarryError("\(path) does not exist: create a task first (quarry task create NAME --db \(path)), or give the labels database with --db")
        } else {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty && !fm.fileExists(atPath: directory) {
                throw QuarryError("cannot create \(path): the directory \(directory) does not exist")
            }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.foreignKeysEnabled = true
        configuration.label = "quarry"
        configuration.readonly = access == .readOnly
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw QuarryError("cannot open \(path): \(Self.describe(error))")
        }
        do {
            if access == .readOnly {
                try Self.checkReadable(pool, path: path)
            } else {
                try Self.migrate(pool, path: path, isNew: !exists)
            }
        } catch let error as QuarryError {
            throw error
        } catch {
            throw QuarryError("cannot prepare \(path): \(Self.describe(error))")
        }
    }

    /// A file that is not SQLite at all gets a plain message rather than SQLite's "file is not a database".
    static func checkHeader(_ path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        let head = handle.readData(ofLength: 16)
        if head.isEmpty { return } // an empty file becomes a new database
        guard head == Data("SQLite format 3\0".utf8) else {
            throw QuarryError("\(path) is not a quarry labels database (not an SQLite file): give another --db path")
        }
    }

    static func describe(_ error: Error) -> String {
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_FULL: return "the disk is full"
            case .SQLITE_CORRUPT, .SQLITE_NOTADB: return "the file is corrupt or not a database"
            case .SQLITE_READONLY: return "the file or its directory is read-only"
            case .SQLITE_CANTOPEN: return "it cannot be opened (permissions, or a missing directory)"
            default: return db.message ?? "\(db.resultCode)"
            }
        }
        return "\(error)"
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: tasks, examples, annotations, sessions, adjudications") { db in
            try db.execute(sql: """
                CREATE TABLE task (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL CHECK (kind IN ('classify', 'span', 'response')),
                    labels TEXT NOT NULL,               -- JSON array of label names
                    multi_label INTEGER NOT NULL DEFAULT 0,
                    instructions TEXT NOT NULL DEFAULT '',
                    created_at REAL NOT NULL
                );
                CREATE TABLE example (
                    id INTEGER PRIMARY KEY,
                    task_id INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,          -- stream order within the task
                    content_hash INTEGER NOT NULL,      -- 64-bit hash of the text: de-duplication, and the --order random sequence
                    external_id TEXT,
                    text TEXT NOT NULL,
                    meta TEXT,                          -- JSON object
                    source TEXT,
                    UNIQUE (task_id, content_hash),
                    UNIQUE (task_id, position)
                );
                CREATE TABLE session (
                    id INTEGER PRIMARY KEY,
                    task_id INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,
                    annotator TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    ended_at REAL
                );
                CREATE TABLE annotation (
                    id INTEGER PRIMARY KEY,
                    example_id INTEGER NOT NULL REFERENCES example(id) ON DELETE CASCADE,
                    task_id INTEGER NOT NULL REFERENCES task(id) ON DELETE CASCADE,  -- denormalised: stats without joins
                    annotator TEXT NOT NULL,
                    answer TEXT NOT NULL,               -- JSON: a label, a list of labels, spans or a response
                    label TEXT,                         -- the label of single-label answers, for counting
                    created_at REAL NOT NULL,
                    session_id INTEGER REFERENCES session(id),
                    UNIQUE (task_id, example_id, annotator)   -- also serves per-task grouping by example
                );
                CREATE INDEX annotation_counts ON annotation(task_id, annotator, label);
                CREATE TABLE adjudication (
                    example_id INTEGER PRIMARY KEY REFERENCES example(id) ON DELETE CASCADE,
                    answer TEXT NOT NULL,
                    adjudicator TEXT NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE TABLE prediction (
                    example_id INTEGER NOT NULL REFERENCES example(id) ON DELETE CASCADE,
                    model TEXT NOT NULL,
                    label TEXT NOT NULL,
                    confidence REAL NOT NULL,
                    PRIMARY KEY (example_id, model)
                );
                CREATE INDEX prediction_by_confidence ON prediction(model, confidence);
                """)
        }
        migrator.registerMigration("v2: the process of each tagging session") { db in
            // Which process a session runs in, so a second session of the same annotator on the
            // same task is refused while the first is alive (both would serve the same examples).
            try db.execute(sql: """
                ALTER TABLE session ADD COLUMN host TEXT;
                ALTER TABLE session ADD COLUMN pid INTEGER;
                """)
        }
        return migrator
    }

    /// Read-only: nothing can be upgraded, so the schema must be this quarry's own.
    static func checkReadable(_ pool: DatabasePool, path: String) throws {
        try pool.read { db in
            let id = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
            guard id == applicationID else { throw QuarryError("\(path) is not a quarry labels database: give another --db path") }
            if try migrator.hasBeenSuperseded(db) {
                throw QuarryError("\(path) was written by a newer quarry (unknown schema version): upgrade quarry to open it")
            }
            // An older schema reads as well: what reading commands use is there since version 1.
        }
    }

    static func migrate(_ pool: DatabasePool, path: String, isNew: Bool) throws {
        try pool.writeWithoutTransaction { db in
            let id = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
            let tables = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0
            if id == 0 && tables > 0 {
                throw QuarryError("\(path) is an SQLite database of another program (no quarry tables): give another --db path")
            }
            if id != 0 && id != applicationID {
                throw QuarryError("\(path) belongs to another program (SQLite application id \(id)): give another --db path")
            }
            if try migrator.hasBeenSuperseded(db) {
                throw QuarryError("\(path) was written by a newer quarry (unknown schema version): upgrade quarry to open it")
            }
            if id == 0 { try db.execute(sql: "PRAGMA application_id = \(applicationID)") }
        }
        try migrator.migrate(pool)
    }
}
