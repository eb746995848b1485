import Contracts
import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
import Server
import Services
import Testing

/// Security review finding 12 (in part): a denial named the patient's closest consent and why it
/// failed ("the consent does not cover this purpose of use; consent 3f…"), telling a requester
/// that the patient consented to someone, for what and until when. A requester now hears only
/// "no consent"; the patient's access log keeps the real reason and the consent.
@Suite("Security finding 12: denials do not describe the patient's consents", .serialized)
struct ExistenceLeakFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func aDenialNamesNoConsent() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            let entry = try #require(RecordIndex.current(FHIRService.recordID(type: "Patient", id: patientID), in: fixture.node.state))
            let patientKeys = try #require(fixture.patientKeys.keys(of: entry.patient))
            // A consent for research only: the clinic doctor's treatment read comes close, and fails.
            let granted = try await fhir.client.commit([UnsignedCall(patientKeys, call: ConsentContract.Grant(
                patient: entry.patient, grantee: .member(fixture.clinicDoctor.derivedID), purposes: [.research], actions: [.read]))])
            let consent = try #require(granted.first).transactionID

            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            let read = try await clinic.call(.get, "/fhir/Patient/\(patientID)")
            #expect(read.status == .forbidden)
            let diagnostics = String(describing: read.json)
            #expect(!diagnostics.contains("purpose") && !diagnostics.contains(consent.hex), "\(diagnostics)")
            let release = try await clinic.call(.get, "/v1/records/\(entry.record.hex)/release")
            #expect(release.status == .forbidden)
            #expect(release.json["error"] as? String == "no-consent", "\(release.json)")
            #expect(!String(describing: release.json).contains(consent.hex))

            // An update with a stale If-Match by someone who may not write here: 403, not 412 naming the version.
            var changed = FHIRServerTests.patient
            changed["id"] = patientID
            let stale = try await clinic.call(.put, "/fhir/Patient/\(patientID)", changed, headers: [.ifMatch: "W/\"7\""])
            #expect(stale.status == .forbidden, "\(stale.json)")
            #expect(!String(describing: stale.json).contains("version 1"), "\(stale.json)")
            #expect(try await doctor.call(.put, "/fhir/Patient/\(patientID)", changed, headers: [.ifMatch: "W/\"7\""]).status == .preconditionFailed,
                    "the custodian's own staff still get 412")

            let log = try fhir.access.accessLog(patient: entry.patient)
            let denial = try #require(log.last { $0.entry.requester == fixture.clinicDoctor.derivedID })
            #expect(denial.entry.reason == .purposeNotPermitted && denial.entry.consent == consent, "the patient's log keeps the real reason")
        } }
    }
}
