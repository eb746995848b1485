import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
import Server
import Services
import Testing

/// Each healthcare workflow driven only through the HTTP API: transactions signed by the client
/// and posted to /v1/txs?wait=true, state read back from the /v1 contract routes.
@Suite("Contract workflows over /v1", .serialized)
struct ContractWorkflowHTTPTests {
    static func k(_ n: UInt8) -> IdentityKeys { IdentityKeys(seed: Array(repeating: n, count: 32)) }
    static let payer = k(51), maker = k(52), pharmacy = k(53), sponsor = k(54), patient = k(55)

    /// Posts a client-signed transaction; returns the HTTP status and the JSON answer.
    static func post(_ client: some TestClientProtocol, _ fixture: ServerFixture, bearer: String, _ keys: IdentityKeys,
                     _ call: some ContractMethod, sequences: inout [IdentityID: UInt64]) async throws
        -> (status: HTTPResponse.Status, json: [String: Any], id: Hash256) {
        let sequence = sequences[keys.derivedID] ?? BlockExecutor.lastSequence(of: keys.derivedID, in: fixture.node.state) + 1
        let tx = Transaction.sign(TransactionBody(chainId: ServerFixture.chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey,
                                                  sequence: sequence, call: call), with: keys)
        let answer = try await client.execute(uri: "/v1/txs?wait=true", method: .post,
                                              headers: [.authorization: bearer, .contentType: "application/octet-stream"],
                                              body: ByteBuffer(bytes: tx.bytes)) { ($0.status, object($0.body)) }
        sequences[keys.derivedID] = answer.0 == .ok ? sequence + 1 : sequence
        return (answer.0, answer.1, tx.id)
    }

    @Test(.timeLimit(.minutes(3)))
    func supplyPrescriptionClaimAndTrialOverHTTP() async throws {
        try await ServerFixture.with { fixture in try await fixture.application.test(.router) { client in
            let bearer = "Bearer \(try await token(client, for: fixture.clinician))"
            var sequences: [IdentityID: UInt64] = [:]
            func ok(_ keys: IdentityKeys, _ call: some ContractMethod) async throws -> Hash256 {
                let answer = try await Self.post(client, fixture, bearer: bearer, keys, call, sequences: &sequences)
                #expect(answer.status == .ok && (answer.json["result"] as? [String: Any])?["code"] as? Int == 0,
                        "\(type(of: call).methodName): \(answer.json)")
                return answer.id
            }
            func refused(_ keys: IdentityKeys, _ call: some ContractMethod) async throws -> String? {
                let answer = try await Self.post(client, fixture, bearer: bearer, keys, call, sequences: &sequences)
                #expect(answer.status == .unprocessableContent, "\(type(of: call).methodName): \(answer.json)")
                return answer.json["error"] as? String
            }
            func get(_ path: String) async throws -> [String: Any] {
                try await client.execute(uri: path, method: .get, headers: [.authorization: bearer]) { response in
                    #expect(response.status == .ok, "\(path): \(String(buffer: response.body))")
                    return object(response.body)
                }
            }
            let now = max(Int64(Date().timeIntervalSince1970 * 1_000), await fixture.node.headHeader.timeMs)
            for (keys, type) in [(Self.payer, OrganizationType.payer), (Self.maker, .manufacturer), (Self.pharmacy, .pharmacy), (Self.sponsor, .sponsor)] {
                _ = try await ok(fixture.hospital, MembershipContract.AdmitOrganization(
                    label: type.rawValue, organizationType: type, signingKey: keys.signingPublicKey, agreementKey: keys.agreementPublicKey))
            }
            _ = try await ok(Self.patient, MembershipContract.RegisterPatient(agreementKey: Self.patient.agreementPublicKey))
            let patient = Self.patient.derivedID

            // Supply chain and a prescription: commission, ship, receive, verify, prescribe, fill; a second fill of the same unit is refused.
            let gtin = (0...9).map { "0061414100002\($0)" }.first(where: gs1CheckDigitValid)!
            let unit = { (serial: String) -> SGTIN in SGTIN(gtin: gtin, serial: serial) }
            _ = try await ok(Self.maker, SupplyChainContract.RegisterProduct(gtin: gtin, label: "amoxicillin 500 mg"))
            _ = try await ok(Self.maker, SupplyChainContract.Commission(gtin: gtin, lot: "L1", expiryMs: now + 200 * 86_400_000, serials: ["S1", "S2"]))
            _ = try await ok(Self.maker, SupplyChainContract.Ship(to: Self.pharmacy.derivedID, units: [unit("S1"), unit("S2")]))
            #expect(try await refused(fixture.hospital, SupplyChainContract.Receive(from: Self.maker.derivedID, units: [unit("S1")])) != nil)
            _ = try await ok(Self.pharmacy, SupplyChainContract.Receive(from: Self.maker.derivedID, units: [unit("S1"), unit("S2")]))
            let traced = try await get("/v1/supply/serials/\(gtin)/S1")
            #expect(traced["owner"] as? String == Self.pharmacy.derivedID.hex && traced["in_good_standing"] as? Bool == true)
            #expect((traced["custody"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }.suffix(2) == ["shipped", "received"])
            let unknown = try await get("/v1/supply/serials/\(gtin)/FAKE1")
            #expect(unknown["known"] as? Bool == false)
            let rx = try await ok(fixture.clinician, PrescriptionContract.Issue(
                medicationRequestHash: Hash256.sha256([9]), patient: patient, gtin: gtin, quantity: 1, refills: 0, expiresMs: now + 10 * 86_400_000))
            _ = try await ok(Self.pharmacy, PrescriptionContract.Fill(prescription: rx, units: [unit("S1")]))
            #expect(try await refused(Self.pharmacy, PrescriptionContract.Fill(prescription: rx, units: [unit("S2")])) == "noFillsLeft")
            let prescription = try await get("/v1/prescriptions/\(rx.hex)")
            #expect(prescription["fills_used"] as? Int == 1 && prescription["fills_remaining"] as? Int == 0)

            // A claim: plan, coverage, a documented visit, adjudication read back with its reasons.
            _ = try await ok(Self.payer, ClaimsContract.RegisterPlan(
                plan: "P1", currency: "USD", deductible: 0, coinsurance: 1_000, outOfPocketMax: 500_000, benefits: [.init(code: "99213", allowed: 10_000)]))
            let enrollment = CoverageEnrollment(plan: "P1", patient: patient, startMs: now - 86_400_000, endMs: now + 86_400_000 * 100)
            let coverage = try await ok(Self.payer, enrollment.call)
            let visit = Hash256.sha256([7])
            _ = try await ok(fixture.clinician, RecordsContract.Register(
                record: visit, patient: patient, resourceType: "Encounter", category: .general, ciphertextHash: Hash256.sha256([8]), version: 1))
            let claimID = Hash256.sha256([6])
            _ = try await ok(fixture.hospital, ClaimsContract.Submit(
                claim: claimID, plan: "P1", patient: patient, memberID: enrollment.memberID, claimHash: Hash256.sha256([5]), diagnoses: ["J06.9"],
                items: [ClaimItem(sequence: 1, code: "99213", quantity: 1, unitPriceMinor: 12_000, serviceMs: now - 3_600_000, record: visit)]))
            let claim = try await get("/v1/claims/\(claimID.hex)")
            // The coverage is found only with the patient and the member id; a wrong member id looks like no coverage at all.
            for (query, status) in [("patient=\(patient.hex)&member=\(Hash256.sha256([4]).hex)", HTTPResponse.Status.notFound),
                                    ("patient=\(patient.hex)", .badRequest)] {
                try await client.execute(uri: "/v1/coverages/\(coverage.hex)?\(query)", method: .get, headers: [.authorization: bearer]) {
                    #expect($0.status == status, "\(query): \(String(buffer: $0.body))")
                }
            }
            #expect(claim["outcome"] as? String == "paid" && claim["payer_minor"] as? Int == 9_000 && claim["patient_minor"] as? Int == 1_000)
            #expect(((claim["lines"] as? [[String: Any]])?.first?["adjustments"] as? [[String: Any]])?.compactMap { $0["carc"] as? String } == ["45", "2"])

            // A trial: consent, enrollment, withdrawal; data after withdrawal is refused.
            _ = try await ok(Self.sponsor, TrialsContract.Register(
                trial: "NCT-HTTP-1", protocolHash: Hash256.sha256([4]), consentFormVersion: 1, primaryEndpoints: ["HBA1C"],
                secondaryEndpoints: ["WEIGHT"], sites: [fixture.hospital.derivedID]))
            _ = try await ok(Self.patient, TrialsContract.Consent(trial: "NCT-HTTP-1", patient: patient, consentFormVersion: 1))
            _ = try await ok(fixture.clinician, TrialsContract.Enroll(trial: "NCT-HTTP-1", patient: patient))
            _ = try await ok(Self.patient, TrialsContract.Withdraw(trial: "NCT-HTTP-1", patient: patient))
            #expect(try await refused(fixture.clinician, TrialsContract.SubmitData(
                trial: "NCT-HTTP-1", participant: patient, crfHashes: [Hash256.sha256([3])], endpoint: "HBA1C")) == "participantWithdrawn")
            let trial = try await get("/v1/trials/NCT-HTTP-1")
            #expect(trial["participants"] as? Int == 1 && trial["data_batches"] as? Int == 0)
            let participant = try await get("/v1/trials/NCT-HTTP-1/participants/\(Self.patient.derivedID.hex)")
            #expect(participant["status"] as? String == "withdrawn")
        } }
    }
}
