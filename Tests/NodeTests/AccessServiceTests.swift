import Contracts
import Foundation
import GRDB
import LedgerCore
import Node
import Storage
import Testing
import Vault

/// A vault whose audit log can be made to fail; everything else goes to the real store.
final class FlakyAuditVault: VaultStore, @unchecked Sendable {
    let inner: SQLiteVaultStore
    var auditFails = false
    /// Data keys HPKE-wrapped per record, as vaults written before patient keys hold them.
    var legacyKeys: [Hash256: WrappedKey] = [:]
    init(_ inner: SQLiteVaultStore) { self.inner = inner }

    func putBlob(_ sealed: SealedRecord) throws -> Hash256 { try inner.putBlob(sealed) }
    func blob(_ hash: Hash256) throws -> SealedRecord? { try inner.blob(hash) }
    func deleteBlob(_ hash: Hash256) throws { try inner.deleteBlob(hash) }
    func put(_ versions: [StoredRecordVersion]) throws { try inner.put(versions) }
    func publish(_ versions: [PendingVersion]) throws { try inner.publish(versions) }
    func discard(_ versions: [PendingVersion]) throws -> Int { try inner.discard(versions) }
    func pendingVersions(limit: Int) throws -> [PendingVersion] { try inner.pendingVersions(limit: limit) }
    func sealedVersion(blob: Hash256, record: Hash256, version: UInt64) throws -> (blob: SealedRecord, dataKey: WrappedDataKey?)? {
        guard let found = try inner.sealedVersion(blob: blob, record: record, version: version) else { return nil }
        return legacyKeys[record] == nil ? found : (found.blob, nil)
    }
    func patientKey(id: Hash256) throws -> StoredPatientKey? { try inner.patientKey(id: id) }
    func patientKey(patient: IdentityID, custodian: IdentityID) throws -> StoredPatientKey? {
        try inner.patientKey(patient: patient, custodian: custodian)
    }
    func wrappedKey(record: Hash256, version: UInt64, recipient: IdentityID) throws -> WrappedKey? {
        if let legacy = legacyKeys[record] { return legacy }
        return try inner.wrappedKey(record: record, version: version, recipient: recipient)
    }
    func erase(record: Hash256) throws -> ErasureReport { try inner.erase(record: record) }
    func records(withAll tokens: [BlindToken], limit: Int) throws -> [Hash256] { try inner.records(withAll: tokens, limit: limit) }
    func records(withAny tokens: [BlindToken], limit: Int) throws -> [Hash256] { try inner.records(withAny: tokens, limit: limit) }
    func blindIndexedValues(param: String, tokens: [Hash256: [BlindToken]], sealed: [Hash256: [String]]) throws {
        try inner.blindIndexedValues(param: param, tokens: tokens, sealed: sealed)
    }
    func records(param: String, value: String, limit: Int) throws -> [Hash256] { try inner.records(param: param, value: value, limit: limit) }
    func records(param: String, from: String, to: String?, limit: Int) throws -> [Hash256] {
        try inner.records(param: param, from: from, to: to, limit: limit)
    }
    func indexedVersions(after: Hash256?, limit: Int) throws -> [(record: Hash256, version: UInt64)] {
        try inner.indexedVersions(after: after, limit: limit)
    }
    func reindex(_ entries: [(record: Hash256, version: UInt64, tokens: [BlindToken], values: [IndexedValue])]) throws {
        try inner.reindex(entries)
    }
    func entries(param: String, from: String, to: String?, limit: Int) throws -> [(record: Hash256, value: String)] {
        try inner.entries(param: param, from: from, to: to, limit: limit)
    }
    func records(patient: IdentityID, limit: Int) throws -> [Hash256] { try inner.records(patient: patient, limit: limit) }
    func appendAudit(_ entries: [(bytes: [UInt8], patient: IdentityID)]) throws -> UInt64 {
        if auditFails { throw StorageError.database("disk I/O error (injected)") }
        return try inner.appendAudit(entries)
    }
    func auditHead() throws -> (size: UInt64, root: Hash256) { try inner.auditHead() }
    func auditEntries(patient: IdentityID, after: UInt64?, limit: Int) throws -> [StoredAuditEntry] {
        try inner.auditEntries(patient: patient, after: after, limit: limit)
    }
    func auditEntries(patient: IdentityID, before: UInt64?, limit: Int) throws -> [StoredAuditEntry] {
        try inner.auditEntries(patient: patient, before: before, limit: limit)
    }
    func auditEntry(_ index: UInt64) throws -> StoredAuditEntry? { try inner.auditEntry(index) }
    func subtreeHash(level: Int, index: UInt64) throws -> Hash256 { try inner.subtreeHash(level: level, index: index) }
}

@Suite("Access service: audit before release, re-wrapping, tamper, erasure")
struct AccessServiceTests {
    let doctor = IdentityKeys(seed: Array(repeating: 30, count: 32))
    let patient = IdentityKeys(seed: Array(repeating: 31, count: 32))

    func setUp() async throws -> (TestChain, AccessService, FlakyAuditVault, Hash256) {
        let chain = try await TestChain()
        let vault = FlakyAuditVault(try SQLiteVaultStore(path: chain.directory.appendingPathComponent("vault.sqlite").path))
        let service = AccessService(node: chain.node, vault: vault, custodians: [chain.hospital],
                                    indexKey: try BlindIndexKey(secret: Array(repeating: 5, count: 32)))
        _ = try await chain.node.submitAndWait(chain.enroll(doctor, by: chain.hospital))
        _ = try await chain.node.submitAndWait(chain.sign(patient, MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)))
        let record = Hash256.sha256([42])
        let content = Array(#"{"resourceType":"Observation","status":"final","valueString":"potassium 5.9"}"#.utf8)
        let prepared = try service.prepare(content: content, record: record, version: 1, patient: patient.derivedID, custodian: chain.hospital.derivedID)
        try service.store(prepared.version)
        let receipt = try await chain.node.submitAndWait(chain.sign(doctor, RecordsContract.Register(record: record, patient: patient.derivedID, resourceType: "Observation",
                                                                                     category: .general, ciphertextHash: prepared.version.blob.hash, version: 1)))
        #expect(receipt.status.result.isAccepted)
        return (chain, service, vault, record)
    }

    @Test(.timeLimit(.minutes(3)))
    func auditFailureReleasesNothing() async throws {
        let (chain, service, vault, record) = try await setUp()
        let request = AccessRequest(requester: patient.derivedID, record: record, purpose: .treatment, action: .read)
        vault.auditFails = true
        await #expect(throws: AccessError.self) { try await service.read(request) }
        do { _ = try await service.read(request) } catch {
            guard case .auditUnavailable = error else { Issue.record("expected auditUnavailable, got \(error)"); return }
        }
        #expect(try vault.auditHead().size == 0)
        vault.auditFails = false
        let release = try await service.read(request)
        #expect(String(decoding: try release.open(as: patient.derivedID, with: patient), as: UTF8.self).contains("potassium"))
        #expect(try vault.auditHead().size == 1)
        // The key was re-wrapped for the requester alone: nobody else opens it.
        #expect(throws: VaultError.self) { try release.open(as: doctor.derivedID, with: doctor) }
        await chain.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func patientOpensStoredVersionsWithTheirOwnKey() async throws {
        let (chain, service, vault, record) = try await setUp()
        let entry = try #require(RecordIndex.current(record, in: chain.node.state))
        // A second record of the same patient is wrapped under the same patient key.
        let second = try service.prepare(content: Array(#"{"resourceType":"Observation","status":"final"}"#.utf8), record: Hash256.sha256([43]),
                                         version: 1, patient: patient.derivedID, custodian: chain.hospital.derivedID)
        let dataKey = try #require(try vault.sealedVersion(blob: entry.ciphertextHash, record: record, version: 1)?.dataKey)
        #expect(second.version.dataKey.patientKey == dataKey.patientKey)
        let stored = try #require(try vault.patientKey(id: dataKey.patientKey))
        #expect(stored.patient == patient.derivedID && stored.custodian == chain.hospital.derivedID)
        #expect(Set(stored.copies.keys) == [patient.derivedID, chain.hospital.derivedID])
        #expect(try vault.patientKey(patient: patient.derivedID, custodian: chain.hospital.derivedID)?.id == stored.id)
        // The patient needs nothing but the vault's bytes and their own private key.
        let patientKey = try PatientKey.unwrap(try #require(stored.copies[patient.derivedID]?.wrapped), id: stored.id, with: patient.agreement,
                                               recipient: patient.derivedID)
        let blob = try #require(try vault.blob(entry.ciphertextHash))
        let plain = try RecordCipher.open(blob, with: try patientKey.unwrap(dataKey, record: record, version: 1), record: record, version: 1)
        #expect(String(decoding: plain, as: UTF8.self).contains("potassium"))
        #expect(throws: VaultError.self) {
            try PatientKey.unwrap(try #require(stored.copies[patient.derivedID]?.wrapped), id: stored.id, with: doctor.agreement, recipient: doctor.derivedID)
        }
        // A new service (a restarted node) opens the stored patient key with the custodian's key and keeps using it.
        let restarted = AccessService(node: chain.node, vault: vault, custodians: [chain.hospital],
                                      indexKey: try BlindIndexKey(secret: Array(repeating: 5, count: 32)))
        let third = try restarted.prepare(content: Array(#"{"resourceType":"Observation","status":"final"}"#.utf8), record: Hash256.sha256([44]),
                                          version: 1, patient: patient.derivedID, custodian: chain.hospital.derivedID)
        #expect(third.version.dataKey.patientKey == stored.id)
        let served = try await restarted.serve([AccessRequest(requester: patient.derivedID, record: record, purpose: .treatment, action: .read)])
        #expect(String(decoding: try #require(served.first?.content), as: UTF8.self).contains("potassium"))
        await chain.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func aPatientWhoRotatesTheirKeyGetsANewPatientKey() async throws {
        let (chain, service, vault, record) = try await setUp()
        let entry = try #require(RecordIndex.current(record, in: chain.node.state))
        let before = try #require(try vault.sealedVersion(blob: entry.ciphertextHash, record: record, version: 1)?.dataKey)
        let rotated = IdentityKeys(seed: Array(repeating: 32, count: 32))
        let rotation = try await chain.node.submitAndWait(chain.sign(patient, MembershipContract.RotateKey(
            signingKey: rotated.signingPublicKey, agreementKey: rotated.agreementPublicKey)))
        #expect(rotation.status.result.isAccepted)
        let next = try service.prepare(content: Array(#"{"resourceType":"Observation","status":"final"}"#.utf8), record: Hash256.sha256([46]),
                                       version: 1, patient: patient.derivedID, custodian: chain.hospital.derivedID)
        #expect(next.version.dataKey.patientKey != before.patientKey, "copies made for the old key are not reused")
        let copy = try #require(next.version.patientKey.copies[patient.derivedID])
        #expect(copy.agreementKey == rotated.agreementPublicKey)
        _ = try PatientKey.unwrap(copy.wrapped, id: next.version.patientKey.id, with: rotated.agreement, recipient: patient.derivedID)
        // Earlier records keep their patient key, which the old private key still opens.
        let old = try #require(try vault.patientKey(id: before.patientKey)?.copies[patient.derivedID])
        _ = try PatientKey.unwrap(old.wrapped, id: before.patientKey, with: patient.agreement, recipient: patient.derivedID)
        let served = try await service.serve([AccessRequest(requester: patient.derivedID, record: record, purpose: .treatment, action: .read)])
        #expect(String(decoding: try #require(served.first?.content), as: UTF8.self).contains("potassium"))
        await chain.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func versionsWrittenBeforePatientKeysStillRead() async throws {
        let (chain, service, vault, _) = try await setUp()
        let record = Hash256.sha256([45])
        let key = DataKey.generate()
        let sealed = try RecordCipher.seal(Array(#"{"resourceType":"Observation","status":"final","valueString":"sodium 131"}"#.utf8), with: key,
                                           record: record, version: 1)
        _ = try vault.putBlob(sealed)
        vault.legacyKeys[record] = try KeyWrap.wrap(key, to: chain.hospital.agreementPublicKey,
                                                    context: WrapContext(record: record, version: 1, recipient: chain.hospital.derivedID))
        let receipt = try await chain.node.submitAndWait(chain.sign(doctor, RecordsContract.Register(record: record, patient: patient.derivedID, resourceType: "Observation",
                                                                                     category: .general, ciphertextHash: sealed.hash, version: 1)))
        #expect(receipt.status.result.isAccepted)
        let served = try await service.serve([AccessRequest(requester: patient.derivedID, record: record, purpose: .treatment, action: .read)])
        #expect(String(decoding: try #require(served.first?.content), as: UTF8.self).contains("sodium"))
        await chain.close()
    }

    /// The patient's own read through the service's read path (audited, then re-wrapped for them).
    func readAsPatient(_ service: AccessService, _ record: Hash256) async throws -> String {
        let release = try await service.read(AccessRequest(requester: patient.derivedID, record: record, purpose: .treatment, action: .read))
        return String(decoding: try release.open(as: patient.derivedID, with: patient), as: UTF8.self)
    }

    /// The vault file of a `setUp` chain, opened directly: the bytes at rest, behind the store's back.
    func vaultFile(_ chain: TestChain) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        return try DatabaseQueue(path: chain.directory.appendingPathComponent("vault.sqlite").path, configuration: configuration)
    }

    static func expectAlteredBlob(_ error: AccessError?, _ blob: Hash256, _ path: String) {
        guard case .vault(.authenticationFailed(let what)) = error else {
            Issue.record("\(path): expected the stored-blob integrity error, got \(String(describing: error))")
            return
        }
        #expect(what.contains(blob.hex), "\(path): \(what)")
    }

    @Test(.timeLimit(.minutes(3)))
    func aBlobAlteredAtRestFailsBothReadPathsWithAnIntegrityError() async throws {
        let (chain, service, _, record) = try await setUp()
        let entry = try #require(RecordIndex.current(record, in: chain.node.state))
        let request = AccessRequest(requester: patient.derivedID, record: record, purpose: .treatment, action: .read)
        #expect(try await readAsPatient(service, record).contains("potassium"))
        #expect(String(decoding: try #require(try await service.serve([request]).first?.content), as: UTF8.self).contains("potassium"))

        // One bit of the stored ciphertext flipped in the SQLite file (not through the store's API).
        let file = try vaultFile(chain)
        try await file.write { db in
            var bytes = try #require(try Data.fetchOne(db, sql: "SELECT data FROM blob WHERE hash = ?", arguments: [Data(entry.ciphertextHash.bytes)]))
            bytes[20] ^= 1
            try db.execute(sql: "UPDATE blob SET data = ? WHERE hash = ?", arguments: [bytes, Data(entry.ciphertextHash.bytes)])
            #expect(db.changesCount == 1)
        }
        try file.close()

        // Both read paths refuse it: the stored blob no longer matches the content address the chain holds.
        // (The error names that blob; a ciphertext that merely failed to decrypt would name the record.)
        let read = await #expect(throws: AccessError.self) { _ = try await readAsPatient(service, record) }
        Self.expectAlteredBlob(read, entry.ciphertextHash, "read")
        let served = await #expect(throws: AccessError.self) { _ = try await service.serve([request]) }
        Self.expectAlteredBlob(served, entry.ciphertextHash, "serve")
        await chain.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func erasureShredsBlobAndKeysAndReadsFailAsErased() async throws {
        let (chain, service, vault, record) = try await setUp()
        let entry = try #require(RecordIndex.current(record, in: chain.node.state))
        #expect(try await readAsPatient(service, record).contains("potassium"))

        // Shredding needs the erasure on-chain first; until then everything stays.
        let early = #expect(throws: AccessError.self) { try service.shred(record) }
        guard case .integrity = early else { Issue.record("expected an integrity refusal, got \(String(describing: early))"); return }
        #expect(try vault.blob(entry.ciphertextHash) != nil)

        let erase = try await chain.node.submitAndWait(chain.sign(patient, RecordsContract.Erase(record: record)))
        #expect(erase.status.result.isAccepted)
        let report = try service.shred(record)
        #expect(report.blobs == 1 && report.wrappedKeys == 1)

        // The blob and the version's wrapped data key are gone from the vault file.
        #expect(try vault.blob(entry.ciphertextHash) == nil)
        #expect(try vault.sealedVersion(blob: entry.ciphertextHash, record: record, version: 1) == nil)
        let file = try vaultFile(chain)
        let left = try await file.read { db in
            (blobs: try Int.fetchOne(db, sql: "SELECT count(*) FROM blob WHERE hash = ?", arguments: [Data(entry.ciphertextHash.bytes)]) ?? -1,
             dataKeys: try Int.fetchOne(db, sql: "SELECT count(*) FROM record_version WHERE record = ? AND data_key IS NOT NULL",
                                        arguments: [Data(record.bytes)]) ?? -1,
             wrappedKeys: try Int.fetchOne(db, sql: "SELECT count(*) FROM wrapped_key WHERE record = ?", arguments: [Data(record.bytes)]) ?? -1)
        }
        try file.close()
        #expect(left.blobs == 0 && left.dataKeys == 0 && left.wrappedKeys == 0, "\(left)")

        // Every read is now refused as erased: the patient's, the author's, and the custodian's own serve path.
        for requester in [patient.derivedID, doctor.derivedID] {
            let request = AccessRequest(requester: requester, record: record, purpose: .treatment, action: .read)
            let error = await #expect(throws: AccessError.self) { try await service.read(request) }
            guard case .denied(let decision) = error else {
                Issue.record("expected a denial, got \(String(describing: error))")
                continue
            }
            #expect(decision.reason == .recordErased)
        }
        let served = try #require(try await service.serve([AccessRequest(requester: patient.derivedID, record: record, purpose: .treatment,
                                                                         action: .read)]).first)
        #expect(served.content == nil && served.decision.reason == .recordErased)
        #expect(RecordIndex.current(record, in: chain.node.state)?.ciphertextHash == entry.ciphertextHash, "the chain keeps the hash")
        await chain.close()
    }
}
