import Contracts
import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import Node
import Server
import Services
import Storage
import Testing

/// Security review finding 5: a write stored its ciphertext and replaced the record's index
/// entries before the ledger accepted it, and never rolled back. A clinic clinician without a
/// `contribute` consent was refused (403) yet rewrote the hospital record's search index —
/// `code=75622-1` then found nothing, `code=0000-0` found the hospital's record — and each
/// refused write left its ciphertext behind.
@Suite("Security finding 5: refused writes change nothing", .serialized)
struct RefusedWriteFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func aRefusedWriteLeavesTheIndexAndTheVaultAlone() async throws {
        try await FHIRFixture.with(clinicHeldHere: true) { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            let observation = FHIRServerTests.observation(patientID, code: "75622-1", date: "2024-03-01")
            let id = try #require(try await doctor.call(.post, "/fhir/Observation", observation).json["id"] as? String)
            #expect(try await doctor.call(.get, "/fhir/Observation?code=75622-1").json["total"] as? Int == 1)

            // The clinic's clinician has no contribute consent: refused, and nothing changes.
            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            var rewritten = FHIRServerTests.observation(patientID, code: "0000-0", date: "2024-03-01")
            rewritten["id"] = id
            let refused = try await clinic.call(.put, "/fhir/Observation/\(id)", rewritten)
            #expect(refused.status == .forbidden, "\(refused.json)")
            #expect(try await doctor.call(.get, "/fhir/Observation?code=75622-1").json["total"] as? Int == 1,
                    "the hospital's record is still found by its own code")
            #expect(try await doctor.call(.get, "/fhir/Observation?code=0000-0").json["total"] as? Int == 0,
                    "the refused write's code indexes nothing")
            #expect(try fhir.access.vault.pendingVersions(limit: 10).isEmpty, "no orphan version or ciphertext is left")
            #expect(RecordIndex.current(fixture.recordID(type: "Observation", id: id), in: fixture.node.state)?.version == 1)

            // The same through a transaction Bundle.
            let bundle: [String: Any] = ["resourceType": "Bundle", "type": "transaction", "entry": [
                ["resource": rewritten, "request": ["method": "PUT", "url": "Observation/\(id)"]],
            ]]
            let refusedBundle = try await clinic.call(.post, "/fhir", bundle)
            #expect(refusedBundle.status == .forbidden, "\(refusedBundle.json)")
            #expect(try await doctor.call(.get, "/fhir/Observation?code=75622-1").json["total"] as? Int == 1)
            #expect(try fhir.access.vault.pendingVersions(limit: 10).isEmpty)

            // An accepted update moves the index with it.
            var updated = FHIRServerTests.observation(patientID, code: "2345-7", date: "2024-03-01")
            updated["id"] = id
            #expect(try await doctor.call(.put, "/fhir/Observation/\(id)", updated).status == .ok)
            #expect(try await doctor.call(.get, "/fhir/Observation?code=2345-7").json["total"] as? Int == 1)
            #expect(try await doctor.call(.get, "/fhir/Observation?code=75622-1").json["total"] as? Int == 0)
        } }
    }
}
