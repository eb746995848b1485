import Contracts
import Foundation
import LedgerCore
import Node
import Storage
import Testing
import Vault

/// Security review finding 10, the vault half: `vault.sqlite` held each Patient's birth date and
/// gender readable in its index, next to the pseudonym. They are now blind tokens (and the birth
/// date a sealed value to sort by); a vault written by an earlier release is converted when the
/// node opens it. This test writes a version exactly as the old release indexed it.
@Suite("Birth dates and genders leave the readable index")
struct QuasiIdentifierMigrationTests {
    let patient = IdentityKeys(seed: Array(repeating: 33, count: 32))

    @Test(.timeLimit(.minutes(3)))
    func aLegacyVaultIsConverted() async throws {
        let chain = try await TestChain()
        let vault = try SQLiteVaultStore(path: chain.directory.appendingPathComponent("vault.sqlite").path)
        let access = AccessService(node: chain.node, vault: vault, custodians: [chain.hospital],
                                   indexKey: try BlindIndexKey(secret: Array(repeating: 6, count: 32)))
        _ = try await chain.node.submitAndWait(chain.sign(patient, MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)))
        let record = Hash256.sha256([77])
        let born = "1974-12-25T00:00:00Z"
        // What the old release's indexer extracted from a Patient: readable values, no tokens for them.
        let legacy = ExtractedFields(resourceType: "Patient", values: [IndexedValue(param: "_type", value: "Patient"),
                                                                      IndexedValue(param: "birthdate", value: born),
                                                                      IndexedValue(param: "gender", value: "female")])
        let content = Array(#"{"resourceType":"Patient","gender":"female","birthDate":"1974-12-25"}"#.utf8)
        let prepared = try access.prepare(content: content, fields: legacy, record: record, version: 1, patient: patient.derivedID,
                                          custodian: chain.hospital.derivedID)
        try access.store(prepared.version)
        try vault.publish([prepared.version.pending])
        #expect(try vault.records(param: "birthdate", value: born, limit: 10) == [record], "the old form: readable")
        #expect(try access.search(.birthDate, "1974-12-25").isEmpty)

        #expect(try access.blindLegacyIndexValues() == 2, "birth date and gender of one record")
        #expect(try vault.records(param: "birthdate", value: born, limit: 10).isEmpty)
        #expect(try vault.records(param: "gender", value: "female", limit: 10).isEmpty)
        let stored = try vault.values(param: "birthdate", records: [record])[record] ?? []
        #expect(stored.count == 1 && stored.allSatisfy { $0.hasPrefix(BlindIndexer.sealedPrefix) && !$0.contains("1974") }, "\(stored)")
        #expect(try access.sortValues(param: "birthdate", records: [record])[record] == [born], "still sortable")
        #expect(try access.search(.birthDate, "1974-12-25") == [record])
        #expect(try access.search(.birthDate, "1974") == [record])
        #expect(try access.search(.gender, "female", match: .word) == [record])
        #expect(try vault.values(param: "gender", records: [record]).isEmpty)
        #expect(try access.blindLegacyIndexValues() == 0, "idempotent")

        // Erasure still removes everything the record indexed, the new tokens and sealed value included.
        let report = try vault.erase(record: record)
        #expect(report.indexEntries >= 8, "\(report)")
        #expect(try access.search(.birthDate, "1974").isEmpty && access.search(.gender, "female", match: .word).isEmpty)
        #expect(try vault.values(param: "birthdate", records: [record]).isEmpty)
        await chain.close()
    }
}
