import Dispatch
import Foundation
import GRDB
import Synchronization

/// Opens the SQLite pools both stores use: WAL, no statement arguments in errors or logs, and
/// `synchronous=FULL` on the writer, so a write that returned survives power loss.
enum SQLitePool {
    /// Opens (creating if needed) `path`; `prepare` runs on every new connection. The store calls
    /// the returned checkpointer's `wrote()` after each write transaction.
    static func open(path: String, prepare: @escaping @Sendable (Database) throws -> Void = { _ in })
        throws -> (pool: DatabasePool, checkpointer: WALCheckpointer) {
        var config = Configuration()
        config.journalMode = .wal
        // Keep patient data out of logs and errors (STYLE.md lesson 16).
        config.publicStatementArguments = false
        config.busyMode = .timeout(5)
        config.prepareDatabase(prepare)
        let pool = try DatabasePool(path: path, configuration: config)
        // DatabasePool resets `synchronous` after prepareDatabase; set FULL on the writer now.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = \(WALCheckpointer.backstopPages)")
        }
        return (pool, try WALCheckpointer(path: path))
    }
}

extension DatabasePool {
    /// A write transaction that does not wait for the disk (`synchronous = NORMAL` for it alone):
    /// for changes that are recovered from elsewhere if a crash loses them. The next durable
    /// commit flushes it with itself, in order (WAL).
    func relaxedWrite<T>(_ updates: (Database) throws -> T) throws -> T {
        try writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
            var result: T?
            try db.inTransaction {
                result = try updates(db)
                return .commit
            }
            return result!
        }
    }
}

/// Copies the WAL into the database file from a connection of its own, shortly after writes.
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so every
/// write queued behind that commit (an audit append, the next Bundle) waits for the copy; here
/// the writer only appends to the WAL. The automatic checkpoint stays on as a backstop at
/// `backstopPages`, should this one fall behind.
final class WALCheckpointer: Sendable {
    /// Delay between a write and the checkpoint it schedules: writes meanwhile share it, and a
    /// page rewritten by several of them is copied once (100 ms measured slower for import).
    static let delayMs = 500
    /// WAL pages (4 KiB each) at which the committing writer checkpoints itself.
    static let backstopPages = 16_000
    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "careledger.wal-checkpoint", qos: .utility)
    private let scheduled = Atomic<Bool>(false)

    init(path: String) throws {
        var config = Configuration()
        config.publicStatementArguments = false
        config.busyMode = .timeout(5)
        connection = try DatabaseQueue(path: path, configuration: config)
    }

    /// Checkpoints everything and truncates the WAL to zero bytes, now (after an erasure, so no
    /// old page image stays in it). Serialized with the background checkpoints: SQLite runs one
    /// checkpoint at a time.
    func truncate() throws {
        try queue.sync { _ = try connection.writeWithoutTransaction { db in try db.checkpoint(.truncate) } }
    }

    /// Schedules a passive checkpoint (it never waits for readers or the writer) unless one is pending.
    func wrote() {
        guard !scheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.asyncAfter(deadline: .now() + .milliseconds(Self.delayMs)) { [weak self] in
            guard let self else { return }
            scheduled.store(false, ordering: .releasing)
            _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        }
    }
}
