import Foundation
import GRDB
import LedgerCore
@testable import Storage
import Testing
import Vault

@Suite("SQLite vault store: versions, index replacement, erasure, migration")
struct SQLiteVaultStoreTests {
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

    @Test func aNewVersionReplacesTheIndexAndErasureRemovesEverything() throws {
        let path = Self.temporaryPath()
        defer { Self.remove(path) }
        let vault = try SQLiteVaultStore(path: path)
        let (key, stored) = try Self.patientKey()
        let first = try Self.version(1, name: "Ada Lovelace", code: "1234-5", patientKey: key, stored: stored)
        try vault.put([first])
        #expect(try vault.records(withAll: Self.indexer.queryTokens(field: .name, query: "lovelace"), limit: 10) == [Self.record])
        #expect(try vault.values(param: "code", records: [Self.record]) == [Self.record: ["1234-5"]])
        #expect(try vault.patientKey(id: key.id)?.copies == stored.copies)

        let second = try Self.version(2, name: "Ada Byron", code: "9999-9", patientKey: key, stored: stored)
        try vault.put([second])
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
