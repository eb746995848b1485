import Contracts
import FHIR
import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import Node
import Server
import Services
import Storage
import Testing
import Vault

/// Security review finding 1, record ids: a FHIR resource's record id was an unkeyed SHA-256 of
/// `Type/id`, so anyone who knew an MRN-style id (`Patient/MRN-123`) computed its record and found
/// it — and the patient's pseudonym — on the shared chain. Now the id is keyed with a secret of the
/// node; records written by an earlier release keep their id and are still found and updated.
@Suite("Security finding 1: record ids are not computable from a FHIR id", .serialized)
struct RecordIDFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func aGuessableIDDoesNotLeadToItsRecord() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            var patient = FHIRServerTests.patient
            patient["id"] = "MRN-123"
            #expect(try await doctor.call(.put, "/fhir/Patient/MRN-123", patient).status == .created)

            let guessed = FHIRRecordIDs.legacy(type: "Patient", id: "MRN-123")
            #expect(RecordIndex.current(guessed, in: fixture.node.state) == nil, "the unkeyed id names nothing")
            let record = fixture.recordID(type: "Patient", id: "MRN-123")
            #expect(record != guessed && RecordIndex.current(record, in: fixture.node.state)?.resourceType == "Patient")
            let otherNode = FHIRRecordIDs(key: try RecordIDKey(secret: Array(repeating: 1, count: 32)))
            #expect(otherNode.keyed(type: "Patient", id: "MRN-123") != record, "another node's key gives another id")
            // Nothing on the chain spells the guessable id's record.
            let entry = try #require(RecordIndex.current(record, in: fixture.node.state))
            let registered = try #require(try fhir.registration(of: entry))
            #expect(Data(registered.bytes).range(of: Data(guessed.bytes)) == nil && Data(registered.bytes).range(of: Data(record.bytes)) != nil)
        } }
    }

    /// A record an earlier release registered under the unkeyed id is still read, searched and
    /// updated under that id: no second record appears.
    @Test(.timeLimit(.minutes(3)))
    func aRecordOfAnEarlierReleaseKeepsItsID() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let patientKeys = IdentityKeys.generate()
            try await fhir.client.commit([UnsignedCall(patientKeys, call: MembershipContract.RegisterPatient(agreementKey: patientKeys.agreementPublicKey))])
            // What the earlier release did for PUT /fhir/Patient/OLD-7: the record under SHA-256 of "Patient/OLD-7".
            let legacy = FHIRRecordIDs.legacy(type: "Patient", id: "OLD-7")
            var resource = FHIRServerTests.patient
            resource["id"] = "OLD-7"
            let content = FHIRJSON.data(resource)
            let prepared = try fhir.access.prepare(content: content, record: legacy, version: 1, patient: patientKeys.derivedID,
                                                   custodian: fixture.hospital.derivedID)
            try fhir.access.store(prepared.version)
            _ = try await fhir.access.registering([prepared.version]) {
                try await fhir.client.commit([UnsignedCall(fixture.hospital, sender: fixture.hospital.derivedID, call: RecordsContract.Register(
                    record: legacy, patient: patientKeys.derivedID, resourceType: "Patient", category: .general,
                    ciphertextHash: prepared.version.blob.hash, version: 1, agent: fixture.doctor.derivedID))])
            }

            #expect(fixture.recordID(type: "Patient", id: "OLD-7") == legacy)
            // A directory made since ids are keyed (`keyedRecordIDsOnly`) never looks for a legacy id.
            let keyedOnly = FHIRRecordIDs(key: RecordIDKey.derive(from: fixture.nodeKeys.agreement), legacyIDs: false)
            #expect(keyedOnly.resolve(type: "Patient", id: "OLD-7", in: fixture.node.state) == keyedOnly.keyed(type: "Patient", id: "OLD-7"))
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            #expect(try await doctor.call(.get, "/fhir/Patient/OLD-7").json["id"] as? String == "OLD-7")
            resource["gender"] = "other"
            let updated = try await doctor.call(.put, "/fhir/Patient/OLD-7", resource)
            #expect(updated.status == .ok, "\(updated.json)")
            #expect(RecordIndex.current(legacy, in: fixture.node.state)?.version == 2)
            #expect(RecordIndex.current(FHIRRecordIDs(key: RecordIDKey.derive(from: fixture.nodeKeys.agreement)).keyed(type: "Patient", id: "OLD-7"),
                                        in: fixture.node.state) == nil, "no second record")
            #expect(try await doctor.call(.get, "/fhir/Patient?identifier=MRN-4242").json["total"] as? Int == 1)
        } }
    }
}
