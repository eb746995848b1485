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

/// Security review finding 10 (the unlogged responses): `_summary=count`, the ledger FHIR views
/// (`ClaimResponse/ledger-…`, `MedicationRequest/ledger-…`, `MedicationDispense/ledger-…`,
/// `Encounter/ledger-…`), `/v1/claims` and `/v1/prescriptions` told a requester about a patient
/// with nothing in the patient's access log. Now each is a logged decision, permit or deny,
/// before the answer.
@Suite("Security finding 10: every response about a patient is in the access log", .serialized)
struct UnloggedReadFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func countsAndSearchTotalsAreLogged() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            for day in 1...3 {
                let created = try await doctor.call(.post, "/fhir/Observation", FHIRServerTests.observation(patientID, code: "4548-4", date: "2024-05-0\(day)"))
                #expect(created.status == .created)
            }
            let patient = try #require(RecordIndex.current(fixture.recordID(type: "Patient", id: patientID), in: fixture.node.state)).patient
            func newEntries(_ body: () async throws -> Void) async throws -> [AuditEntry] {
                let before = try fhir.access.accessLog(patient: patient).count
                try await body()
                return try fhir.access.accessLog(patient: patient).dropFirst(before).map(\.entry)
            }

            // A count alone: three decisions, nothing released (version 0).
            let counted = try await newEntries {
                let count = try await doctor.call(.get, "/fhir/Observation?patient=\(patientID)&_summary=count")
                #expect(count.status == .ok && count.json["total"] as? Int == 3, "\(count.json)")
            }
            #expect(counted.count == 3 && counted.allSatisfy { $0.outcome == .permit && $0.version == 0 }, "\(counted)")

            // A page of one: the match served (its version) and the two the total counts.
            let paged = try await newEntries {
                let page = try await doctor.call(.get, "/fhir/Observation?patient=\(patientID)&_count=1")
                #expect(page.status == .ok && page.json["total"] as? Int == 3 && (page.json["entry"] as? [Any])?.count == 1, "\(page.json)")
            }
            #expect(paged.count == 3 && paged.map(\.version).sorted() == [0, 0, 1], "\(paged)")
        } }
    }

    @Test(.timeLimit(.minutes(5)))
    func ledgerViewsClaimsAndPrescriptionsAreLogged() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            // Commits a prescription with a fill, a telehealth session and a claim; reads each view as
            // the doctor (a party) and as another organization's clinician (refused).
            let views = try await FHIRLedgerViewTests.readViews(fixture, client)
            let rxPatient = FHIRLedgerViewTests.patient.derivedID
            let rxLog = try fhir.access.accessLog(patient: rxPatient).map(\.entry)
            let doctorID = fixture.doctor.derivedID, outsiderID = fixture.clinicDoctor.derivedID
            // MedicationRequest, MedicationDispense and Encounter: a permit for the doctor, a denial for the outsider, each.
            #expect(rxLog.filter { $0.requester == doctorID && $0.reason == .party }.count == 3, "\(rxLog)")
            #expect(rxLog.filter { $0.requester == outsiderID && $0.reason == .notAParty && $0.outcome == .deny }.count == 3, "\(rxLog)")

            // The claim: its ClaimResponse over FHIR, and /v1/claims, for a party and an outsider.
            let claimResponseID = try #require(views[4]["id"] as? String)
            let claimHex = try #require((views[4]["identifier"] as? [[String: Any]])?.first?["value"] as? String)
            let claimEntry = try #require(Hash256(hex: claimHex).flatMap { ClaimsContract.claim($0, in: fixture.node.state) })
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let outsider = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            let before = try fhir.access.accessLog(patient: claimEntry.patient).count
            #expect(try await doctor.call(.get, "/fhir/ClaimResponse/\(claimResponseID)").status == .ok)
            #expect(try await outsider.call(.get, "/fhir/ClaimResponse/\(claimResponseID)").status == .forbidden)
            #expect(try await doctor.call(.get, "/v1/claims/\(claimEntry.id.hex)").status == .ok)
            #expect(try await outsider.call(.get, "/v1/claims/\(claimEntry.id.hex)").status == .forbidden)
            let claimLog = try fhir.access.accessLog(patient: claimEntry.patient).dropFirst(before).map(\.entry)
            #expect(claimLog.map(\.outcome) == [.permit, .deny, .permit, .deny] && claimLog.allSatisfy { $0.record == claimEntry.id && $0.purpose == .payment },
                    "\(claimLog)")

            // /v1/prescriptions: the doctor's organization wrote it; the outsider is no pharmacist.
            let rx = try #require(try fhir.access.accessLog(patient: rxPatient).map(\.entry).first { $0.reason == .party }?.record)
            let rxBefore = try fhir.access.accessLog(patient: rxPatient).count
            #expect(try await doctor.call(.get, "/v1/prescriptions/\(rx.hex)").status == .ok)
            #expect(try await outsider.call(.get, "/v1/prescriptions/\(rx.hex)").status == .forbidden)
            let rxReads = try fhir.access.accessLog(patient: rxPatient).dropFirst(rxBefore).map(\.entry)
            #expect(rxReads.map(\.outcome) == [.permit, .deny] && rxReads.allSatisfy { $0.record == rx }, "\(rxReads)")
        } }
    }
}
