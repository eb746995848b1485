import Foundation
import GRDB

/// Opens the SQLite pools both stores use: WAL, no statement arguments in errors or logs, and
/// `synchronous=FULL` on the writer, so a write that returned survives power loss.
enum SQLitePool {
    /// Opens (creating if needed) `path`; `prepare` runs on every new connection.
    static func open(path: String, prepare: @escaping @Sendable (Database) throws -> Void = { _ in }) throws -> DatabasePool {
        var config = Configuration()
        config.journalMode = .wal
        // Keep patient data out of logs and errors (STYLE.md lesson 16).
        config.publicStatementArguments = false
        config.busyMode = .timeout(5)
        config.prepareDatabase(prepare)
        let pool = try DatabasePool(path: path, configuration: config)
        // DatabasePool resets `synchronous` after prepareDatabase; set FULL on the writer now.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }
}
