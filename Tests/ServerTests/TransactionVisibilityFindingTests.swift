import Contracts
import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
import Server
import Services
import Storage
import Testing

/// Security review finding 1 (first part): any token holder read every transaction's arguments
/// through `GET /v1/txs`, `/v1/txs/{id}` and `/raw` — the record pseudonym, resource type and
/// sensitivity category of every record, bypassing the role checks of the other routes. Now only
/// a transaction's parties, the patient side of a patient it names, and a party's organization
/// (itself, its auditors and administrators) see its content; everyone else sees the id, height
/// and leaf hash an inclusion proof needs.
@Suite("Security finding 1: transactions show their content to their parties only", .serialized)
struct TransactionVisibilityFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func onlyPartiesReadATransaction() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let ledger = try #require(fixture.services.fhir).client
            let auditor = IdentityKeys(seed: Array(repeating: 16, count: 32)), nurse = IdentityKeys(seed: Array(repeating: 17, count: 32))
            try await ledger.commit([
                UnsignedCall(fixture.hospital, call: MembershipContract.Enroll(label: "auditor", roles: [.auditor], signingKey: auditor.signingPublicKey,
                                                                                agreementKey: auditor.agreementPublicKey)),
                UnsignedCall(fixture.hospital, call: MembershipContract.Enroll(label: "nurse", roles: [.nurse], signingKey: nurse.signingPublicKey,
                                                                                agreementKey: nurse.agreementPublicKey)),
            ])
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            var observation = SensitivityFindingTests.hivObservation(patientID, value: "POSITIVE", labelled: true)
            observation["id"] = nil
            #expect(try await doctor.call(.post, "/fhir/Observation", observation).status == .created)
            let patientEntry = try #require(RecordIndex.current(fixture.recordID(type: "Patient", id: patientID), in: fixture.node.state))
            let patientKeys = try #require(fixture.patientKeys.keys(of: patientEntry.patient))

            // The newest transaction registers the HIV-labelled Observation (the hospital signs for the doctor).
            let newest = try #require(try await doctor.call(.get, "/v1/txs?limit=1").json["transactions"] as? [[String: Any]]).first
            let id = try #require(newest?["id"] as? String)
            #expect(newest?["method"] as? String == "register", "the author is a party: \(newest ?? [:])")

            let readers: [(String, IdentityKeys, Bool)] = [
                ("the author (the agent it was signed for)", fixture.doctor, true),
                ("the custodian organization (the sender)", fixture.hospital, true),
                ("the custodian's auditor", auditor, true),
                ("the patient it is about", patientKeys, true),
                ("a nurse of the custodian (no party, no oversight role)", nurse, false),
                ("another organization's clinician", fixture.clinicDoctor, false),
                ("another organization", fixture.clinic, false),
            ]
            for (who, keys, mayRead) in readers {
                let reader = FHIRClient(client: client, bearer: try await token(client, for: keys))
                let one = try await reader.call(.get, "/v1/txs/\(id)")
                #expect(one.status == .ok, "\(who)")
                #expect(one.json["leaf_hash"] is String && one.json["height"] is Int, "\(who): the proof fields are for everyone")
                #expect((one.json["args"] != nil) == mayRead, "\(who): \(one.json)")
                #expect((one.json["sender"] != nil) == mayRead, "\(who)")
                #expect((one.json["redacted"] as? Bool == true) == !mayRead, "\(who)")
                let listing = try await reader.call(.get, "/v1/txs?limit=100")
                let listed = try #require((listing.json["transactions"] as? [[String: Any]])?.first { $0["id"] as? String == id }, "\(who)")
                #expect((listed["method"] != nil) == mayRead, "\(who)")
                let raw = try await client.execute(uri: "/v1/txs/\(id)/raw", method: .get,
                                                   headers: [.authorization: "Bearer \(reader.bearer ?? "")"]) { $0.status }
                #expect(raw == (mayRead ? .ok : .forbidden), "\(who): raw \(raw)")
                let text = try await client.execute(uri: "/v1/txs/\(id)", method: .get,
                                                    headers: [.authorization: "Bearer \(reader.bearer ?? "")"]) { String(buffer: $0.body) }
                #expect(text.contains("\"hiv\"") == mayRead, "\(who): the sensitivity category shows only to readers")
            }
        } }
    }
}
