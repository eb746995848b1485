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

/// Security review finding 10 (export files): `$export-file` downloads were served for up to an
/// hour after they were made — after the patient revoked the consent they were made under — and
/// the download itself was no audited decision. Now every line is decided again, and logged, when
/// the file is downloaded.
@Suite("Security finding 10: export downloads are decided again", .serialized)
struct ExportRevocationFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func aRevokedConsentEmptiesAnExportMadeUnderIt() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            for day in 1...3 {
                #expect(try await doctor.call(.post, "/fhir/Observation", FHIRServerTests.observation(patientID, code: "718-7", date: "2024-01-0\(day)")).status == .created)
            }
            let patient = try #require(RecordIndex.current(fixture.recordID(type: "Patient", id: patientID), in: fixture.node.state)).patient
            let patientKeys = try #require(fixture.patientKeys.keys(of: patient))
            let grant = try await fhir.client.commit([UnsignedCall(patientKeys, call: ConsentContract.Grant(
                patient: patient, grantee: .member(fixture.clinicDoctor.derivedID), purposes: [.treatment], actions: [.read]))])
            let consent = try #require(grant.first).transactionID

            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            let kickoff = try await clinic.call(.get, "/fhir/$export?_type=Observation", headers: [HTTPField.Name("Prefer")!: "respond-async"])
            let statusURL = try #require(kickoff.headers[.contentLocation])
            let statusPath = String(statusURL[statusURL.range(of: "/fhir/")!.lowerBound...])
            var manifest: [String: Any] = [:]
            for _ in 0..<300 {
                let status = try await clinic.call(.get, statusPath)
                if status.status == .ok { manifest = status.json; break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let output = try #require((manifest["output"] as? [[String: Any]])?.first)
            #expect(output["count"] as? Int == 3)
            let fileURL = try #require(output["url"] as? String)
            let filePath = String(fileURL[fileURL.range(of: "/fhir/")!.lowerBound...])
            func download() async throws -> [Substring] {
                try await client.execute(uri: filePath, method: .get, headers: [.authorization: "Bearer \(clinic.bearer ?? "")"]) {
                    String(buffer: $0.body)
                }.split(separator: "\n")
            }
            let logBefore = try fhir.access.accessLog(patient: patient).count
            #expect(try await download().count == 3, "under the consent the file holds the three Observations")
            #expect(try fhir.access.accessLog(patient: patient).count == logBefore + 3, "the download is three logged decisions")

            try await fhir.client.commit([UnsignedCall(patientKeys, call: ConsentContract.Revoke(patient: patient, consent: consent))])
            #expect(try await download().isEmpty, "after the revocation the same file releases nothing")
            let log = try fhir.access.accessLog(patient: patient)
            #expect(log.suffix(3).allSatisfy { $0.entry.requester == fixture.clinicDoctor.derivedID && $0.entry.outcome == .deny })
        } }
    }
}
