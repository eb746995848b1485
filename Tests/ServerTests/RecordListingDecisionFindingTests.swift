import Contracts
import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import Node
import Server
import Services
import Testing

/// Security review finding 4, the rest: `GET /v1/patients/{p}/records` and `GET /v1/records/{id}`
/// showed a record's entry (its resource type and sensitivity category: health information) with
/// no consent decision and no audit entry. Now the patient side sees its own list unlogged; anyone
/// else sees an entry only under a read decision that is in the patient's access log, permit or
/// deny. (The roles half of the finding is `RecordListingFindingTests`.)
@Suite("Security finding 4: record listings are logged consent decisions", .serialized)
struct RecordListingDecisionFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func listingsAndDescriptionsAreDecidedAndLogged() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let nurse = IdentityKeys(seed: Array(repeating: 16, count: 32))
            try await fhir.client.commit([UnsignedCall(fixture.hospital, call: MembershipContract.Enroll(
                label: "nurse", roles: [.nurse], signingKey: nurse.signingPublicKey, agreementKey: nurse.agreementPublicKey))])
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            let hivID = try #require(try await doctor.call(
                .post, "/fhir/Observation", SensitivityFindingTests.hivObservation(patientID, value: "POSITIVE", labelled: true)).json["id"] as? String)
            let patientRecord = fixture.recordID(type: "Patient", id: patientID)
            let hivRecord = fixture.recordID(type: "Observation", id: hivID)
            let patient = try #require(RecordIndex.current(patientRecord, in: fixture.node.state)).patient
            let patientKeys = try #require(fixture.patientKeys.keys(of: patient))
            func logSize() throws -> Int { try fhir.access.accessLog(patient: patient).count }
            func listed(_ response: (status: HTTPResponse.Status, json: [String: Any], headers: HTTPFields)) -> Set<String> {
                Set((response.json["records"] as? [[String: Any]] ?? []).compactMap { $0["record"] as? String })
            }

            // The patient lists both records; nothing is released to anyone else, so nothing is logged.
            let own = FHIRClient(client: client, bearer: try await token(client, for: patientKeys))
            var before = try logSize()
            let all = try await own.call(.get, "/v1/patients/\(patient.hex)/records")
            #expect(all.status == .ok && listed(all) == [patientRecord.hex, hivRecord.hex], "\(all.json)")
            #expect(try logSize() == before)

            // The custodian's nurse: the care team lists the general record; the HIV-labelled one needs a
            // consent naming HIV, so it is left out — and both decisions are in the patient's log.
            let nurseClient = FHIRClient(client: client, bearer: try await token(client, for: nurse))
            before = try logSize()
            let nurseList = try await nurseClient.call(.get, "/v1/patients/\(patient.hex)/records")
            #expect(nurseList.status == .ok && listed(nurseList) == [patientRecord.hex], "\(nurseList.json)")
            let logged = try fhir.access.accessLog(patient: patient).suffix(try logSize() - before).map(\.entry)
            #expect(logged.count == 2 && logged.allSatisfy { $0.requester == nurse.derivedID }, "\(logged)")
            #expect(Set(logged.map(\.outcome)) == [.permit, .deny])
            #expect(try await nurseClient.call(.get, "/v1/records/\(hivRecord.hex)").status == .notFound)
            #expect(try fhir.access.accessLog(patient: patient).last?.entry.record == hivRecord, "the refused description is logged")

            // The author describes what she wrote: a logged permit.
            before = try logSize()
            let described = try await doctor.call(.get, "/v1/records/\(hivRecord.hex)")
            #expect(described.status == .ok && described.json["category"] as? String == "hiv", "\(described.json)")
            let permit = try #require(try fhir.access.accessLog(patient: patient).last?.entry)
            #expect(try logSize() == before + 1 && permit.requester == fixture.doctor.derivedID && permit.outcome == .permit)

            // Another organization's clinician, without consent: refused, and the refusal is logged.
            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            before = try logSize()
            #expect(try await clinic.call(.get, "/v1/records/\(patientRecord.hex)").status == .notFound)
            let denial = try #require(try fhir.access.accessLog(patient: patient).last?.entry)
            #expect(try logSize() == before + 1 && denial.requester == fixture.clinicDoctor.derivedID && denial.outcome == .deny)
        } }
    }
}
