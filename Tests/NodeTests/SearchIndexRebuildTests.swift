import Contracts
import FHIR
import Foundation
import LedgerCore
import Node
import Storage
import Testing
import Vault

/// A vault indexed by the search table of an earlier release (dates as their start only, no end
/// rows, none of the standard's other parameters) is indexed again from its records when the
/// node opens it (`LocalLedger.open` runs this while `node.json`'s `searchIndexVersion` is older).
@Suite("The search index is rebuilt from the records")
struct SearchIndexRebuildTests {
    let doctor = IdentityKeys(seed: Array(repeating: 40, count: 32))
    let patient = IdentityKeys(seed: Array(repeating: 41, count: 32))

    @Test(.timeLimit(.minutes(3)))
    func anOldIndexIsRebuilt() async throws {
        let chain = try await TestChain()
        let vault = try SQLiteVaultStore(path: chain.directory.appendingPathComponent("vault.sqlite").path)
        let access = AccessService(node: chain.node, vault: vault, custodians: [chain.hospital],
                                   indexKey: try BlindIndexKey(secret: Array(repeating: 7, count: 32)))
        _ = try await chain.node.submitAndWait(chain.enroll(doctor, by: chain.hospital))
        _ = try await chain.node.submitAndWait(chain.sign(patient, MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)))
        let record = Hash256.sha256([91])
        let content = Array(#"{"resourceType":"Observation","status":"final","code":{"text":"bp"},"effectivePeriod":{"start":"2015-01-01"},"valueQuantity":{"value":120,"unit":"mmHg"}}"#.utf8)
        // What the old release indexed: the start of the period, readable, and nothing else.
        let legacy = ExtractedFields(resourceType: "Observation", values: [IndexedValue(param: "_type", value: "Observation"),
                                                                          IndexedValue(param: "date", value: "2015-01-01T00:00:00Z")])
        let prepared = try access.prepare(content: content, fields: legacy, record: record, version: 1, patient: patient.derivedID,
                                          custodian: chain.hospital.derivedID)
        try access.store(prepared.version)
        let receipt = try await chain.node.submitAndWait(chain.sign(doctor, RecordsContract.Register(
            record: record, patient: patient.derivedID, resourceType: "Observation", category: .general, ciphertextHash: prepared.version.blob.hash, version: 1)))
        #expect(receipt.status.result.isAccepted)
        try vault.publish([prepared.version.pending])
        #expect(try vault.entries(param: SearchValues.endRow("date"), from: "", to: nil, limit: 10).isEmpty, "the old index has no end rows")

        #expect(try access.rebuildSearchIndex() == 1)
        let dates = try vault.entries(param: "date", from: "", to: nil, limit: 10).map(\.value)
        #expect(dates == ["2015-01-01T00:00:00Z|" + SearchValues.openEnd], "a Period with no end is open: \(dates)")
        #expect(try vault.entries(param: SearchValues.endRow("date"), from: "", to: nil, limit: 10).count == 1)
        #expect(try vault.entries(param: "value-quantity", from: "", to: nil, limit: 10).count == 1, "the standard's other parameters are indexed")
        #expect(try vault.records(param: "_type", value: "Observation", limit: 10) == [record])
        #expect(try access.rebuildSearchIndex() == 1, "idempotent: the same rows again")
        #expect(try vault.entries(param: "date", from: "", to: nil, limit: 10).count == 1)
        await chain.close()
    }
}
