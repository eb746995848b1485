import Foundation
import GRDB
public import LedgerCore
import Synchronization
public import Vault

/// The embedded VaultStore: `vault.sqlite` next to the ledger. Only ciphertext, wrapped keys,
/// keyed hashes, codes and pseudonymous ids are written; `secure_delete` zeroes erased content and
/// an erasure truncates the WAL, so nothing of an erased record stays in the files.
public final class SQLiteVaultStore: VaultStore, Sendable {
    private let pool: DatabasePool
    private let checkpointer: WALCheckpointer
    /// The audit log's frontier; guarded because appends come from many tasks.
    private let frontier: Mutex<MerkleFrontier>
    /// Most audit entries one append takes.
    public static let auditBatchMax = 10_000

    /// Page cache of the writer connection, in KiB.
    public static let pageCacheKiB = 64 * 1024

    /// Opens (creating if needed) the store at `path`.
    public init(path: String) throws {
        do {
            (pool, checkpointer) = try SQLitePool.open(path: path) { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
            // The writer's index tables (keyed tokens, codes, dates) take random-key inserts: keep
            // their B-tree pages in memory instead of re-reading them from the file on every write.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -\(Self.pageCacheKiB)") }
            try Self.migrator.migrate(pool)
            let size = try pool.read { db in try Int64.fetchOne(db, sql: "SELECT count(*) FROM audit_entry") ?? 0 }
            frontier = Mutex(MerkleFrontier())
            let loaded = try MerkleFrontier(size: UInt64(size), source: self)
            frontier.withLock { $0 = loaded }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.database("\(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-vault") { db in
            try db.execute(sql: """
                CREATE TABLE blob (hash BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
                CREATE TABLE record_version (
                    record BLOB NOT NULL, version INTEGER NOT NULL, patient BLOB NOT NULL, blob_hash BLOB NOT NULL,
                    PRIMARY KEY (record, version)
                ) WITHOUT ROWID;
                CREATE TABLE wrapped_key (
                    record BLOB NOT NULL, version INTEGER NOT NULL, recipient BLOB NOT NULL, wrapped BLOB NOT NULL,
                    PRIMARY KEY (record, version, recipient)
                ) WITHOUT ROWID;
                CREATE TABLE blind_token (token BLOB NOT NULL, record BLOB NOT NULL, PRIMARY KEY (token, record)) WITHOUT ROWID;
                CREATE INDEX blind_token_by_record ON blind_token(record);
                CREATE TABLE indexed_value (
                    param TEXT NOT NULL, value TEXT NOT NULL, record BLOB NOT NULL, PRIMARY KEY (param, value, record)
                ) WITHOUT ROWID;
                CREATE INDEX indexed_value_by_record ON indexed_value(record);
                CREATE TABLE audit_entry (idx INTEGER PRIMARY KEY, patient BLOB NOT NULL, entry BLOB NOT NULL, leaf_hash BLOB NOT NULL);
                CREATE INDEX audit_by_patient ON audit_entry(patient, idx);
                CREATE TABLE audit_node (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
                """)
        }
        // Patient-compartment searches (FHIR `patient=`) read record versions by patient.
        migrator.registerMigration("v2-record-by-patient") { db in
            try db.execute(sql: "CREATE INDEX record_version_by_patient ON record_version(patient, record)")
        }
        // Data keys wrapped under per-patient keys (one HPKE wrap per patient and reader, not per
        // record), kept in the version's row. Each record's index entries are listed in its latest
        // version's row, so replacing or erasing them deletes exact keys: the by-record indexes,
        // two random-key inserts per index entry, go. Blobs (often kilobytes) move to a rowid
        // table: new ones are appended in order and only the small hash index takes random
        // inserts (keyed by the hash, nearly every insert split a leaf page).
        migrator.registerMigration("v3-patient-keys-compact-index") { db in
            try db.execute(sql: """
                CREATE TABLE patient_key (id BLOB PRIMARY KEY, patient BLOB NOT NULL, custodian BLOB NOT NULL);
                CREATE INDEX patient_key_by_owner ON patient_key(patient, custodian);
                CREATE TABLE patient_key_copy (
                    id BLOB NOT NULL, recipient BLOB NOT NULL, agreement_key BLOB NOT NULL, wrapped BLOB NOT NULL,
                    PRIMARY KEY (id, recipient)
                ) WITHOUT ROWID;
                ALTER TABLE record_version ADD COLUMN data_key BLOB;
                ALTER TABLE record_version ADD COLUMN index_keys BLOB;
                CREATE TABLE blob_by_rowid (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
                INSERT INTO blob_by_rowid (hash, data) SELECT hash, data FROM blob;
                DROP TABLE blob;
                ALTER TABLE blob_by_rowid RENAME TO blob;
                """)
            let latest = try Row.fetchAll(db, sql: "SELECT record, max(version) AS version FROM record_version GROUP BY record")
            for row in latest {
                let record = row["record"] as Data
                let tokens = try Data.fetchAll(db, sql: "SELECT token FROM blind_token WHERE record = ?", arguments: [record]).map { Array($0) }
                let values = try Row.fetchAll(db, sql: "SELECT param, value FROM indexed_value WHERE record = ?", arguments: [record])
                    .map { IndexedValue(param: $0["param"], value: $0["value"]) }
                try db.execute(sql: "UPDATE record_version SET index_keys = ? WHERE record = ? AND version = ?",
                               arguments: [Data(IndexKeys.encode(tokens: tokens, values: values)), record, row["version"] as Int64])
            }
            try db.execute(sql: "DROP INDEX blind_token_by_record; DROP INDEX indexed_value_by_record")
        }
        // Versions are stored pending until the ledger accepts them: a refused write must leave
        // neither its index entries nor its ciphertext (security review finding 5).
        migrator.registerMigration("v4-pending-versions") { db in
            try db.execute(sql: """
                CREATE TABLE pending_version (
                    record BLOB NOT NULL, version INTEGER NOT NULL, blob_hash BLOB NOT NULL, patient BLOB NOT NULL,
                    data_key BLOB NOT NULL, index_keys BLOB NOT NULL, PRIMARY KEY (record, version, blob_hash)
                ) WITHOUT ROWID;
                """)
        }
        // A version's row carries its index listing (about 1.2 KiB on average for a Synthea
        // resource): too large for a WITHOUT ROWID table, whose rows spill past about 1 KiB into
        // an overflow page each. As rowid tables (their keys unique) each row fits its leaf page,
        // and SQLite writes a quarter of the pages for the same versions (an insert benchmark of
        // 1.2 KiB rows: 7,058 rows/s without rowid, 26,292 with; docs/benchmarks.md).
        migrator.registerMigration("v5-rowid-versions") { db in
            try db.execute(sql: """
                CREATE TABLE record_version_v5 (
                    record BLOB NOT NULL, version INTEGER NOT NULL, patient BLOB NOT NULL, blob_hash BLOB NOT NULL, data_key BLOB, index_keys BLOB,
                    UNIQUE (record, version)
                );
                INSERT INTO record_version_v5 (record, version, patient, blob_hash, data_key, index_keys)
                    SELECT record, version, patient, blob_hash, data_key, index_keys FROM record_version ORDER BY record, version;
                DROP TABLE record_version;
                ALTER TABLE record_version_v5 RENAME TO record_version;
                CREATE INDEX record_version_by_patient ON record_version(patient, record);
                CREATE TABLE pending_version_v5 (
                    record BLOB NOT NULL, version INTEGER NOT NULL, blob_hash BLOB NOT NULL, patient BLOB NOT NULL,
                    data_key BLOB NOT NULL, index_keys BLOB NOT NULL, UNIQUE (record, version, blob_hash)
                );
                INSERT INTO pending_version_v5 (record, version, blob_hash, patient, data_key, index_keys)
                    SELECT record, version, blob_hash, patient, data_key, index_keys FROM pending_version ORDER BY record, version, blob_hash;
                DROP TABLE pending_version;
                ALTER TABLE pending_version_v5 RENAME TO pending_version;
                """)
        }
        return migrator
    }

    /// A write transaction; the WAL checkpoint it makes due runs off this path.
    private func write<T>(_ updates: (Database) throws -> T) throws -> T {
        defer { checkpointer.wrote() }
        return try pool.write(updates)
    }

    private func relaxedWrite<T>(_ updates: (Database) throws -> T) throws -> T {
        defer { checkpointer.wrote() }
        return try pool.relaxedWrite(updates)
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StorageError { throw error } catch let error as VaultError { throw error } catch {
            throw StorageError.database("\(error)")
        }
    }

    // MARK: blobs

    public func putBlob(_ sealed: SealedRecord) throws -> Hash256 {
        try wrap {
            try write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO blob (hash, data) VALUES (?, ?)", arguments: [Data(sealed.hash.bytes), Data(sealed.bytes)])
            }
        }
        return sealed.hash
    }

    public func blob(_ hash: Hash256) throws -> SealedRecord? {
        try wrap {
            guard let data = try pool.read({ db in try Data.fetchOne(db, sql: "SELECT data FROM blob WHERE hash = ?", arguments: [Data(hash.bytes)]) })
            else { return nil }
            return try Self.verifiedBlob(data, hash: hash)
        }
    }

    /// Stored blob bytes, checked against the content address they were read by.
    private static func verifiedBlob(_ data: Data, hash: Hash256) throws -> SealedRecord {
        let sealed = try SealedRecord(bytes: Array(data))
        guard sealed.hash == hash else { throw VaultError.authenticationFailed("stored blob \(hash.hex) does not match its hash; it was altered") }
        return sealed
    }

    public func deleteBlob(_ hash: Hash256) throws {
        try wrap { try write { db in try db.execute(sql: "DELETE FROM blob WHERE hash = ?", arguments: [Data(hash.bytes)]) } }
    }

    // MARK: records

    public func put(_ versions: [StoredRecordVersion]) throws {
        try wrap {
            try write { db in
              var keysStored = Set<Hash256>()
              for version in versions where keysStored.insert(version.patientKey.id).inserted {
                let key = version.patientKey
                try db.execute(sql: "INSERT OR IGNORE INTO patient_key (id, patient, custodian) VALUES (?, ?, ?)",
                               arguments: [Data(key.id.bytes), Data(key.patient.bytes), Data(key.custodian.bytes)])
                let copy = try db.cachedStatement(sql: "INSERT OR IGNORE INTO patient_key_copy (id, recipient, agreement_key, wrapped) VALUES (?, ?, ?, ?)")
                for (recipient, made) in key.copies {
                    try copy.execute(arguments: [Data(key.id.bytes), Data(recipient.bytes), Data(made.agreementKey), Data(made.wrapped.bytes)])
                }
              }
              for version in versions {
                let blobHash = Data(version.blob.hash.bytes)
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO blob (hash, data) VALUES (?, ?)").execute(arguments: [blobHash, Data(version.blob.bytes)])
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO pending_version (record, version, blob_hash, patient, data_key, index_keys) VALUES (?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [Data(version.record.bytes), Int64(version.version), blobHash, Data(version.patient.bytes),
                                             Data(version.dataKey.bytes),
                                             Data(IndexKeys.encode(tokens: version.blindTokens.map(\.bytes), values: version.values))])
              }
            }
        }
    }

    public func publish(_ versions: [PendingVersion]) throws {
        guard !versions.isEmpty else { return }
        try wrap {
            // Not waited for: a publish a crash loses is redone on open (`AccessService.recoverPendingWrites`
            // publishes every pending version the chain holds), so a write waits for one fsync here, not two.
            try relaxedWrite { db in
                for pending in versions {
                    let (record, blobHash) = (Data(pending.record.bytes), Data(pending.blob.bytes))
                    guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                        SELECT patient, data_key, index_keys FROM pending_version WHERE record = ? AND version = ? AND blob_hash = ?
                        """), arguments: [record, Int64(pending.version), blobHash]) else {
                        let published = try Bool.fetchOne(db.cachedStatement(sql: """
                            SELECT 1 FROM record_version WHERE record = ? AND version = ? AND blob_hash = ?
                            """), arguments: [record, Int64(pending.version), blobHash]) ?? false
                        if published { continue }
                        throw StorageError.missing("no pending version \(pending.version) of record \(pending.record.hex)")
                    }
                    let listed: Data = row["index_keys"]
                    // The index describes the latest version only: drop the previous version's entries.
                    _ = try Self.dropIndexEntries(db, record: record)
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO record_version (record, version, patient, blob_hash, data_key, index_keys) VALUES (?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [record, Int64(pending.version), row["patient"] as Data, blobHash, row["data_key"] as Data, listed])
                    let keys = try IndexKeys.decode(Array(listed))
                    try IndexRows.insert(db, record: record, tokens: keys.tokens, values: keys.values)
                    try db.cachedStatement(sql: "DELETE FROM pending_version WHERE record = ? AND version = ? AND blob_hash = ?")
                        .execute(arguments: [record, Int64(pending.version), blobHash])
                }
            }
        }
    }

    @discardableResult
    public func discard(_ versions: [PendingVersion]) throws -> Int {
        guard !versions.isEmpty else { return 0 }
        return try wrap {
            try write { db -> Int in
                var removed = 0
                for pending in versions {
                    let blobHash = Data(pending.blob.bytes)
                    try db.cachedStatement(sql: "DELETE FROM pending_version WHERE record = ? AND version = ? AND blob_hash = ?")
                        .execute(arguments: [Data(pending.record.bytes), Int64(pending.version), blobHash])
                    removed += db.changesCount
                    try db.cachedStatement(sql: """
                        DELETE FROM blob WHERE hash = ?1 AND NOT EXISTS (SELECT 1 FROM record_version WHERE blob_hash = ?1)
                        AND NOT EXISTS (SELECT 1 FROM pending_version WHERE blob_hash = ?1)
                        """).execute(arguments: [blobHash])
                }
                return removed
            }
        }
    }

    public func pendingVersions(limit: Int) throws -> [PendingVersion] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT record, version, blob_hash FROM pending_version ORDER BY record, version LIMIT ?", arguments: [limit])
                    .compactMap { row in
                        guard let record = Hash256(bytes: Array(row["record"] as Data)), let blob = Hash256(bytes: Array(row["blob_hash"] as Data))
                        else { return nil }
                        return PendingVersion(record: record, version: UInt64(row["version"] as Int64), blob: blob)
                    }
            }
        }
    }

    /// Deletes the index entries listed in the record's latest version row and clears the list;
    /// returns how many entries were deleted.
    private static func dropIndexEntries(_ db: Database, record: Data) throws -> Int {
        guard let listed = try Data.fetchOne(db.cachedStatement(sql: "SELECT index_keys FROM record_version WHERE record = ? AND index_keys IS NOT NULL"),
                                             arguments: [record]) else { return 0 }
        let keys = try IndexKeys.decode(Array(listed))
        let deleted = try IndexRows.delete(db, record: record, tokens: keys.tokens, values: keys.values)
        try db.cachedStatement(sql: "UPDATE record_version SET index_keys = NULL WHERE record = ? AND index_keys IS NOT NULL").execute(arguments: [record])
        return deleted
    }

    public func sealedVersion(blob hash: Hash256, record: Hash256, version: UInt64) throws -> (blob: SealedRecord, dataKey: WrappedDataKey?)? {
        // SQLite integers are signed: a version past Int64.max names no row (and must not trap).
        guard let version = Int64(exactly: version) else { return nil }
        return try wrap {
            // One statement outside a transaction (each statement reads one snapshot): the read
            // path of every FHIR read.
            guard let row = try pool.unsafeRead({ db in
                try Row.fetchOne(db.cachedStatement(sql: """
                    SELECT data, coalesce(
                        (SELECT data_key FROM record_version WHERE record = ?1 AND version = ?2),
                        (SELECT data_key FROM pending_version WHERE record = ?1 AND version = ?2 AND blob_hash = ?3)) AS wrapped
                    FROM blob WHERE hash = ?3
                    """), arguments: [Data(record.bytes), version, Data(hash.bytes)])
            }) else { return nil }
            return (try Self.verifiedBlob(row["data"], hash: hash), try (row["wrapped"] as Data?).map { try WrappedDataKey(bytes: Array($0)) })
        }
    }

    public func patientKey(id: Hash256) throws -> StoredPatientKey? {
        try wrap { try pool.read { db in try Self.patientKey(db, where: "id = ?", [Data(id.bytes)]) } }
    }

    public func patientKey(patient: IdentityID, custodian: IdentityID) throws -> StoredPatientKey? {
        try wrap {
            try pool.read { db in
                try Self.patientKey(db, where: "patient = ? AND custodian = ? ORDER BY rowid DESC LIMIT 1", [Data(patient.bytes), Data(custodian.bytes)])
            }
        }
    }

    private static func patientKey(_ db: Database, where condition: String, _ arguments: StatementArguments) throws -> StoredPatientKey? {
        guard let row = try Row.fetchOne(db, sql: "SELECT id, patient, custodian FROM patient_key WHERE \(condition)", arguments: arguments),
              let id = Hash256(bytes: (row["id"] as Data)), let patient = Hash256(bytes: (row["patient"] as Data)),
              let custodian = Hash256(bytes: (row["custodian"] as Data)) else { return nil }
        var copies: [IdentityID: PatientKeyCopy] = [:]
        for copy in try Row.fetchAll(db, sql: "SELECT recipient, agreement_key, wrapped FROM patient_key_copy WHERE id = ?", arguments: [Data(id.bytes)]) {
            guard let recipient = Hash256(bytes: (copy["recipient"] as Data)) else { throw VaultError.malformed("patient key copy recipient") }
            copies[recipient] = PatientKeyCopy(agreementKey: Array(copy["agreement_key"] as Data), wrapped: try WrappedKey(bytes: Array(copy["wrapped"] as Data)))
        }
        return StoredPatientKey(id: id, patient: patient, custodian: custodian, copies: copies)
    }

    public func wrappedKey(record: Hash256, version: UInt64, recipient: IdentityID) throws -> WrappedKey? {
        guard let version = Int64(exactly: version) else { return nil }  // no such row; Int64(version) would trap
        return try wrap {
            try pool.read { db in
                try Data.fetchOne(db, sql: "SELECT wrapped FROM wrapped_key WHERE record = ? AND version = ? AND recipient = ?",
                                  arguments: [Data(record.bytes), version, Data(recipient.bytes)])
            }.map { try WrappedKey(bytes: Array($0)) }
        }
    }

    public func erase(record: Hash256) throws -> ErasureReport {
        let report = try wrap {
            try write { db -> ErasureReport in
                let id = Data(record.bytes)
                try db.execute(sql: """
                    DELETE FROM blob WHERE hash IN (SELECT blob_hash FROM record_version WHERE record = ?1 UNION SELECT blob_hash FROM pending_version WHERE record = ?1)
                    """, arguments: [id])
                let blobs = db.changesCount
                try db.execute(sql: "UPDATE record_version SET data_key = NULL WHERE record = ? AND data_key IS NOT NULL", arguments: [id])
                var keys = db.changesCount
                try db.execute(sql: "DELETE FROM pending_version WHERE record = ?", arguments: [id])
                keys += db.changesCount
                try db.execute(sql: "DELETE FROM wrapped_key WHERE record = ?", arguments: [id])
                keys += db.changesCount
                let index = try Self.dropIndexEntries(db, record: id)
                return ErasureReport(blobs: blobs, wrappedKeys: keys, indexEntries: index)
            }
        }
        // Old page images of the erased rows may still sit in the WAL: fold it into the
        // (secure-deleted) main file and truncate it.
        try wrap { try checkpointer.truncate() }
        return report
    }

    public func records(withAll tokens: [BlindToken], limit: Int) throws -> [Hash256] {
        guard let first = tokens.first else { return [] }
        return try wrap {
            try pool.read { db in
                var candidates = Set(try Data.fetchAll(db, sql: "SELECT record FROM blind_token WHERE token = ? LIMIT 10000",
                                                       arguments: [Data(first.bytes)]))
                for token in tokens.dropFirst() where !candidates.isEmpty {
                    candidates.formIntersection(try Data.fetchAll(db, sql: "SELECT record FROM blind_token WHERE token = ? LIMIT 10000",
                                                                  arguments: [Data(token.bytes)]))
                }
                return candidates.compactMap { Hash256(bytes: Array($0)) }.sorted().prefix(limit).map { $0 }
            }
        }
    }

    public func records(withAny tokens: [BlindToken], limit: Int) throws -> [Hash256] {
        guard !tokens.isEmpty, limit > 0 else { return [] }
        return try wrap {
            try pool.read { db in
                var found = Set<Data>()
                // SQLite binds at most 32,766 parameters; 500 tokens a query keeps each statement small.
                for start in stride(from: 0, to: tokens.count, by: 500) {
                    let chunk = tokens[start..<min(tokens.count, start + 500)]
                    let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                    found.formUnion(try Data.fetchAll(db, sql: "SELECT DISTINCT record FROM blind_token WHERE token IN (\(marks)) LIMIT ?",
                                                      arguments: StatementArguments(chunk.map { Data($0.bytes) } + [limit])))
                    if found.count >= limit { break }
                }
                return found.compactMap { Hash256(bytes: Array($0)) }.sorted().prefix(limit).map { $0 }
            }
        }
    }

    public func blindIndexedValues(param: String, tokens: [Hash256: [BlindToken]], sealed: [Hash256: [String]]) throws {
        try wrap {
            try write { db in
                let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO blind_token (token, record) VALUES (?, ?)")
                for (record, added) in tokens {
                    for token in added { try insert.execute(arguments: [Data(token.bytes), Data(record.bytes)]) }
                }
                try db.execute(sql: "DELETE FROM indexed_value WHERE param = ? AND substr(value, 1, ?) != ?",
                               arguments: [param, BlindIndexer.sealedPrefix.count, BlindIndexer.sealedPrefix])
                let value = try db.cachedStatement(sql: "INSERT OR IGNORE INTO indexed_value (param, value, record) VALUES (?, ?, ?)")
                for (record, values) in sealed {
                    for text in values { try value.execute(arguments: [param, text, Data(record.bytes)]) }
                }
                // The lists the versions keep for erasure: the tokens and sealed values join, the readable values leave.
                let listed = try Row.fetchAll(db, sql: "SELECT record, version, index_keys FROM record_version WHERE index_keys IS NOT NULL")
                for row in listed {
                    let record = row["record"] as Data
                    let keys = try IndexKeys.decode(Array(row["index_keys"] as Data))
                    let id = Hash256(bytes: Array(record))
                    let kept = keys.values.filter { $0.param != param || $0.value.hasPrefix(BlindIndexer.sealedPrefix) }
                    let added = id.flatMap { tokens[$0] }?.map(\.bytes) ?? []
                    guard !added.isEmpty || kept.count != keys.values.count else { continue }
                    let values = kept + (id.flatMap { sealed[$0] } ?? []).map { IndexedValue(param: param, value: $0) }
                    try db.execute(sql: "UPDATE record_version SET index_keys = ? WHERE record = ? AND version = ?",
                                   arguments: [Data(IndexKeys.encode(tokens: keys.tokens + added, values: values)), record, row["version"] as Int64])
                }
            }
        }
    }

    public func records(param: String, value: String, limit: Int) throws -> [Hash256] {
        try wrap {
            try pool.read { db in
                try Data.fetchAll(db, sql: "SELECT record FROM indexed_value WHERE param = ? AND value = ? ORDER BY record LIMIT ?",
                                  arguments: [param, value, limit])
            }.compactMap { Hash256(bytes: Array($0)) }
        }
    }

    public func records(param: String, from: String, to: String?, limit: Int) throws -> [Hash256] {
        try wrap {
            try pool.read { db in
                if let to {
                    return try Data.fetchAll(db, sql: "SELECT DISTINCT record FROM indexed_value WHERE param = ? AND value >= ? AND value < ? LIMIT ?",
                                             arguments: [param, from, to, limit])
                }
                return try Data.fetchAll(db, sql: "SELECT DISTINCT record FROM indexed_value WHERE param = ? AND value >= ? LIMIT ?",
                                         arguments: [param, from, limit])
            }.compactMap { Hash256(bytes: Array($0)) }
        }
    }

    public func indexedVersions(after: Hash256?, limit: Int) throws -> [(record: Hash256, version: UInt64)] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT record, version FROM record_version WHERE index_keys IS NOT NULL AND record > ? ORDER BY record LIMIT ?",
                                 arguments: [Data((after ?? Hash256.zero).bytes), limit])
                    .compactMap { row in Hash256(bytes: Array(row["record"] as Data)).map { ($0, UInt64(row["version"] as Int64)) } }
            }
        }
    }

    public func reindex(_ entries: [(record: Hash256, version: UInt64, tokens: [BlindToken], values: [IndexedValue])]) throws {
        guard !entries.isEmpty else { return }
        try wrap {
            try write { db in
                for entry in entries {
                    let record = Data(entry.record.bytes)
                    _ = try Self.dropIndexEntries(db, record: record)
                    try db.cachedStatement(sql: "UPDATE record_version SET index_keys = ? WHERE record = ? AND version = ?")
                        .execute(arguments: [Data(IndexKeys.encode(tokens: entry.tokens.map(\.bytes), values: entry.values)), record, Int64(entry.version)])
                    try IndexRows.insert(db, record: record, tokens: entry.tokens.map(\.bytes), values: entry.values)
                }
            }
        }
    }

    public func entries(param: String, from: String, to: String?, limit: Int) throws -> [(record: Hash256, value: String)] {
        try wrap {
            try pool.read { db in
                let rows = try Row.fetchAll(db, sql: "SELECT value, record FROM indexed_value WHERE param = ? AND value >= ?"
                                                + (to == nil ? "" : " AND value < ?") + " ORDER BY value, record LIMIT ?",
                                            arguments: StatementArguments([param, from] + (to.map { [$0] } ?? []) + [limit]))
                return rows.compactMap { row in Hash256(bytes: Array(row["record"] as Data)).map { ($0, row["value"] as String) } }
            }
        }
    }

    public func values(param: String, records: [Hash256]) throws -> [Hash256: [String]] {
        guard !records.isEmpty else { return [:] }
        return try wrap {
            try pool.read { db in
                var out: [Hash256: [String]] = [:]
                // Bounded batches of bound parameters (SQLite's limit is 32,766 in current builds).
                for start in stride(from: 0, to: records.count, by: 500) {
                    let batch = records[start..<min(records.count, start + 500)]
                    let marks = Array(repeating: "?", count: batch.count).joined(separator: ",")
                    let rows = try Row.fetchAll(db, sql: "SELECT record, index_keys FROM record_version WHERE index_keys IS NOT NULL AND record IN (\(marks))",
                                                arguments: StatementArguments(batch.map { Data($0.bytes) }))
                    for row in rows {
                        guard let record = Hash256(bytes: Array(row["record"] as Data)) else { continue }
                        let values = try IndexKeys.decode(Array(row["index_keys"] as Data)).values.filter { $0.param == param }.map(\.value)
                        if !values.isEmpty { out[record] = values }
                    }
                }
                return out
            }
        }
    }

    public func records(patient: IdentityID, limit: Int) throws -> [Hash256] {
        try wrap {
            try pool.read { db in
                try Data.fetchAll(db, sql: "SELECT DISTINCT record FROM record_version WHERE patient = ? ORDER BY record LIMIT ?",
                                  arguments: [Data(patient.bytes), limit])
            }.compactMap { Hash256(bytes: Array($0)) }
        }
    }

    // MARK: audit log

    public func appendAudit(_ entries: [(bytes: [UInt8], patient: IdentityID)]) throws -> UInt64 {
        precondition(entries.count <= Self.auditBatchMax, "audit batch too large")
        return try wrap {
            try frontier.withLock { frontier in
                var next = frontier
                try write { db in
                    let insert = try db.cachedStatement(sql: "INSERT INTO audit_entry (idx, patient, entry, leaf_hash) VALUES (?, ?, ?, ?)")
                    let node = try db.cachedStatement(sql: "INSERT INTO audit_node (level, idx, hash) VALUES (?, ?, ?)")
                    for entry in entries {
                        let leaf = MerkleHashing.leafHash(entry.bytes)
                        try insert.execute(arguments: [Int64(next.size), Data(entry.patient.bytes), Data(entry.bytes), Data(leaf.bytes)])
                        for n in next.append(leafHash: leaf) {
                            try node.execute(arguments: [n.level, Int64(n.index), Data(n.hash.bytes)])
                        }
                    }
                }
                frontier = next
                return next.size
            }
        }
    }

    public func auditHead() throws -> (size: UInt64, root: Hash256) {
        frontier.withLock { ($0.size, $0.root) }
    }

    public func auditEntries(patient: IdentityID, after: UInt64?, limit: Int) throws -> [StoredAuditEntry] {
        // Indexes are at most Int64.max: nothing comes after a larger one (and Int64(after) would trap).
        var first: Int64 = -1
        if let after {
            guard let exact = Int64(exactly: after) else { return [] }
            first = exact
        }
        return try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT idx, entry FROM audit_entry WHERE patient = ? AND idx > ? ORDER BY idx LIMIT ?",
                                 arguments: [Data(patient.bytes), first, limit])
            }.map { StoredAuditEntry(index: UInt64($0["idx"] as Int64), bytes: Array($0["entry"] as Data)) }
        }
    }

    public func auditEntries(patient: IdentityID, before: UInt64?, limit: Int) throws -> [StoredAuditEntry] {
        // Indexes are at most Int64.max: every one comes before a larger bound.
        let bound = before.map { Int64(exactly: $0) ?? .max } ?? .max
        return try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT idx, entry FROM audit_entry WHERE patient = ? AND idx < ? ORDER BY idx DESC LIMIT ?",
                                 arguments: [Data(patient.bytes), bound, limit])
            }.map { StoredAuditEntry(index: UInt64($0["idx"] as Int64), bytes: Array($0["entry"] as Data)) }
        }
    }

    public func auditEntry(_ index: UInt64) throws -> StoredAuditEntry? {
        guard let row = Int64(exactly: index) else { return nil }  // no such row; Int64(index) would trap
        return try wrap {
            try pool.read { db in
                try Data.fetchOne(db, sql: "SELECT entry FROM audit_entry WHERE idx = ?", arguments: [row])
            }.map { StoredAuditEntry(index: index, bytes: Array($0)) }
        }
    }

    public func auditEntries(from: UInt64, limit: Int) throws -> [StoredAuditEntry] {
        try wrap {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT idx, entry FROM audit_entry WHERE idx >= ? ORDER BY idx LIMIT ?",
                                 arguments: [Int64(clamping: from), limit])
            }.map { StoredAuditEntry(index: UInt64($0["idx"] as Int64), bytes: Array($0["entry"] as Data)) }
        }
    }

    public func subtreeHash(level: Int, index: UInt64) throws -> Hash256 {
        try wrap {
            let data = try pool.read { db in
                level == 0
                    ? try Data.fetchOne(db, sql: "SELECT leaf_hash FROM audit_entry WHERE idx = ?", arguments: [Int64(index)])
                    : try Data.fetchOne(db, sql: "SELECT hash FROM audit_node WHERE level = ? AND idx = ?", arguments: [level, Int64(index)])
            }
            guard let data, let hash = Hash256(bytes: Array(data)) else { throw StorageError.missing("audit log node level \(level) index \(index)") }
            return hash
        }
    }
}
