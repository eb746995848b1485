public import Foundation
import GRDB
public import LedgerCore

/// The embedded LedgerStore: SQLite through GRDB, WAL mode, `synchronous=FULL` on the writer,
/// one database transaction per block.
public final class SQLiteLedgerStore: SnapshotStore, AttestationStore, PrivatePayloadStore {
    private let pool: DatabasePool
    private let checkpointer: WALCheckpointer
    /// Page cache per connection, in KiB.
    public static let pageCacheKiB = 128 * 1024
    /// Path of the database file.
    public let path: String

    /// Opens (creating if needed) the store at `path` and migrates it.
    public init(path: String) throws {
        self.path = path
        do {
            (pool, checkpointer) = try SQLitePool.open(path: path) { db in
                // Random-key indexes (tx ids, state keys) need their upper B-tree levels in memory,
                // or commit cost grows with chain length.
                try db.execute(sql: "PRAGMA cache_size = -\(Self.pageCacheKiB)")
            }
            try Self.migrator.migrate(pool)
        } catch {
            throw StorageError.database("\(error)")
        }
    }

    /// Named, append-only schema migrations (never edit a released one).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-ledger") { db in
            try db.execute(sql: """
                CREATE TABLE block (
                    height INTEGER PRIMARY KEY,
                    header BLOB NOT NULL,
                    signature BLOB NOT NULL
                );
                CREATE TABLE tx (
                    log_index INTEGER PRIMARY KEY,
                    id BLOB NOT NULL,
                    height INTEGER NOT NULL,
                    bytes BLOB NOT NULL,
                    leaf_hash BLOB NOT NULL,
                    result BLOB NOT NULL
                );
                CREATE UNIQUE INDEX tx_by_id ON tx(id);
                CREATE TABLE state (
                    key TEXT PRIMARY KEY,
                    value BLOB NOT NULL,
                    height INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE log_node (
                    level INTEGER NOT NULL,
                    idx INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    PRIMARY KEY (level, idx)
                ) WITHOUT ROWID;
                """)
        }
        // Certificate Transparency's proof-by-hash looks transactions up by leaf hash.
        migrator.registerMigration("v2-leaf-index") { db in
            try db.execute(sql: "CREATE INDEX tx_by_leaf ON tx(leaf_hash)")
        }
        // A consortium node's place in the shared ordered log: one row, written with the block.
        migrator.registerMigration("v3-ordering-position") { db in
            try db.execute(sql: "CREATE TABLE ordering (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL)")
        }
        // A consortium node's attestations (its own and other organizations') and final height.
        migrator.registerMigration("v4-attestations") { db in
            try db.execute(sql: """
                CREATE TABLE attestation (height INTEGER NOT NULL, attester BLOB NOT NULL, bytes BLOB NOT NULL,
                                          PRIMARY KEY (height, attester)) WITHOUT ROWID;
                CREATE TABLE finality (id INTEGER PRIMARY KEY CHECK (id = 1), height INTEGER NOT NULL);
                """)
        }
        // The private payloads this node is entitled to, by transaction id.
        migrator.registerMigration("v5-private-payloads") { db in
            try db.execute(sql: "CREATE TABLE private_payload (tx BLOB PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID")
        }
        // A store installed from a snapshot: the checkpoint it began at (blocks below are not in it).
        migrator.registerMigration("v6-snapshot-base") { db in
            try db.execute(sql: "CREATE TABLE snapshot_base (id INTEGER PRIMARY KEY CHECK (id = 1), height INTEGER NOT NULL, digest BLOB NOT NULL)")
        }
        return migrator
    }

    /// A write transaction; the WAL checkpoint it makes due runs off this path.
    private func write<T>(_ updates: (Database) throws -> T) throws -> T {
        defer { checkpointer.wrote() }
        return try pool.write(updates)
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StorageError { throw error } catch let error as SnapshotError { throw error } catch {
            throw StorageError.database("\(error)")
        }
    }

    public func head() throws -> BlockHeader? {
        try wrap {
            try pool.read { db in
                try Data.fetchOne(db, sql: "SELECT header FROM block ORDER BY height DESC LIMIT 1")
            }.map { try BlockHeader(decoding: Array($0)) }
        }
    }

    /// Not waiting for the disk: attestations lost in a crash are read again from the board (from
    /// the stored final height on) and the node attests its unfinal blocks again; the next block's
    /// commit makes them durable anyway.
    public func saveAttestations(_ attestations: [Attestation], finalHeight: UInt64?) throws {
        try wrap {
            defer { checkpointer.wrote() }
            try pool.relaxedWrite { db in
                let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO attestation (height, attester, bytes) VALUES (?, ?, ?)")
                for attestation in attestations {
                    insert.setUncheckedArguments([Int64(attestation.height), Data(attestation.attester.bytes), Data(attestation.encoded)])
                    try insert.execute()
                }
                if let finalHeight {
                    try db.execute(sql: "INSERT INTO finality (id, height) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET height = max(height, excluded.height)",
                                   arguments: [Int64(finalHeight)])
                }
            }
        }
    }

    public func attestations(height: UInt64) throws -> [Attestation] {
        try attestations(sql: "SELECT bytes FROM attestation WHERE height = ? ORDER BY attester", Int64(height), nil)
    }

    public func attestations(from height: UInt64, limit: Int) throws -> [Attestation] {
        try attestations(sql: "SELECT bytes FROM attestation WHERE height >= ? ORDER BY height, attester LIMIT ?", Int64(height), limit)
    }

    private func attestations(sql: String, _ height: Int64, _ limit: Int?) throws -> [Attestation] {
        try wrap {
            try pool.read { db in
                try Data.fetchAll(db, sql: sql, arguments: limit.map { [height, $0] } ?? [height])
            }.map { try Attestation(decoding: Array($0)) }
        }
    }

    public func savePrivatePayloads(_ payloads: [(id: Hash256, bytes: [UInt8])]) throws {
        guard !payloads.isEmpty else { return }
        try wrap {
            try write { db in
                let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO private_payload (tx, bytes) VALUES (?, ?)")
                for payload in payloads {
                    insert.setUncheckedArguments([Data(payload.id.bytes), Data(payload.bytes)])
                    try insert.execute()
                }
            }
        }
    }

    public func privatePayloads(_ ids: [Hash256]) throws -> [Hash256: [UInt8]] {
        guard !ids.isEmpty else { return [:] }
        return try wrap {
            try pool.read { db in
                var found: [Hash256: [UInt8]] = [:]
                let select = try db.cachedStatement(sql: "SELECT bytes FROM private_payload WHERE tx = ?")
                for id in ids {
                    if let bytes = try Data.fetchOne(select, arguments: [Data(id.bytes)]) { found[id] = Array(bytes) }
                }
                return found
            }
        }
    }

    public func finalHeight() throws -> UInt64? {
        try wrap { try pool.read { db in try Int64.fetchOne(db, sql: "SELECT height FROM finality WHERE id = 1") }.map { UInt64($0) } }
    }

    public func orderingPosition() throws -> Int64? {
        try wrap { try pool.read { db in try Int64.fetchOne(db, sql: "SELECT position FROM ordering WHERE id = 1") } }
    }

    public func commit(_ commit: BlockCommit) throws {
        try self.commit([commit])
    }

    public func commit(_ commits: [BlockCommit]) throws {
        guard !commits.isEmpty else { return }
        try wrap {
            try write { db in
                for commit in commits { try Self.insert(commit, into: db) }
            }
        }
    }

    private static func insert(_ commit: BlockCommit, into db: Database) throws {
        let block = commit.block
        let height = block.header.height
        if let position = commit.orderingPosition {
            try db.execute(sql: "INSERT INTO ordering (id, position) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET position = excluded.position",
                           arguments: [position])
        }
        let last = try Int64.fetchOne(db, sql: "SELECT max(height) FROM block")
        let expected = last.map { UInt64($0) + 1 } ?? 0
        guard height == expected else { throw StorageError.notAContiguousBlock(expected: expected, got: height) }
        try db.execute(
            sql: "INSERT INTO block (height, header, signature) VALUES (?, ?, ?)",
            arguments: [Int64(height), Data(block.header.encoded), Data(block.signature)])
        let txStatement = try db.cachedStatement(
            sql: "INSERT INTO tx (log_index, id, height, bytes, leaf_hash, result) VALUES (?, ?, ?, ?, ?, ?)")
        for (offset, tx) in block.transactions.enumerated() {
            txStatement.setUncheckedArguments([
                Int64(commit.firstLogIndex) + Int64(offset), Data(tx.id.bytes), Int64(height), Data(tx.bytes),
                Data(commit.leafHashes[offset].bytes), Data(block.results[offset].encoded),
            ])
            try txStatement.execute()
        }
        let nodeStatement = try db.cachedStatement(sql: "INSERT INTO log_node (level, idx, hash) VALUES (?, ?, ?)")
        for node in commit.logNodes {
            nodeStatement.setUncheckedArguments([node.level, Int64(node.index), Data(node.hash.bytes)])
            try nodeStatement.execute()
        }
        let upsert = try db.cachedStatement(
            sql: "INSERT INTO state (key, value, height) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, height = excluded.height")
        let delete = try db.cachedStatement(sql: "DELETE FROM state WHERE key = ?")
        for entry in commit.writeSet.entries {
            if let value = entry.value {
                upsert.setUncheckedArguments([entry.key, Data(value), Int64(height)])
                try upsert.execute()
            } else {
                delete.setUncheckedArguments([entry.key])
                try delete.execute()
            }
        }
    }

    public func rawBlock(height: UInt64) throws -> RawBlock? {
        // SQLite integers are signed: a height past Int64.max names no row (and must not trap).
        guard let height = Int64(exactly: height) else { return nil }
        return try wrap {
            try pool.read { db -> RawBlock? in
                guard let row = try Row.fetchOne(db, sql: "SELECT header, signature FROM block WHERE height = ?", arguments: [height]) else {
                    return nil
                }
                let headerBytes = Array(row["header"] as Data)
                var txs: [[UInt8]] = []
                var results: [[UInt8]] = []
                // The header says where the block's transactions sit in the log; an undecodable
                // header yields no transactions and the verifier reports the header.
                if let header = try? BlockHeader(decoding: headerBytes) {
                    let first = Int64(header.logSize) - Int64(header.transactionCount)
                    let rows = try Row.fetchCursor(
                        db, sql: "SELECT bytes, result FROM tx WHERE log_index >= ? AND log_index < ? ORDER BY log_index",
                        arguments: [first, Int64(header.logSize)])
                    while let tx = try rows.next() {
                        txs.append(Array(tx["bytes"] as Data))
                        results.append(Array(tx["result"] as Data))
                    }
                }
                return RawBlock(headerBytes: headerBytes, signature: Array(row["signature"] as Data),
                                transactionBytes: txs, resultBytes: results)
            }
        }
    }

    public func header(height: UInt64) throws -> BlockHeader? {
        guard let height = Int64(exactly: height) else { return nil }  // no such row; Int64(height) would trap
        return try wrap {
            try pool.read { db in
                try Data.fetchOne(db, sql: "SELECT header FROM block WHERE height = ?", arguments: [height])
            }.map { try BlockHeader(decoding: Array($0)) }
        }
    }

    public func location(of id: Hash256) throws -> TransactionLocation? {
        try wrap {
            try pool.read { db -> TransactionLocation? in
                // Cached: a consortium node asks this for every transaction it reads from the log.
                let statement = try db.cachedStatement(sql: "SELECT log_index, height, result FROM tx WHERE id = ?")
                guard let row = try Row.fetchOne(statement, arguments: [Data(id.bytes)]) else {
                    return nil
                }
                return TransactionLocation(logIndex: UInt64(row["log_index"] as Int64), height: UInt64(row["height"] as Int64),
                                           result: try TransactionResult(decoding: Array(row["result"] as Data)))
            }
        }
    }

    public func committedIDs(_ ids: [Hash256]) throws -> Set<Hash256> {
        guard !ids.isEmpty else { return [] }
        return try wrap {
            try pool.read { db in
                // A consortium node asks this for every batch it reads from the log.
                let statement = try db.cachedStatement(sql: "SELECT 1 FROM tx WHERE id = ?")
                var found: Set<Hash256> = []
                for id in ids {
                    statement.setUncheckedArguments([Data(id.bytes)])
                    if try Int64.fetchOne(statement) != nil { found.insert(id) }
                }
                return found
            }
        }
    }

    public func logIndex(ofLeafHash leafHash: Hash256) throws -> UInt64? {
        try wrap {
            try pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT log_index FROM tx WHERE leaf_hash = ? ORDER BY log_index LIMIT 1",
                                   arguments: [Data(leafHash.bytes)])
            }.map { UInt64($0) }
        }
    }

    public func transactionBytes(logIndex: UInt64) throws -> [UInt8]? {
        guard let logIndex = Int64(exactly: logIndex) else { return nil }  // no such row; Int64(logIndex) would trap
        return try wrap {
            try pool.read { db in
                try Data.fetchOne(db, sql: "SELECT bytes FROM tx WHERE log_index = ?", arguments: [logIndex])
            }.flatMap { $0.isEmpty ? nil : Array($0) }  // empty: before the snapshot the store was installed from
        }
    }

    public func state(_ key: String) throws -> [UInt8]? {
        try wrap {
            // One SELECT is atomic on its own: no BEGIN/COMMIT around it (a third of a point read's cost).
            try pool.unsafeRead { db in
                let statement = try db.cachedStatement(sql: "SELECT value FROM state WHERE key = ?")
                statement.setUncheckedArguments([key])
                return try Data.fetchOne(statement)
            }.map { Array($0) }
        }
    }

    public func states(_ keys: [String]) throws -> [String: [UInt8]] {
        try wrap {
            try pool.read { db in
                let statement = try db.cachedStatement(sql: "SELECT value FROM state WHERE key = ?")
                var found: [String: [UInt8]] = [:]
                for key in keys {
                    statement.setUncheckedArguments([key])
                    if let data = try Data.fetchOne(statement) { found[key] = Array(data) }
                }
                return found
            }
        }
    }

    public func states(prefix: String, after: String?, limit: Int) throws -> [(key: String, value: [UInt8])] {
        try wrap {
            try pool.read { db in
                let rows = try Row.fetchAll(
                    db, sql: "SELECT key, value FROM state WHERE key > ? AND key < ? ORDER BY key LIMIT ?",
                    arguments: [max(after ?? prefix, prefix), StatePrefix.upperBound(prefix), limit])
                return rows.map { (key: $0["key"] as String, value: Array($0["value"] as Data)) }
            }
        }
    }

    public func forEachState(_ body: (_ key: String, _ value: [UInt8], _ height: UInt64) throws -> Void) throws {
        try wrap {
            try pool.read { db in
                let rows = try Row.fetchCursor(db, sql: "SELECT key, value, height FROM state ORDER BY key")
                while let row = try rows.next() { try body(row["key"], Array(row["value"] as Data), UInt64(row["height"] as Int64)) }
            }
        }
    }

    public func forEachLogNode(_ body: (MerkleFrontier.Node) throws -> Void) throws {
        try wrap {
            try pool.read { db in
                let rows = try Row.fetchCursor(db, sql: "SELECT level, idx, hash FROM log_node ORDER BY level, idx")
                while let row = try rows.next() {
                    guard let hash = Hash256(bytes: Array(row["hash"] as Data)) else { throw StorageError.corrupt("log node hash is not 32 bytes") }
                    try body(MerkleFrontier.Node(level: row["level"], index: UInt64(row["idx"] as Int64), hash: hash))
                }
            }
        }
    }

    public func forEachTransactionEntry(_ body: (_ logIndex: UInt64, _ id: [UInt8], _ leafHash: [UInt8], _ height: UInt64) throws -> Void) throws {
        try wrap {
            try pool.read { db in
                let rows = try Row.fetchCursor(db, sql: "SELECT log_index, id, leaf_hash, height FROM tx ORDER BY log_index")
                while let row = try rows.next() {
                    try body(UInt64(row["log_index"] as Int64), Array(row["id"] as Data), Array(row["leaf_hash"] as Data),
                             UInt64(row["height"] as Int64))
                }
            }
        }
    }

    public func recentTransactionIDs(limit: Int) throws -> [Hash256] {
        try wrap {
            try pool.read { db in
                try Data.fetchAll(db, sql: "SELECT id FROM tx ORDER BY log_index DESC LIMIT ?", arguments: [limit])
            }.compactMap { Hash256(bytes: Array($0)) }
        }
    }

    public func subtreeHash(level: Int, index: UInt64) throws -> Hash256 {
        try wrap {
            let data = try pool.read { db in
                level == 0
                    ? try Data.fetchOne(db, sql: "SELECT leaf_hash FROM tx WHERE log_index = ?", arguments: [Int64(index)])
                    : try Data.fetchOne(db, sql: "SELECT hash FROM log_node WHERE level = ? AND idx = ?", arguments: [level, Int64(index)])
            }
            guard let data else { throw StorageError.missing("log node level \(level) index \(index)") }
            guard let hash = Hash256(bytes: Array(data)) else { throw StorageError.corrupt("log node level \(level) index \(index)") }
            return hash
        }
    }

    // MARK: snapshots

    public func view() throws -> any LedgerStoreView {
        try wrap { SQLiteStoreView(snapshot: try pool.makeSnapshot()) }
    }

    public func snapshotBase() throws -> SnapshotBase? {
        try wrap {
            try pool.read { db in try Row.fetchOne(db, sql: "SELECT height, digest FROM snapshot_base WHERE id = 1") }.map { row in
                guard let digest = Hash256(bytes: Array(row["digest"] as Data)) else { throw StorageError.corrupt("snapshot base digest") }
                return SnapshotBase(height: UInt64(row["height"] as Int64), digest: digest)
            }
        }
    }

    public func install(from frames: ((SnapshotFrame) throws -> Void) throws -> Void, checker: SnapshotChecker, digest: Hash256, position: Int64?) throws {
        var checker = checker
        try wrap {
            try write { db in
                guard try Int64.fetchOne(db, sql: "SELECT max(height) FROM block") == 0, try Int64.fetchOne(db, sql: "SELECT count(*) FROM block") == 1 else {
                    throw StorageError.corrupt("a snapshot is installed only into a store that holds the genesis block alone")
                }
                // The genesis block stays, with its transactions' bytes (its founders name the quorum);
                // the snapshot's index, log and state replace the rest.
                var blockBytes: [Hash256: [UInt8]] = [:]
                var genesisIDs: [Hash256] = []
                for row in try Row.fetchAll(db, sql: "SELECT id, bytes FROM tx WHERE height = 0 ORDER BY log_index") {
                    guard let id = Hash256(bytes: Array(row["id"] as Data)) else { throw StorageError.corrupt("a genesis transaction id") }
                    blockBytes[id] = Array(row["bytes"] as Data)
                    genesisIDs.append(id)
                }
                try db.execute(sql: "DELETE FROM tx; DELETE FROM log_node; DELETE FROM state")
                let txStatement = try db.cachedStatement(
                    sql: "INSERT INTO tx (log_index, id, height, bytes, leaf_hash, result) VALUES (?, ?, ?, ?, ?, ?)")
                let nodeStatement = try db.cachedStatement(sql: "INSERT INTO log_node (level, idx, hash) VALUES (?, ?, ?)")
                let stateStatement = try db.cachedStatement(sql: "INSERT INTO state (key, value, height) VALUES (?, ?, ?)")
                var logIndex: Int64 = 0
                try frames { frame in
                    let nodes = try checker.check(frame)
                    switch frame {
                    case .head(_, let raw):
                        let header = checker.header!
                        try db.execute(sql: "INSERT INTO block (height, header, signature) VALUES (?, ?, ?)",
                                       arguments: [Int64(header.height), Data(raw.headerBytes), Data(raw.signature)])
                        for bytes in raw.transactionBytes { blockBytes[try Transaction(decoding: bytes).id] = bytes }
                    case .state(let entries):
                        for entry in entries {
                            stateStatement.setUncheckedArguments([entry.key, Data(entry.value), Int64(entry.height)])
                            try stateStatement.execute()
                        }
                    case .transactions(let entries):
                        for entry in entries {
                            try SnapshotChecker.checkGenesis(entry, at: Int(logIndex), genesis: genesisIDs)
                            txStatement.setUncheckedArguments([logIndex, Data(entry.id.bytes), Int64(entry.height),
                                                               Data(blockBytes[entry.id] ?? []), Data(entry.leafHash.bytes), Data(entry.result)])
                            try txStatement.execute()
                            logIndex += 1
                        }
                        for node in nodes {
                            nodeStatement.setUncheckedArguments([node.level, Int64(node.index), Data(node.hash.bytes)])
                            try nodeStatement.execute()
                        }
                    case .end: break
                    }
                }
                guard checker.finished else { throw SnapshotError.malformed("it ends before its end frame") }
                if let position {
                    try db.execute(sql: "INSERT INTO ordering (id, position) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET position = excluded.position",
                                   arguments: [position])
                }
                try db.execute(sql: "INSERT INTO snapshot_base (id, height, digest) VALUES (1, ?, ?)",
                               arguments: [Int64(checker.claim.height), Data(digest.bytes)])
            }
        }
    }

    /// Runs raw SQL on the writer. For tamper tests and the demo's tamper chapter only.
    public func unsafeExecute(_ sql: String, arguments: [Data] = []) throws {
        try wrap { try write { db in try db.execute(sql: sql, arguments: StatementArguments(arguments)) } }
    }

    /// Writes a copy of the whole store, as of one moment, to a new file at `path` (SQLite's
    /// `VACUUM INTO`, on the writer's connection: no block is half in it). Copying the file itself
    /// is not that: a checkpoint may be writing pages into it meanwhile.
    public func copy(to path: String) throws {
        try wrap { try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) } }
    }

    /// Flushes the WAL into the main database file (also done automatically by SQLite).
    public func checkpoint() throws {
        try wrap { try checkpointer.truncate() }
    }
}

/// A store read at one moment: a read transaction kept open on its own connection (WAL lets the
/// writer go on; the view sees none of its later blocks).
final class SQLiteStoreView: LedgerStoreView {
    private let snapshot: DatabaseSnapshot

    init(snapshot: DatabaseSnapshot) { self.snapshot = snapshot }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try snapshot.read(body) } catch let error as StorageError { throw error } catch { throw StorageError.database("\(error)") }
    }

    func head() throws -> BlockHeader? {
        try read { db in try Data.fetchOne(db, sql: "SELECT header FROM block ORDER BY height DESC LIMIT 1") }
            .map { try BlockHeader(decoding: Array($0)) }
    }

    func orderingPosition() throws -> Int64? { try read { db in try Int64.fetchOne(db, sql: "SELECT position FROM ordering WHERE id = 1") } }

    func rawBlock(height: UInt64) throws -> RawBlock? {
        guard let height = Int64(exactly: height) else { return nil }
        return try read { db -> RawBlock? in
            guard let row = try Row.fetchOne(db, sql: "SELECT header, signature FROM block WHERE height = ?", arguments: [height]) else { return nil }
            let headerBytes = Array(row["header"] as Data)
            let header = try BlockHeader(decoding: headerBytes)
            let rows = try Row.fetchAll(db, sql: "SELECT bytes, result FROM tx WHERE log_index >= ? AND log_index < ? ORDER BY log_index",
                                        arguments: [Int64(header.logSize) - Int64(header.transactionCount), Int64(header.logSize)])
            return RawBlock(headerBytes: headerBytes, signature: Array(row["signature"] as Data),
                            transactionBytes: rows.map { Array($0["bytes"] as Data) }, resultBytes: rows.map { Array($0["result"] as Data) })
        }
    }

    func forEachSharedState(_ body: (SnapshotStateEntry) throws -> Void) throws {
        try read { db in
            // Private collections' keys ("private/…") sort together: skip their range.
            let rows = try Row.fetchCursor(db, sql: "SELECT key, value, height FROM state WHERE key < ? OR key >= ? ORDER BY key",
                                           arguments: [PrivateEnvelope.keyPrefix, StatePrefix.upperBound(PrivateEnvelope.keyPrefix)])
            while let row = try rows.next() {
                try body(SnapshotStateEntry(key: row["key"], value: Array(row["value"] as Data), height: UInt64(row["height"] as Int64)))
            }
        }
    }

    func forEachTransaction(_ body: (SnapshotTransactionEntry) throws -> Void) throws {
        try read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, leaf_hash, height, result FROM tx ORDER BY log_index")
            while let row = try rows.next() {
                guard let id = Hash256(bytes: Array(row["id"] as Data)), let leaf = Hash256(bytes: Array(row["leaf_hash"] as Data)) else {
                    throw StorageError.corrupt("a transaction id or leaf hash is not 32 bytes")
                }
                try body(SnapshotTransactionEntry(id: id, leafHash: leaf, height: UInt64(row["height"] as Int64), result: Array(row["result"] as Data)))
            }
        }
    }
}
