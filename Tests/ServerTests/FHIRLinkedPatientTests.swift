import Contracts
import FHIR
import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import Node
import Server
import Services
import Testing

/// A patient who holds her own keys registers on the ledger herself and gives the custodian her
/// ledger id; a FHIR Patient naming it (identifier `urn:careledger:identity`) registers its
/// records under her pseudonym, and no keys are generated or kept for her — by single create and
/// in a transaction Bundle. A bad identifier is refused and changes nothing.
@Suite("FHIR: a Patient linked to a patient who holds her own keys", .serialized)
struct FHIRLinkedPatientTests {
    static func linkedPatient(_ value: String, family: String = "Linked") -> [String: Any] {
        ["resourceType": "Patient", "name": [["family": family]], "identifier": [["system": ClaimMapping.identitySystem, "value": value]]]
    }

    @Test(.timeLimit(.minutes(3)))
    func aPatientNamingHerLedgerIDKeepsHerOwnKeys() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let own = IdentityKeys(seed: Array(repeating: 31, count: 32))
            try await fhir.client.commit([UnsignedCall(own, call: MembershipContract.RegisterPatient(agreementKey: own.agreementPublicKey), sequence: 1)])
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))

            let created = try await doctor.call(.post, "/fhir/Patient", Self.linkedPatient(own.derivedID.hex))
            #expect(created.status == .created, "\(created.json)")
            let patientID = try #require(created.json["id"] as? String)
            #expect(fixture.ledgerPatient(patientID) == own.derivedID)
            let observation = try await doctor.call(.post, "/fhir/Observation", FHIRServerTests.observation(patientID, code: "2345-7", date: "2026-11-02"))
            #expect(observation.status == .created, "\(observation.json)")
            let observationRecord = fixture.recordID(type: "Observation", id: try #require(observation.json["id"] as? String))
            #expect(RecordIndex.current(observationRecord, in: fixture.node.state)?.patient == own.derivedID)
            #expect(fixture.patientKeys.keys(of: own.derivedID) == nil, "the server keeps no key for a patient who holds her own")

            // The patient herself reads her record with her own keys: the data key is wrapped to her.
            let mine = FHIRClient(client: client, bearer: try await token(client, for: own))
            let release = try await mine.call(.get, "/v1/records/\(observationRecord.hex)/release")
            #expect(release.status == .ok && release.json["wrapped_key"] != nil, "\(release.json)")

            // In a transaction Bundle, an Observation refers to the linked Patient by its urn:uuid.
            let bundle: [String: Any] = ["resourceType": "Bundle", "type": "transaction", "entry": [
                ["fullUrl": "urn:uuid:8f9d2c1e-0a4b-4c6d-9e8f-1a2b3c4d5e6f", "resource": Self.linkedPatient(own.derivedID.hex, family: "Bundled"),
                 "request": ["method": "POST", "url": "Patient"]],
                ["fullUrl": "urn:uuid:1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9",
                 "resource": FHIRServerTests.observation("urn:uuid:8f9d2c1e-0a4b-4c6d-9e8f-1a2b3c4d5e6f", code: "718-7", date: "2026-11-03")
                    .merging(["subject": ["reference": "urn:uuid:8f9d2c1e-0a4b-4c6d-9e8f-1a2b3c4d5e6f"]]) { _, new in new },
                 "request": ["method": "POST", "url": "Observation"]],
            ]]
            let answer = try await doctor.call(.post, "/fhir", bundle)
            #expect(answer.status == .ok, "\(answer.json)")
            let locations = (answer.json["entry"] as? [[String: Any]] ?? []).compactMap { ($0["response"] as? [String: Any])?["location"] as? String }
            #expect(locations.count == 2, "\(answer.json)")
            for location in locations {
                let parts = location.split(separator: "/")
                let record = fixture.recordID(type: String(parts[0]), id: String(parts[1]))
                #expect(RecordIndex.current(record, in: fixture.node.state)?.patient == own.derivedID, "\(location)")
            }
            #expect(fixture.patientKeys.keys(of: own.derivedID) == nil)
        } }
    }

    /// Each bad identifier: its status and issue code; nothing is written.
    @Test(.timeLimit(.minutes(3)))
    func aBadLedgerIDIsRefusedAndChangesNothing() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let unknown = IdentityKeys(seed: Array(repeating: 32, count: 32)).derivedID.hex
            let twice: [String: Any] = ["resourceType": "Patient", "identifier": [
                ["system": ClaimMapping.identitySystem, "value": unknown], ["system": ClaimMapping.identitySystem, "value": unknown]]]
            let cases: [(String, [String: Any], HTTPResponse.Status, String)] = [
                ("not 64 hex", Self.linkedPatient("patient-42"), .badRequest, "invalid"),
                ("two ledger ids", twice, .badRequest, "invalid"),
                ("an id no one registered", Self.linkedPatient(unknown), .unprocessableContent, "processing"),
                ("an organization, not a patient", Self.linkedPatient(fixture.hospital.derivedID.hex), .unprocessableContent, "processing"),
            ]
            for (what, resource, status, code) in cases {
                let height = await fixture.node.headHeader.height
                let answer = try await doctor.call(.post, "/fhir/Patient", resource)
                #expect(answer.status == status && issueCode(answer.json) == code, "\(what): \(answer.status) \(answer.json)")
                #expect(await fixture.node.headHeader.height == height, "\(what): nothing was committed")
            }
        } }
    }
}
