import Foundation
import GRDB
import GRDBSQLite
import Vault

/// Writes and deletes a record's index rows (`blind_token`, `indexed_value`) through SQLite's own
/// binding calls on GRDB's cached statements. An import writes about 26 of these rows per resource;
/// GRDB's per-execution arguments (an array of boxed values, checked, bound, reset) cost a fifth
/// of the publish, as much as SQLite's insert itself.
enum IndexRows {
    /// Inserts the rows (duplicates ignored).
    static func insert(_ db: Database, record: Data, tokens: [[UInt8]], values: [IndexedValue]) throws {
        let token = try db.cachedStatement(sql: "INSERT OR IGNORE INTO blind_token (token, record) VALUES (?, ?)")
        let value = try db.cachedStatement(sql: "INSERT OR IGNORE INTO indexed_value (param, value, record) VALUES (?, ?, ?)")
        try run(db, token, record: record, tokens: tokens)
        try run(db, value, record: record, values: values)
    }

    /// Deletes the rows; returns how many there were.
    static func delete(_ db: Database, record: Data, tokens: [[UInt8]], values: [IndexedValue]) throws -> Int {
        let token = try db.cachedStatement(sql: "DELETE FROM blind_token WHERE token = ? AND record = ?")
        let value = try db.cachedStatement(sql: "DELETE FROM indexed_value WHERE param = ? AND value = ? AND record = ?")
        return try run(db, token, record: record, tokens: tokens) + run(db, value, record: record, values: values)
    }

    /// Runs `statement` (token, record) once per token; returns the rows changed.
    @discardableResult
    private static func run(_ db: Database, _ statement: Statement, record: Data, tokens: [[UInt8]]) throws -> Int {
        try record.withUnsafeBytes { record in
            var changed = 0
            for token in tokens {
                changed += try token.withUnsafeBytes { token in
                    try step(db, statement) { handle in
                        bind(handle, 1, blob: token)
                        bind(handle, 2, blob: record)
                    }
                }
            }
            return changed
        }
    }

    /// Runs `statement` (param, value, record) once per value; returns the rows changed.
    @discardableResult
    private static func run(_ db: Database, _ statement: Statement, record: Data, values: [IndexedValue]) throws -> Int {
        try record.withUnsafeBytes { record in
            var changed = 0
            for value in values {
                var (param, text) = (value.param, value.value)
                changed += try param.withUTF8 { param in
                    try text.withUTF8 { text in
                        try step(db, statement) { handle in
                            bind(handle, 1, text: param)
                            bind(handle, 2, text: text)
                            bind(handle, 3, blob: record)
                        }
                    }
                }
            }
            return changed
        }
    }

    /// Binds with `bindings`, steps once (the statement writes, returns no row), resets and clears
    /// the bindings. Bound buffers are not copied (SQLITE_STATIC): they outlive the step, and the
    /// bindings are cleared before the buffers go.
    private static func step(_ db: Database, _ statement: Statement, _ bindings: (OpaquePointer) -> Void) throws -> Int {
        let handle = statement.sqliteStatement
        bindings(handle)
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
        }
        return db.changesCount
    }

    private static func bind(_ handle: OpaquePointer, _ index: Int32, blob: UnsafeRawBufferPointer) {
        sqlite3_bind_blob(handle, index, blob.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(blob.count), nil)
    }

    private static func bind(_ handle: OpaquePointer, _ index: Int32, text: UnsafeBufferPointer<UInt8>) {
        text.withMemoryRebound(to: CChar.self) { text in
            sqlite3_bind_text(handle, index, text.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(text.count), nil)
        }
    }
}
