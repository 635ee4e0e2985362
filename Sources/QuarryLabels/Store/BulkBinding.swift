import GRDB
import GRDBSQLite

/// Binds and steps a cached insert statement straight through SQLite.
///
/// Bulk import inserts a million rows on one thread; GRDB's `StatementArguments` boxes every
/// value in an existential, which cost more than SQLite's own work there. Only the import's
/// hot inserts come here; everything else stays on GRDB's typed API.
enum BulkBinding {
    enum Value {
        case int(Int64)
        case real(Double)
        case text(String?)

        static func int(_ value: Int) -> Value { .int(Int64(value)) }
    }

    /// SQLite copies the bytes before `sqlite3_bind_text` returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    static func execute(_ statement: Statement, db: Database, _ values: [Value]) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .int(let number): code = sqlite3_bind_int64(handle, index, number)
            case .real(let number): code = sqlite3_bind_double(handle, index, number)
            case .text(nil): code = sqlite3_bind_null(handle, index)
            case .text(let text?):
                var text = text
                code = text.withUTF8 { bytes in
                    guard let base = bytes.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, transient) }
                    return sqlite3_bind_text(handle, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(bytes.count), transient)
                }
            }
            guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection))) }
        }
        let step = sqlite3_step(handle)
        guard step == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: step), message: message, sql: statement.sql)
        }
    }
}
