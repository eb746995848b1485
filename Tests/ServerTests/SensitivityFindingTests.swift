import Contracts
import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import Node
import Server
import Services
import Testing

/// Security review findings 3 and 13, over FHIR as the review saw them.
///
/// 3: a new version without `meta.security` downgraded the record, and every older version was
///    then released under the general rules (a clinic with a general consent read an
///    HIV-labelled version 1). Labels now carry over until the patient or a privacy officer
///    releases them, and an older version is also decided on its own label.
/// 13: the custodian's whole care team read every sensitive category. Now they need a consent
///    naming it, break-glass, or their organization's explicit on-chain choice — unless they wrote it.
@Suite("Security findings 3 and 13: sensitivity labels", .serialized)
struct SensitivityFindingTests {
    static func hivObservation(_ patient: String, value: String, labelled: Bool) -> [String: Any] {
        var observation: [String: Any] = [
            "resourceType": "Observation", "status": "final", "subject": ["reference": "Patient/\(patient)"],
            "effectiveDateTime": "2024-03-01", "valueString": value,
            "code": ["coding": [["system": "http://loinc.org", "code": "75622-1"]]],
        ]
        if labelled { observation["meta"] = ["security": [["system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"]]] }
        return observation
    }

    @Test(.timeLimit(.minutes(3)))
    func labelsCarryOverAndBindTheCareTeam() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let ledger = fhir.client
            let nurse = IdentityKeys(seed: Array(repeating: 15, count: 32))
            try await ledger.commit([UnsignedCall(fixture.hospital, call: MembershipContract.Enroll(
                label: "nurse", roles: [.nurse], signingKey: nurse.signingPublicKey, agreementKey: nurse.agreementPublicKey))])

            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            let created = try await doctor.call(.post, "/fhir/Observation", Self.hivObservation(patientID, value: "POSITIVE", labelled: true))
            #expect(created.status == .created, "\(created.json)")
            let id = try #require(created.json["id"] as? String)
            var second = Self.hivObservation(patientID, value: "see note", labelled: false)
            second["id"] = id
            #expect(try await doctor.call(.put, "/fhir/Observation/\(id)", second).status == .ok, "version 2, no meta.security")

            let record = fixture.recordID(type: "Observation", id: id)
            let entry = try #require(RecordIndex.current(record, in: fixture.node.state))
            #expect(entry.version == 2 && entry.category == .general)
            #expect(entry.sensitiveLabels == [.hiv], "the HIV label carried over to version 2")

            // The patient grants the clinic doctor a general consent: every type, treatment, no category named.
            let patientRecord = try #require(RecordIndex.current(fixture.recordID(type: "Patient", id: patientID), in: fixture.node.state))
            let patientKeys = try #require(fixture.patientKeys.keys(of: patientRecord.patient))
            try await ledger.commit([UnsignedCall(patientKeys, call: ConsentContract.Grant(
                patient: patientRecord.patient, grantee: .member(fixture.clinicDoctor.derivedID), purposes: [.treatment], actions: [.read]))])

            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            let nurseClient = FHIRClient(client: client, bearer: try await token(client, for: nurse))
            // Finding 3: neither the current version nor version 1 is released under a general consent (and, finding 12,
            // a refused read is "not known", as a missing one).
            #expect(try await clinic.call(.get, "/fhir/Patient/\(patientID)").status == .ok, "the consent itself works")
            #expect(try await clinic.call(.get, "/fhir/Observation/\(id)").status == .notFound)
            let vread = try await clinic.call(.get, "/fhir/Observation/\(id)/_history/1")
            #expect(vread.status == .notFound, "\(vread.json)")
            #expect(try await clinic.call(.get, "/fhir/Observation/\(id)/_history").status == .notFound)
            #expect(try await clinic.call(.get, "/fhir/Provenance?target=Observation/\(id)").status == .notFound)
            let typeHistory = try await clinic.call(.get, "/fhir/Observation/_history")
            #expect((typeHistory.json["entry"] as? [Any]) == nil, "\(typeHistory.json)")
            // Finding 13: the custodian's nurse (care team, not the author) needs a consent naming HIV too.
            #expect(try await nurseClient.call(.get, "/fhir/Observation/\(id)").status == .notFound)
            #expect(try await nurseClient.call(.get, "/fhir/Observation/\(id)/_history/1").status == .notFound)
            #expect(try await nurseClient.call(.get, "/fhir/Patient/\(patientID)").status == .ok, "general records stay open to the care team")
            #expect(try await doctor.call(.get, "/fhir/Observation/\(id)/_history/1").status == .ok, "the author still reads what they wrote")

            // A downgrade: only the patient side or a privacy officer may release the carried label.
            let release = RecordsContract.ReleaseLabel(record: record, category: .hiv)
            let refused = await #expect(throws: Refused.self) { try await ledger.commit([UnsignedCall(fixture.doctor, call: release)]) }
            #expect(refused?.code == "unauthorized")
            try await ledger.commit([UnsignedCall(patientKeys, call: release)])
            #expect(RecordIndex.current(record, in: fixture.node.state)?.sensitiveLabels == [])
            #expect(try await clinic.call(.get, "/fhir/Observation/\(id)").json["valueString"] as? String == "see note",
                    "version 2 is general once the patient released the label")
            #expect(try await clinic.call(.get, "/fhir/Observation/\(id)/_history/1").status == .notFound, "version 1 keeps its own label")

            // The looser policy is an explicit, on-chain choice of the custodian.
            try await ledger.commit([UnsignedCall(fixture.hospital, call: MembershipContract.SetCareTeamCategories(categories: [.hiv]))])
            let opened = try await nurseClient.call(.get, "/fhir/Observation/\(id)/_history/1")
            #expect(opened.status == .ok, "\(opened.json)")
            #expect(opened.json["valueString"] as? String == "POSITIVE")
        } }
    }
}
