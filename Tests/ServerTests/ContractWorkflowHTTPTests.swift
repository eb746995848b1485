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
    static func post(_ client: some TestClientProtocol, _ fixture: ServerFixture, bearer: String, _ keys: IdentityKeys, _ contract: String,
                     _ method: String, _ args: [String: CanonicalValue], sequences: inout [IdentityID: UInt64]) async throws
        -> (status: HTTPResponse.Status, json: [String: Any], id: Hash256) {
        let sequence = sequences[keys.derivedID] ?? BlockExecutor.lastSequence(of: keys.derivedID, in: fixture.node.state) + 1
        let tx = Transaction.sign(TransactionBody(chainId: ServerFixture.chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey,
                                                  sequence: sequence, contract: contract, method: method, args: .map(args)), with: keys)
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
            func ok(_ keys: IdentityKeys, _ contract: String, _ method: String, _ args: [String: CanonicalValue]) async throws -> Hash256 {
                let answer = try await Self.post(client, fixture, bearer: bearer, keys, contract, method, args, sequences: &sequences)
                #expect(answer.status == .ok && (answer.json["result"] as? [String: Any])?["code"] as? Int == 0, "\(method): \(answer.json)")
                return answer.id
            }
            func refused(_ keys: IdentityKeys, _ contract: String, _ method: String, _ args: [String: CanonicalValue]) async throws -> String? {
                let answer = try await Self.post(client, fixture, bearer: bearer, keys, contract, method, args, sequences: &sequences)
                #expect(answer.status == .unprocessableContent, "\(method): \(answer.json)")
                return answer.json["error"] as? String
            }
            func get(_ path: String) async throws -> [String: Any] {
                try await client.execute(uri: path, method: .get, headers: [.authorization: bearer]) { response in
                    #expect(response.status == .ok, "\(path): \(String(buffer: response.body))")
                    return object(response.body)
                }
            }
            let now = max(Int64(Date().timeIntervalSince1970 * 1_000), await fixture.node.headHeader.timeMs)
            for (keys, type) in [(Self.payer, "payer"), (Self.maker, "manufacturer"), (Self.pharmacy, "pharmacy"), (Self.sponsor, "sponsor")] {
                _ = try await ok(fixture.hospital, "membership", "admitOrganization", [
                    "label": .string(type), "organizationType": .string(type),
                    "signingKey": .bytes(keys.signingPublicKey.rawValue), "agreementKey": .bytes(keys.agreementPublicKey)])
            }
            _ = try await ok(Self.patient, "membership", "registerPatient", ["agreementKey": .bytes(Self.patient.agreementPublicKey)])
            let patient: CanonicalValue = .bytes(Self.patient.derivedID.bytes)

            // Supply chain and a prescription: commission, ship, receive, verify, prescribe, fill; a second fill of the same unit is refused.
            let gtin = (0...9).map { "0061414100002\($0)" }.first(where: gs1CheckDigitValid)!
            let unit = { (serial: String) -> CanonicalValue in .map(["gtin": .string(gtin), "serial": .string(serial)]) }
            _ = try await ok(Self.maker, "supply", "registerProduct", ["gtin": .string(gtin), "label": .string("amoxicillin 500 mg")])
            _ = try await ok(Self.maker, "supply", "commission", ["gtin": .string(gtin), "lot": .string("L1"), "expiryMs": .int(now + 200 * 86_400_000),
                                                                   "serials": .list([.string("S1"), .string("S2")])])
            _ = try await ok(Self.maker, "supply", "ship", ["to": .bytes(Self.pharmacy.derivedID.bytes), "units": .list([unit("S1"), unit("S2")])])
            #expect(try await refused(fixture.hospital, "supply", "receive", ["from": .bytes(Self.maker.derivedID.bytes), "units": .list([unit("S1")])]) != nil)
            _ = try await ok(Self.pharmacy, "supply", "receive", ["from": .bytes(Self.maker.derivedID.bytes), "units": .list([unit("S1"), unit("S2")])])
            let traced = try await get("/v1/supply/serials/\(gtin)/S1")
            #expect(traced["owner"] as? String == Self.pharmacy.derivedID.hex && traced["in_good_standing"] as? Bool == true)
            #expect((traced["custody"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }.suffix(2) == ["shipped", "received"])
            let unknown = try await get("/v1/supply/serials/\(gtin)/FAKE1")
            #expect(unknown["known"] as? Bool == false)
            let rx = try await ok(fixture.clinician, "rx", "issue", [
                "medicationRequestHash": .bytes(Hash256.sha256([9]).bytes), "patient": patient, "gtin": .string(gtin),
                "quantity": .int(1), "refills": .int(0), "expiresMs": .int(now + 10 * 86_400_000)])
            _ = try await ok(Self.pharmacy, "rx", "fill", ["prescription": .bytes(rx.bytes), "units": .list([unit("S1")])])
            #expect(try await refused(Self.pharmacy, "rx", "fill", ["prescription": .bytes(rx.bytes), "units": .list([unit("S2")])]) == "noFillsLeft")
            let prescription = try await get("/v1/prescriptions/\(rx.hex)")
            #expect(prescription["fills_used"] as? Int == 1 && prescription["fills_remaining"] as? Int == 0)

            // A claim: plan, coverage, a documented visit, adjudication read back with its reasons.
            _ = try await ok(Self.payer, "claims", "registerPlan", [
                "plan": .string("P1"), "currency": .string("USD"), "deductible": .int(0), "coinsurance": .int(1_000), "outOfPocketMax": .int(500_000),
                "benefits": .list([.map(["code": .string("99213"), "allowed": .int(10_000)])])])
            _ = try await ok(Self.payer, "claims", "enroll", ["plan": .string("P1"), "patient": patient, "startMs": .int(now - 86_400_000),
                                                              "endMs": .int(now + 86_400_000 * 100)])
            let visit = Hash256.sha256([7])
            _ = try await ok(fixture.clinician, "records", "register", [
                "record": .bytes(visit.bytes), "patient": patient, "resourceType": .string("Encounter"), "category": .string("general"),
                "ciphertextHash": .bytes(Hash256.sha256([8]).bytes), "version": .int(1)])
            let claimID = Hash256.sha256([6])
            _ = try await ok(fixture.hospital, "claims", "submit", [
                "claim": .bytes(claimID.bytes), "plan": .string("P1"), "patient": patient, "claimHash": .bytes(Hash256.sha256([5]).bytes),
                "diagnoses": .list([.string("J06.9")]),
                "items": .list([.map(["sequence": .int(1), "code": .string("99213"), "quantity": .int(1), "unitPrice": .int(12_000),
                                      "serviceMs": .int(now - 3_600_000), "record": .bytes(visit.bytes)])])])
            let claim = try await get("/v1/claims/\(claimID.hex)")
            #expect(claim["outcome"] as? String == "paid" && claim["payer_minor"] as? Int == 9_000 && claim["patient_minor"] as? Int == 1_000)
            #expect(((claim["lines"] as? [[String: Any]])?.first?["adjustments"] as? [[String: Any]])?.compactMap { $0["carc"] as? String } == ["45", "2"])

            // A trial: consent, enrollment, withdrawal; data after withdrawal is refused.
            _ = try await ok(Self.sponsor, "trials", "register", [
                "trial": .string("NCT-HTTP-1"), "protocolHash": .bytes(Hash256.sha256([4]).bytes), "consentFormVersion": .int(1),
                "primaryEndpoints": .list([.string("HBA1C")]), "secondaryEndpoints": .list([.string("WEIGHT")]),
                "sites": .list([.bytes(fixture.hospital.derivedID.bytes)])])
            _ = try await ok(Self.patient, "trials", "consent", ["trial": .string("NCT-HTTP-1"), "patient": patient, "consentFormVersion": .int(1)])
            _ = try await ok(fixture.clinician, "trials", "enroll", ["trial": .string("NCT-HTTP-1"), "patient": patient])
            _ = try await ok(Self.patient, "trials", "withdraw", ["trial": .string("NCT-HTTP-1"), "patient": patient])
            #expect(try await refused(fixture.clinician, "trials", "submitData", [
                "trial": .string("NCT-HTTP-1"), "participant": patient, "crfHashes": .list([.bytes(Hash256.sha256([3]).bytes)]),
                "endpoint": .string("HBA1C")]) == "participantWithdrawn")
            let trial = try await get("/v1/trials/NCT-HTTP-1")
            #expect(trial["participants"] as? Int == 1 && trial["data_batches"] as? Int == 0)
            let participant = try await get("/v1/trials/NCT-HTTP-1/participants/\(Self.patient.derivedID.hex)")
            #expect(participant["status"] as? String == "withdrawn")
        } }
    }
}
