import Contracts
import Foundation
import HTTPTypes
import LedgerCore
import Node
import Services
import Storage
import Testing
import Vault

/// The auditor's access-anomaly page and the network page: the same report as
/// `AccessService.accessAnomalies` (who may ask, thresholds by name, refusals), rendered without PHI.
@Suite("Portal: access anomalies and network status", .serialized)
struct PortalAuditPageTests {
    /// A hospital record of a patient, and the clinic's clinician refused it twice (no consent).
    static func twoDenials(_ fixture: PortalFixture) async throws -> IdentityKeys {
        let client = LedgerClient(node: fixture.node)
        let doctor = IdentityKeys(seed: Array(repeating: 45, count: 32)), patient = IdentityKeys(seed: Array(repeating: 46, count: 32))
        try await client.commit([
            UnsignedCall(fixture.hospital, call: MembershipContract.Enroll(label: "Dr. Hale", roles: [.clinician], signingKey: doctor.signingPublicKey,
                                                                           agreementKey: doctor.agreementPublicKey)),
            UnsignedCall(patient, call: MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)),
        ])
        let record = Hash256.sha256(Array("portal anomaly record".utf8))
        let prepared = try fixture.access.prepare(content: Array(#"{"resourceType":"Observation","status":"final"}"#.utf8), record: record,
                                                  version: 1, patient: patient.derivedID, custodian: fixture.hospital.derivedID)
        try fixture.access.store(prepared.version)
        try await client.commit(UnsignedCall(doctor, call: RecordsContract.Register(
            record: record, patient: patient.derivedID, resourceType: "Observation", category: .general,
            ciphertextHash: prepared.version.blob.hash, version: 1)))
        for _ in 0..<2 {
            let served = try await fixture.access.serve([AccessRequest(requester: fixture.clinician.derivedID, record: record, purpose: .treatment, action: .read)])
            #expect(served.allSatisfy { $0.decision.outcome == .deny })
        }
        return patient
    }

    @Test(.timeLimit(.minutes(3)))
    func theAuditorSeesTheAlertsAtTheThresholdsAskedForAndNothingElse() async throws {
        try await PortalRouteTests.withPortal { fixture, browser in
            let patient = try await Self.twoDenials(fixture)
            _ = try await browser.signIn(fixture.auditor, name: "auditor")

            // The defaults (10 denials) flag nothing; two denials at a threshold of 2 are flagged.
            let quiet = try await browser.get("/portal/anomalies")
            #expect(quiet.status == .ok && quiet.body.contains("id=\"no-alerts\""), "\(quiet.body.prefix(3_000))")
            #expect(quiet.body.contains("name=\"denials\" value=\"10\""), "the form shows the default thresholds")
            let page = try await browser.get("/portal/anomalies?denials=2")
            #expect(page.status == .ok)
            #expect(page.body.contains("class=\"alert-denials\"") && page.body.contains("2 / 2"), "\(page.body.prefix(4_000))")
            // The member's name is escaped, and the patient's id (a pseudonym, but PHI-adjacent) is not on the page.
            #expect(page.body.contains("Dr. &lt;Cleo&gt; &amp; Co") && !page.body.contains("<Cleo>"))
            #expect(!page.body.contains(patient.derivedID.hex))
            #expect(page.body.contains("name=\"denials\" value=\"2\""), "the form keeps what was asked")

            // The service's own words for a bad threshold, on the form, with a 400.
            let bad = try await browser.get("/portal/anomalies?denials=lots")
            #expect(bad.status == .badRequest && bad.body.contains("id=\"anomaly-error\"") && bad.body.contains("denials"), "\(bad.body.prefix(3_000))")
            let unknown = try await browser.get("/portal/anomalies?bogus=1")
            #expect(unknown.status == .badRequest && unknown.body.contains("unknown threshold"))

            // Network: a single node says so, with its height.
            let network = try await browser.get("/portal/network")
            let height = await fixture.node.headHeader.height
            #expect(network.status == .ok && network.body.contains("id=\"network-single\"") && network.body.contains(">\(height) ("),
                    "\(network.body.prefix(3_000))")
            #expect(network.body.contains("aria-current=\"page\">Network"))

            // The hospital itself (an identity with no roles) signs in too; its header names no empty roles.
            var hospital = PortalBrowser(client: browser.client)
            _ = try await hospital.signIn(fixture.hospital, name: "hospital")
            let own = try await hospital.get("/portal/anomalies?denials=2")
            #expect(own.status == .ok && own.body.contains("class=\"alert-denials\""), "the custodian itself reads its alerts")
            #expect(own.body.contains("General Hospital") && !own.body.contains(": , <code"), "\(own.body.prefix(2_000))")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aClinicianIsRefusedTheAlerts() async throws {
        try await PortalRouteTests.withPortal { fixture, browser in
            _ = try await Self.twoDenials(fixture)
            _ = try await browser.signIn(fixture.clinician, name: "clinician")
            let page = try await browser.get("/portal/anomalies?denials=2")
            #expect(page.status == .forbidden && page.body.contains("auditors"), "\(page.body.prefix(3_000))")
            #expect(!page.body.contains("alert-denials"))
            // Signed out: to the sign-in page.
            var stranger = PortalBrowser(client: browser.client)
            let anonymous = try await stranger.get("/portal/anomalies")
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/portal/sign-in")
        }
    }
}
