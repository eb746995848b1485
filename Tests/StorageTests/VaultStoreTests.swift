import Foundation
import GRDB
import LedgerCore
@testable import Storage
import Testing
import Vault

/// The vault store implementations under one behavioural test: SQLite on disk, and in memory.
enum VaultStoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, inMemory

    var testDescription: String { rawValue }

    /// A fresh vault and a cleanup.
    func make() throws -> (vault: any VaultStore, cleanup: () -> Void) {
        switch self {
        case .sqlite:
            let path = VaultStoreTests.temporaryPath()
            return (try SQLiteVaultStore(path: path), { VaultStoreTests.remove(path) })
        case .inMemory:
            return (InMemoryVaultStore(), {})
        }
    }
}

@Suite("Vault stores: versions, index replacement, erasure, audit log, migration")
struct VaultStoreTests {
    static let indexer = BlindIndexer(key: try! BlindIndexKey(secret: Array(repeating: 3, count: 32)))
    static let patient = IdentityKeys(seed: Array(repeating: 11, count: 32))
    static let custodian = IdentityKeys(seed: Array(repeating: 12, count: 32))
    static let record = Hash256.sha256(Array("Observation/1".utf8))

    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("vault-\(UUID().uuidString).sqlite").path
    }

    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// A version of `record` whose name index holds `name` and whose `code` value is `code`.
    static func version(_ number: UInt64, name: String, code: String, patientKey: PatientKey, stored: StoredPatientKey) throws -> StoredRecordVersion {
        let dataKey = DataKey.generate()
        return StoredRecordVersion(
            record: record, version: number, patient: patient.derivedID,
            blob: try RecordCipher.seal(Array("content \(number)".utf8), with: dataKey, record: record, version: number),
            dataKey: try patientKey.wrap(dataKey, record: record, version: number), patientKey: stored,
            blindTokens: indexer.tokens(field: .name, value: name), values: [IndexedValue(param: "code", value: code)])
    }

    static func patientKey() throws -> (PatientKey, StoredPatientKey) {
        let key = PatientKey.generate()
        let stored = StoredPatientKey(id: key.id, patient: patient.derivedID, custodian: custodian.derivedID, copies: [
            patient.derivedID: PatientKeyCopy(agreementKey: patient.agreementPublicKey,
                                              wrapped: try key.wrap(to: patient.agreementPublicKey, recipient: patient.derivedID)),
            custodian.derivedID: PatientKeyCopy(agreementKey: custodian.agreementPublicKey,
                                                wrapped: try key.wrap(to: custodian.agreementPublicKey, recipient: custodian.derivedID)),
        ])
        return (key, stored)
    }

    @Test(arguments: VaultStoreKind.allCases)
    func aNewVersionReplacesTheIndexAndErasureRemovesEverything(_ kind: VaultStoreKind) throws {
        let (vault, cleanup) = try kind.make()
        defer { cleanup() }
        let (key, stored) = try Self.patientKey()
        let first = try Self.version(1, name: "Ada Lovelace", code: "1234-5", patientKey: key, stored: stored)
        try vault.put([first])
        try vault.publish([first.pending])
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "lovelace"), limit: 10) == [Self.record])
        #expect(try vault.values(param: "code", records: [Self.record]) == [Self.record: ["1234-5"]])
        #expect(try vault.patientKey(id: key.id)?.copies == stored.copies)

        let second = try Self.version(2, name: "Ada Byron", code: "9999-9", patientKey: key, stored: stored)
        try vault.put([second])
        try vault.publish([second.pending])
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "lovelace"), limit: 10).isEmpty)
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "byron"), limit: 10) == [Self.record])
        #expect(try vault.records(param: "code", value: "1234-5", limit: 10).isEmpty)
        #expect(try vault.values(param: "code", records: [Self.record]) == [Self.record: ["9999-9"]])
        // Both versions stay readable, each with its own data key.
        for version in [first, second] {
            let found = try #require(try vault.sealedVersion(blob: version.blob.hash, record: Self.record, version: version.version))
            let dataKey = try key.unwrap(try #require(found.dataKey), record: Self.record, version: version.version)
            #expect(try RecordCipher.open(found.blob, with: dataKey, record: Self.record, version: version.version) == Array("content \(version.version)".utf8))
        }

        let report = try vault.erase(record: Self.record)
        #expect(report.blobs == 2 && report.wrappedKeys == 2)
        #expect(report.indexEntries == second.blindTokens.count + 1)
        #expect(try vault.sealedVersion(blob: second.blob.hash, record: Self.record, version: 2) == nil)
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "byron"), limit: 10).isEmpty)
        #expect(try vault.values(param: "code", records: [Self.record]).isEmpty)
        #expect(try vault.patientKey(patient: Self.patient.derivedID, custodian: Self.custodian.derivedID)?.id == key.id,
                "the patient key stays: it wraps the patient's other records")
    }

    /// Security review finding 5: a stored version is pending — readable by its exact blob, but
    /// neither searched nor listed, and the record's published index untouched — until it is
    /// published; a discarded one leaves no row and no blob. Two writers of one version keep
    /// their own pending rows.
    @Test(arguments: VaultStoreKind.allCases)
    func versionsArePendingUntilPublished(_ kind: VaultStoreKind) throws {
        let (vault, cleanup) = try kind.make()
        defer { cleanup() }
        let (key, stored) = try Self.patientKey()
        let first = try Self.version(1, name: "Ada Lovelace", code: "1234-5", patientKey: key, stored: stored)
        try vault.put([first])
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "lovelace"), limit: 10).isEmpty)
        #expect(try vault.records(patient: Self.patient.derivedID, limit: 10).isEmpty)
        #expect(try vault.sealedVersion(blob: first.blob.hash, record: Self.record, version: 1)?.dataKey != nil,
                "a registered version is readable before it is published")
        #expect(try vault.pendingVersions(limit: 10) == [first.pending])
        try vault.publish([first.pending])
        try vault.publish([first.pending])  // again: already published, nothing to do
        #expect(try vault.records(param: "code", value: "1234-5", limit: 10) == [Self.record])
        #expect(try vault.pendingVersions(limit: 10).isEmpty)

        // Two writers race for version 2; the refused one is discarded, the index never moved.
        let refused = try Self.version(2, name: "Ada Byron", code: "0000-0", patientKey: key, stored: stored)
        let accepted = try Self.version(2, name: "Ada King", code: "7777-7", patientKey: key, stored: stored)
        try vault.put([refused])
        try vault.put([accepted])
        #expect(Set(try vault.pendingVersions(limit: 10)) == [refused.pending, accepted.pending])
        #expect(try vault.records(param: "code", value: "0000-0", limit: 10).isEmpty)
        #expect(try vault.records(param: "code", value: "1234-5", limit: 10) == [Self.record])
        #expect(try vault.discard([refused.pending]) == 1)
        #expect(try vault.blob(refused.blob.hash) == nil, "the refused write's ciphertext is gone")
        try vault.publish([accepted.pending])
        #expect(try vault.records(param: "code", value: "7777-7", limit: 10) == [Self.record])
        #expect(try vault.records(param: "code", value: "1234-5", limit: 10).isEmpty)
        #expect(try vault.discard([accepted.pending]) == 0, "a published version is not pending")
        #expect(try vault.blob(accepted.blob.hash) != nil)
        #expect(throws: StorageError.self) { try vault.publish([refused.pending]) }

        // Erasure takes pending versions with it.
        let third = try Self.version(3, name: "Ada", code: "3333-3", patientKey: key, stored: stored)
        try vault.put([third])
        _ = try vault.erase(record: Self.record)
        #expect(try vault.pendingVersions(limit: 10).isEmpty)
        #expect(try vault.blob(third.blob.hash) == nil)
    }

    @Test(arguments: VaultStoreKind.allCases)
    func searchesPatientKeysAndBlobs(_ kind: VaultStoreKind) throws {
        let (vault, cleanup) = try kind.make()
        defer { cleanup() }
        let (key, stored) = try Self.patientKey()
        let (newerKey, newerStored) = try Self.patientKey()
        let other = Hash256.sha256(Array("Observation/2".utf8))
        let first = try Self.version(1, name: "Ada Lovelace", code: "2024-01-05", patientKey: key, stored: stored)
        let dataKey = DataKey.generate()
        let second = StoredRecordVersion(
            record: other, version: 1, patient: Self.patient.derivedID,
            blob: try RecordCipher.seal(Array("other".utf8), with: dataKey, record: other, version: 1),
            dataKey: try newerKey.wrap(dataKey, record: other, version: 1), patientKey: newerStored,
            blindTokens: Self.indexer.tokens(field: .name, value: "Ada King"), values: [IndexedValue(param: "code", value: "2024-03-01")])
        try vault.put([first])
        try vault.put([second])
        try vault.publish([first.pending, second.pending])
        let both = [Self.record, other].sorted()
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "ada"), limit: 10) == both)
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "ada"), limit: 1) == [both[0]])
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "ada king"), limit: 10) == [other])
        #expect(try vault.records(withAll: [], limit: 10).isEmpty)
        #expect(try vault.records(param: "code", from: "2024-01-01", to: "2024-02-01", limit: 10) == [Self.record])
        #expect(Set(try vault.records(param: "code", from: "2024-01-01", to: nil, limit: 10)) == Set(both))
        #expect(try vault.records(param: "code", from: "2024-04-01", to: nil, limit: 10).isEmpty)
        #expect(try vault.records(patient: Self.patient.derivedID, limit: 10) == both)
        #expect(try vault.records(patient: Self.custodian.derivedID, limit: 10).isEmpty)
        #expect(try vault.values(param: "code", records: both) == [Self.record: ["2024-01-05"], other: ["2024-03-01"]])
        #expect(try vault.patientKey(patient: Self.patient.derivedID, custodian: Self.custodian.derivedID)?.id == newerKey.id, "the newest key")
        #expect(try vault.patientKey(id: key.id)?.patient == Self.patient.derivedID)
        #expect(try vault.patientKey(id: .sha256([1])) == nil)
        #expect(try vault.sealedVersion(blob: first.blob.hash, record: Self.record, version: 9)?.dataKey == nil, "a blob without that version")
        #expect(try vault.wrappedKey(record: Self.record, version: 1, recipient: Self.custodian.derivedID) == nil)

        // Blobs are content-addressed and idempotent.
        let sealed = try RecordCipher.seal(Array("loose".utf8), with: DataKey.generate(), record: other, version: 2)
        #expect(try vault.putBlob(sealed) == sealed.hash)
        #expect(try vault.putBlob(sealed) == sealed.hash)
        #expect(try vault.blob(sealed.hash) == sealed)
        try vault.deleteBlob(sealed.hash)
        #expect(try vault.blob(sealed.hash) == nil)
    }

    @Test(arguments: VaultStoreKind.allCases)
    func theAuditLogIsAMerkleLog(_ kind: VaultStoreKind) throws {
        let (vault, cleanup) = try kind.make()
        defer { cleanup() }
        var memory = MemoryMerkleTree()
        let patients = [Self.patient.derivedID, Self.custodian.derivedID]
        var size: UInt64 = 0
        for batch in 0..<5 {
            let entries = (0..<(batch + 1)).map { index in (bytes: Array("entry \(batch).\(index)".utf8), patient: patients[index % 2]) }
            size = try vault.appendAudit(entries)
            for entry in entries { memory.append(leafHash: MerkleHashing.leafHash(entry.bytes)) }
        }
        #expect(size == 15)
        let head = try vault.auditHead()
        #expect(head.size == 15 && head.root == memory.root)
        #expect(try vault.auditEntry(0)?.bytes == Array("entry 0.0".utf8))
        #expect(try vault.auditEntry(15) == nil)
        let first = try vault.auditEntries(patient: Self.patient.derivedID, after: nil, limit: 100)
        #expect(first.count == 9)
        #expect(first.map(\.index) == first.map(\.index).sorted())
        #expect(try vault.auditEntries(patient: Self.patient.derivedID, after: first[2].index, limit: 2).map(\.index) == [first[3].index, first[4].index])
        // Newest first, before an index: the same entries in reverse, paged backwards.
        #expect(try vault.auditEntries(patient: Self.patient.derivedID, before: nil, limit: 100).map(\.index) == first.map(\.index).reversed())
        #expect(try vault.auditEntries(patient: Self.patient.derivedID, before: first[4].index, limit: 2).map(\.index) == [first[3].index, first[2].index])
        #expect(try vault.auditEntries(patient: Self.patient.derivedID, before: first[0].index, limit: 2).isEmpty)
        #expect(try vault.auditEntries(patient: Self.patient.derivedID, before: .max, limit: 1).map(\.index) == [first.last!.index])
        // The range read (every patient, by index): what access-anomaly rules scan.
        #expect(try vault.auditEntries(from: 13, limit: 100).map(\.index) == [13, 14])
        #expect(try vault.auditEntries(from: 3, limit: 2).map(\.bytes) == [Array("entry 2.0".utf8), Array("entry 2.1".utf8)])
        #expect(try vault.auditEntries(from: 15, limit: 5).isEmpty)
        #expect(try vault.auditEntries(from: 0, limit: Int.max).count == 15)
        let builder = MerkleProofBuilder(source: vault)
        for index in 0..<size {
            #expect(try builder.inclusionProof(index: index, size: size) == memory.proofs.inclusionProof(index: index, size: size))
        }
    }

    @Test func indexKeyListsRoundTripAndRejectDamage() throws {
        let tokens = [Array(repeating: UInt8(1), count: 32), Array(repeating: 2, count: 32)]
        let values = [IndexedValue(param: "code", value: "http://loinc.org|1234-5"), IndexedValue(param: "date", value: "2026-11-30")]
        let bytes = IndexKeys.encode(tokens: tokens, values: values)
        let decoded = try IndexKeys.decode(bytes)
        #expect(decoded.tokens == tokens && decoded.values == values)
        #expect(try IndexKeys.decode(IndexKeys.encode(tokens: [], values: [])).values.isEmpty)
        let damages: [[UInt8]] = [Array(bytes.dropLast()), bytes + [0], [9] + Array(bytes.dropFirst()), [1, 0, 0, 0]]
        for damaged in damages {
            #expect(throws: StorageError.self) { try IndexKeys.decode(damaged) }
        }
    }

    /// A vault from before versions moved to rowid tables (v4) keeps its published and pending
    /// versions: the published one stays searchable and readable, the pending one publishes.
    @Test func aVaultWithVersionsWithoutRowidMigrates() throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let record = Data(Self.record.bytes), other = Data(Hash256.sha256([7]).bytes), patient = Data(Self.patient.derivedID.bytes)
        let listing = Data(IndexKeys.encode(tokens: [Array(repeating: 3, count: 32)], values: [IndexedValue(param: "code", value: "1234-5")]))
        let (blob1, blob2) = (Data(Hash256.sha256([1]).bytes), Data(Hash256.sha256([2]).bytes))
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteVaultStore.migrator.migrate(queue, upTo: "v4-pending-versions")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO blob (hash, data) VALUES (?, ?), (?, ?)", arguments: [blob1, Data([9]), blob2, Data([8])])
                try db.execute(sql: "INSERT INTO record_version (record, version, patient, blob_hash, data_key, index_keys) VALUES (?, 1, ?, ?, ?, ?)",
                               arguments: [record, patient, blob1, Data([5]), listing])
                try db.execute(sql: "INSERT INTO indexed_value (param, value, record) VALUES ('code', '1234-5', ?)", arguments: [record])
                try db.execute(sql: "INSERT INTO pending_version (record, version, blob_hash, patient, data_key, index_keys) VALUES (?, 1, ?, ?, ?, ?)",
                               arguments: [other, blob2, patient, Data([6]), listing])
            }
        }
        let vault = try SQLiteVaultStore(path: path)
        #expect(try vault.values(param: "code", records: [Self.record]) == [Self.record: ["1234-5"]])
        #expect(try vault.records(patient: Self.patient.derivedID, limit: 10) == [Self.record])
        let pending = try vault.pendingVersions(limit: 10)
        #expect(pending.map(\.record) == [Hash256.sha256([7])])
        try vault.publish(pending)
        #expect(try vault.pendingVersions(limit: 10).isEmpty)
        #expect(Set(try vault.records(patient: Self.patient.derivedID, limit: 10)) == [Self.record, Hash256.sha256([7])])
        let schema = try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT sql FROM sqlite_schema WHERE name IN ('record_version', 'pending_version')") }
        #expect(schema.count == 2 && schema.allSatisfy { !$0.contains("WITHOUT ROWID") }, "\(schema)")
    }

    /// A vault written before patient keys (per-record HPKE wraps, by-record index tables, blobs
    /// keyed by hash) opens, migrates, and its records stay searchable, readable and erasable.
    @Test func aVaultFromBeforePatientKeysMigrates() throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let dataKey = DataKey.generate()
        let sealed = try RecordCipher.seal(Array("old content".utf8), with: dataKey, record: Self.record, version: 1)
        let wrapped = try KeyWrap.wrap(dataKey, to: Self.custodian.agreementPublicKey,
                                       context: WrapContext(record: Self.record, version: 1, recipient: Self.custodian.derivedID))
        let tokens = Self.indexer.tokens(field: .name, value: "Grace Hopper")
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteVaultStore.migrator.migrate(queue, upTo: "v2-record-by-patient")
            try queue.write { db in
                let record = Data(Self.record.bytes)
                try db.execute(sql: "INSERT INTO blob (hash, data) VALUES (?, ?)", arguments: [Data(sealed.hash.bytes), Data(sealed.bytes)])
                try db.execute(sql: "INSERT INTO record_version (record, version, patient, blob_hash) VALUES (?, 1, ?, ?)",
                               arguments: [record, Data(Self.patient.derivedID.bytes), Data(sealed.hash.bytes)])
                try db.execute(sql: "INSERT INTO wrapped_key (record, version, recipient, wrapped) VALUES (?, 1, ?, ?)",
                               arguments: [record, Data(Self.custodian.derivedID.bytes), Data(wrapped.bytes)])
                for token in tokens { try db.execute(sql: "INSERT INTO blind_token (token, record) VALUES (?, ?)", arguments: [Data(token.bytes), record]) }
                try db.execute(sql: "INSERT INTO indexed_value (param, value, record) VALUES ('code', '1234-5', ?)", arguments: [record])
            }
        }
        let vault = try SQLiteVaultStore(path: path)
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "hopper"), limit: 10) == [Self.record])
        #expect(try vault.values(param: "code", records: [Self.record]) == [Self.record: ["1234-5"]])
        let found = try #require(try vault.sealedVersion(blob: sealed.hash, record: Self.record, version: 1))
        #expect(found.dataKey == nil && found.blob == sealed)
        let legacy = try #require(try vault.wrappedKey(record: Self.record, version: 1, recipient: Self.custodian.derivedID))
        let opened = try KeyWrap.unwrap(legacy, with: Self.custodian.agreement,
                                        context: WrapContext(record: Self.record, version: 1, recipient: Self.custodian.derivedID))
        #expect(try RecordCipher.open(found.blob, with: opened, record: Self.record, version: 1) == Array("old content".utf8))
        let report = try vault.erase(record: Self.record)
        #expect(report.blobs == 1 && report.wrappedKeys == 1 && report.indexEntries == tokens.count + 1)
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "hopper"), limit: 10).isEmpty)
    }
}
