import Foundation
import GRDB
import Synchronization

/// What became of a client assertion's `jti` at the token endpoint.
public enum AssertionUse: Sendable, Equatable {
    /// First use: recorded until the assertion expires.
    case fresh
    /// Already used: a replay.
    case replayed
    /// The identity already has `UsedAssertions.perIdentityMax` unexpired assertions recorded.
    case tooMany
}

/// The client assertions (their `jti`s) a node has accepted, kept until they expire, so that each
/// works once — across restarts too (RFC 7523 §3). Each identity may have at most
/// `UsedAssertions.perIdentityMax` unexpired ones, so no identity can crowd out the others.
public protocol UsedAssertionStore: Sendable {
    /// Records `jti` for `identity` unless it is recorded already or the identity is at its limit.
    /// Entries that expired before `keepAfter` (seconds since the epoch) are forgotten first.
    func use(identity: String, jti: String, expires: Int64, keepAfter: Int64) throws(StorageError) -> AssertionUse
}

public enum UsedAssertions {
    /// Most unexpired assertions recorded per identity. An assertion lives at most about six
    /// minutes and a token an hour, so a well-behaved client needs one or two.
    public static let perIdentityMax = 100
}

/// In memory, for tests and throwaway servers (a restart forgets every `jti`).
public final class InMemoryUsedAssertions: UsedAssertionStore {
    private let entries = Mutex<[String: [String: Int64]]>([:])

    public init() {}

    public func use(identity: String, jti: String, expires: Int64, keepAfter: Int64) throws(StorageError) -> AssertionUse {
        entries.withLock { all in
            var mine = (all[identity] ?? [:]).filter { $0.value > keepAfter }
            defer { all[identity] = mine.isEmpty ? nil : mine }
            if mine[jti] != nil { return .replayed }
            guard mine.count < UsedAssertions.perIdentityMax else { return .tooMany }
            mine[jti] = expires
            return .fresh
        }
    }
}

/// `assertions.sqlite` in the data directory; a `jti` is durable (synchronous = FULL) before the
/// token it bought is returned.
public final class SQLiteUsedAssertions: UsedAssertionStore {
    private let pool: DatabasePool

    public init(path: String) throws(StorageError) {
        do {
            pool = try SQLitePool.open(path: path).pool
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1-used-assertions") { db in
                try db.execute(sql: """
                    CREATE TABLE used_assertion (identity TEXT NOT NULL, jti TEXT NOT NULL, expires INTEGER NOT NULL,
                                                 PRIMARY KEY (identity, jti)) WITHOUT ROWID;
                    CREATE INDEX used_assertion_expires ON used_assertion (expires);
                    """)
            }
            try migrator.migrate(pool)
        } catch {
            throw .database("\(error)")
        }
    }

    public func use(identity: String, jti: String, expires: Int64, keepAfter: Int64) throws(StorageError) -> AssertionUse {
        do {
            return try pool.write { db in
                try db.execute(sql: "DELETE FROM used_assertion WHERE expires <= ?", arguments: [keepAfter])
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM used_assertion WHERE identity = ? AND jti = ?", arguments: [identity, jti]) != nil {
                    return .replayed
                }
                let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM used_assertion WHERE identity = ?", arguments: [identity]) ?? 0
                guard count < UsedAssertions.perIdentityMax else { return .tooMany }
                try db.execute(sql: "INSERT INTO used_assertion (identity, jti, expires) VALUES (?, ?, ?)", arguments: [identity, jti, expires])
                return .fresh
            }
        } catch {
            throw .database("\(error)")
        }
    }
}
