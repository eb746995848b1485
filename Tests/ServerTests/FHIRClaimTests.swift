import Contracts
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import Node
import Server
import Services
import Testing

/// Claim/$submit adjudicates on-chain and answers with a ClaimResponse; plain Claim creates only
/// store records; ClaimResponses are readable by the claim's parties only.
@Suite("FHIR claims: $submit and ClaimResponse", .serialized)
struct FHIRClaimTests {
    static let payer = IdentityKeys(seed: Array(repeating: 15, count: 32))
    static let day: Int64 = 86_400_000

    /// Admits a payer (signed by the clinic: the hospital key is the FHIR service's to sequence), registers plan GOLD and enrolls `patient`.
    static func setUpPayer(_ fixture: FHIRFixture, patient: IdentityID) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        func sign(_ keys: IdentityKeys, _ call: some ContractMethod) -> Transaction {
            let sequence = BlockExecutor.lastSequence(of: keys.derivedID, in: fixture.node.state) + 1
            return Transaction.sign(TransactionBody(chainId: FHIRFixture.chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey,
                                                    sequence: sequence, call: call), with: keys)
        }
        let steps: [() -> Transaction] = [
            { sign(fixture.clinic, MembershipContract.AdmitOrganization(
                label: "payer", organizationType: .payer, signingKey: payer.signingPublicKey, agreementKey: payer.agreementPublicKey)) },
            { sign(payer, ClaimsContract.RegisterPlan(
                plan: "GOLD", currency: "USD", deductible: 10_000, coinsurance: 2_000, outOfPocketMax: 100_000,
                benefits: [.init(code: "99213", allowed: 15_000)])) },
            { sign(payer, CoverageEnrollment(plan: "GOLD", patient: patient, startMs: now - 30 * day, endMs: now + 300 * day,
                                             memberID: memberID).call) },
        ]
        for step in steps {
            let receipt = try await fixture.node.submitAndWait(step(), timeoutMs: 60_000)
            #expect(receipt.status.result.isAccepted, "\(receipt.status.result.message)")
        }
    }

    /// The member id the payer issued the test patient.
    static let memberID = Hash256.sha256(Array("the test patient's member id".utf8))

    static func claim(_ identifier: String, patient: String, encounter: String, plan: String = "GOLD", price: Double = 200.00) -> [String: Any] {
        let today = String(FHIRDateTime.instant(ms: Int64(Date().timeIntervalSince1970 * 1_000)).prefix(10))
        return [
            "resourceType": "Claim", "status": "active", "use": "claim", "created": today,
            "identifier": [["system": "urn:test:claims", "value": identifier]],
            "type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"]]],
            "patient": ["reference": "Patient/\(patient)"], "provider": ["reference": "Organization/hospital"],
            "priority": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"]]],
            "insurance": [["sequence": 1, "focal": true, "coverage": ["identifier": ClaimMapping.memberIdentifier(plan: plan, memberID: memberID)]]],
            "diagnosis": [["sequence": 1, "diagnosisCodeableConcept": ["coding": [["system": "http://hl7.org/fhir/sid/icd-10", "code": "J06.9"]]]]],
            "item": [["sequence": 1, "productOrService": ["coding": [["system": "http://www.ama-assn.org/go/cpt", "code": "99213"]]],
                      "servicedDate": today, "quantity": ["value": 1], "unitPrice": ["value": price, "currency": "USD"],
                      "encounter": [["reference": "Encounter/\(encounter)"]]]],
        ]
    }

    static func amounts(_ response: [String: Any], _ category: String) -> [Double] {
        ((response["item"] as? [[String: Any]]) ?? []).flatMap { item in
            ((item["adjudication"] as? [[String: Any]]) ?? []).filter {
                ((($0["category"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String) == category
            }.compactMap { ($0["amount"] as? [String: Any])?["value"] as? Double }
        }
    }

    static func reasons(_ response: [String: Any]) -> [String] {
        ((response["item"] as? [[String: Any]]) ?? []).flatMap { item in
            ((item["adjudication"] as? [[String: Any]]) ?? []).compactMap {
                (($0["reason"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func submitAdjudicatesAndResponsesAreRestricted() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let created = try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient)
            let patientID = try #require(created.json["id"] as? String)
            let patient = try #require(fixture.ledgerPatient(patientID))
            try await Self.setUpPayer(fixture, patient: patient)
            let encounter = try await doctor.call(.post, "/fhir/Encounter", [
                "resourceType": "Encounter", "status": "finished", "subject": ["reference": "Patient/\(patientID)"],
                "class": ["system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"]])
            #expect(encounter.status == .created, "\(encounter.json)")
            let encounterID = try #require(encounter.json["id"] as? String)

            // Paid: 200.00 billed, 150.00 allowed, 100.00 deductible, 20 % of 50.00 coinsurance, 40.00 benefit.
            let paid = try await doctor.call(.post, "/fhir/Claim/$submit", Self.claim("C-1", patient: patientID, encounter: encounterID))
            #expect(paid.status == .ok, "\(paid.json)")
            #expect(paid.json["resourceType"] as? String == "ClaimResponse")
            #expect(Self.amounts(paid.json, "eligible") == [150])
            #expect(Self.amounts(paid.json, "deductible") == [100])
            #expect(Self.amounts(paid.json, "benefit") == [40])
            #expect(Self.reasons(paid.json) == ["45", "1", "2"])
            let responseID = try #require(paid.json["id"] as? String)

            // The same Claim again: 409. The same service under a new identifier: denied as a duplicate (CARC 18).
            let again = try await doctor.call(.post, "/fhir/Claim/$submit", Self.claim("C-1", patient: patientID, encounter: encounterID))
            #expect(again.status == .conflict && issueCode(again.json) == "conflict")
            let duplicate = try await doctor.call(.post, "/fhir/Claim/$submit", [
                "resourceType": "Parameters",
                "parameter": [["name": "resource", "resource": Self.claim("C-2", patient: patientID, encounter: encounterID)]]])
            #expect(duplicate.status == .ok && Self.reasons(duplicate.json) == ["18"], "\(duplicate.json)")
            // No documenting record: phantom billing (CARC 16).
            var phantomClaim = Self.claim("C-3", patient: patientID, encounter: "never-happened")
            var item = (phantomClaim["item"] as! [[String: Any]])[0]
            item["productOrService"] = ["coding": [["system": "http://www.ama-assn.org/go/cpt", "code": "99214"]]]
            phantomClaim["item"] = [item]
            let phantom = try await doctor.call(.post, "/fhir/Claim/$submit", phantomClaim)
            #expect(phantom.status == .ok && Self.reasons(phantom.json) == ["16"], "\(phantom.json)")
            #expect((phantom.json["disposition"] as? String)?.hasPrefix("denied") == true)

            // Bad input changes nothing: no encounter, an unknown plan, a fraction of a cent.
            var noEncounter = Self.claim("C-4", patient: patientID, encounter: encounterID)
            var bare = (noEncounter["item"] as! [[String: Any]])[0]
            bare["encounter"] = nil
            noEncounter["item"] = [bare]
            for (body, expression) in [(noEncounter, "Claim.item[0].encounter"),
                                       (Self.claim("C-5", patient: patientID, encounter: encounterID, plan: "SILVER"), "Claim.insurance.coverage"),
                                       (Self.claim("C-6", patient: patientID, encounter: encounterID, price: 12.345), "Claim.item[0].unitPrice.value")] {
                let refused = try await doctor.call(.post, "/fhir/Claim/$submit", body)
                #expect(refused.status == .unprocessableContent, "\(refused.json)")
                let issue = (refused.json["issue"] as? [[String: Any]])?.first
                #expect((issue?["expression"] as? [String])?.first == expression, "\(refused.json)")
            }
            let wrongType = try await doctor.call(.post, "/fhir/Claim/$submit", FHIRServerTests.patient)
            #expect(wrongType.status == .badRequest)

            // Reads: the provider's staff yes, another organization's clinician no.
            let read = try await doctor.call(.get, "/fhir/ClaimResponse/\(responseID)")
            #expect(read.status == .ok && read.json["id"] as? String == responseID)
            let outsider = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            #expect(try await outsider.call(.get, "/fhir/ClaimResponse/\(responseID)").status == .forbidden)
            let search = try await doctor.call(.get, "/fhir/ClaimResponse?patient=Patient/\(patientID)")
            #expect(search.json["total"] as? Int == 3, "\(search.json)")
            let none = try await outsider.call(.get, "/fhir/ClaimResponse?patient=Patient/\(patientID)")
            #expect(none.json["total"] as? Int == 0)
            // The payer reads the adjudications too.
            let payer = FHIRClient(client: client, bearer: try await token(client, for: Self.payer))
            #expect(try await payer.call(.get, "/fhir/ClaimResponse/\(responseID)").status == .ok)

            // A plain create stores a Claim record and adjudicates nothing.
            let plain = try await doctor.call(.post, "/fhir/Claim", Self.claim("C-7", patient: patientID, encounter: encounterID))
            #expect(plain.status == .created)
            let after = try await doctor.call(.get, "/fhir/ClaimResponse?patient=Patient/\(patientID)")
            #expect(after.json["total"] as? Int == 3)
            // The submitted Claims were stored as records too.
            let claims = try await doctor.call(.get, "/fhir/Claim?patient=Patient/\(patientID)")
            #expect(claims.json["total"] as? Int == 4, "\(claims.json)")
            let metadata = try await doctor.call(.get, "/fhir/metadata")
            let resources = (((metadata.json["rest"] as? [[String: Any]])?.first)?["resource"] as? [[String: Any]]) ?? []
            let claimOps = resources.first { $0["type"] as? String == "Claim" }?["operation"] as? [[String: Any]]
            #expect(claimOps?.first?["name"] as? String == "submit")
        } }
    }
}
