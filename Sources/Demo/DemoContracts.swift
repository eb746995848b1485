import Console
import Contracts
import FHIR
import Foundation
import LedgerCore
import Node
import Services

/// The demo's healthcare-contract chapters: claims adjudicated on-chain (supply chain,
/// prescriptions, trials and telehealth follow the same pattern).
extension DemoScript {
    /// A FHIR Claim for one office visit, documented by an on-chain record.
    static func visitClaim(_ number: String, code: String = "99213", price: Double, record: Hash256, today: String, memberID: Hash256) -> [String: Any] {
        [
            "resourceType": "Claim", "status": "active", "use": "claim", "created": today,
            "identifier": [["system": "urn:demo:general-hospital:claims", "value": number]],
            "type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"]]],
            "patient": ["reference": "Patient/demo-patient"], "provider": ["reference": "Organization/general-hospital"],
            "priority": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"]]],
            "insurance": [["sequence": 1, "focal": true, "coverage": ["identifier": ClaimMapping.memberIdentifier(plan: "ACME-GOLD", memberID: memberID)]]],
            "diagnosis": [["sequence": 1, "diagnosisCodeableConcept": ["coding": [["system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"]]]]],
            "item": [["sequence": 1, "productOrService": ["coding": [["system": "http://www.ama-assn.org/go/cpt", "code": code]]],
                      "servicedDate": today, "quantity": ["value": 1], "unitPrice": ["value": price, "currency": "USD"],
                      "encounter": [["identifier": ["system": ClaimMapping.recordSystem, "value": record.hex]]]]],
        ]
    }

    mutating func tellClaims(_ ledger: LocalLedger, agent: IdentityKeys, rivera: IdentityKeys, patient: IdentityKeys) async throws {
        story.chapter("Insurance claims adjudicated on-chain")
        let hospital = try directory.loadKey("general-hospital")
        let plan = try PlanFile.registerPlan(Data("""
            {"plan":"ACME-GOLD","currency":"USD","deductible":100.00,"coinsurancePercent":20,"outOfPocketMax":1000.00,
             "benefits":[{"code":"99213","allowed":150.00},{"code":"70553","allowed":1200.00,"priorAuth":true}]}
            """.utf8))
        try await ledger.commit(ledger.sign(agent, plan))
        let now = SystemClock().nowMs()
        let memberID = try await ledger.client.enroll(patient.derivedID, plan: "ACME-GOLD", startMs: now - 30 * 86_400_000,
                                                      endMs: now + 335 * 86_400_000, signer: agent).memberID
        story.ok("acme-health-plan's claims-agent registered plan ACME-GOLD ($100 deductible, 20 % coinsurance, $1,000 out-of-pocket cap) and enrolled the patient")
        story.note("member id \(memberID.hex.prefix(16))… goes on the patient's card; the chain holds only a hash of it with the patient, so no one else can tell whose coverage it is")

        let today = String(FHIRDateTime.instant(ms: now).prefix(10))
        let encounter = try await ledger.putRecord(content: Array("""
            {"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
             "subject":{"reference":"Patient/demo-patient"},"period":{"start":"\(today)"}}
            """.utf8), patient: patient.derivedID, category: .general, author: rivera)
        story.ok("dr-rivera documented today's visit as an encrypted Encounter record \(encounter.entry.record.hex.prefix(16))…")

        func submit(_ claim: [String: Any]) async throws -> ClaimEntry {
            try await ledger.fhir.submitClaim(claim, signer: hospital, patient: patient.derivedID, plan: nil)
        }
        let paid = try await submit(Self.visitClaim("CLM-1001", price: 200.00, record: encounter.entry.record, today: today, memberID: memberID))
        try expect(paid.outcome == .paid && paid.payerMinor == 4_000 && paid.patientMinor == 11_000, "claim paid with deductible and coinsurance")
        story.ok("general-hospital submitted FHIR Claim CLM-1001 (office visit 99213, billed $200.00); the contract adjudicated it in its block:")
        for line in ClaimText.lines(paid, currency: "USD").dropFirst() { story.note(line) }
        _ = try await ledger.client.payClaim(paid.id, amountMinor: paid.payerMinor, reference: Hash256.sha256(Array("EFT 0000-4471".utf8)),
                                             signer: agent)
        story.ok("acme-health-plan recorded its $40.00 payment against the claim (remittance hash on-chain)")

        let duplicate = try await submit(Self.visitClaim("CLM-1002", price: 200.00, record: encounter.entry.record, today: today, memberID: memberID))
        try expect(duplicate.outcome == .denied && duplicate.lines[0].adjustments.first?.reason == .duplicate, "duplicate denied")
        story.refused("CLM-1002 bills the same visit again under a new number: denied, CARC 18 — \(AdjustmentReason.duplicate.text)")
        let phantom = try await submit(Self.visitClaim("CLM-1003", code: "99214", price: 260.00,
                                                       record: Hash256.sha256(Array("a visit that never happened".utf8)), today: today, memberID: memberID))
        try expect(phantom.outcome == .denied && phantom.lines[0].adjustments.first?.reason == .noDocumentingRecord, "phantom denied")
        story.refused("CLM-1003 bills a visit no record documents: denied, CARC 16 — phantom billing")
        story.note("both denials are on the chain with their reasons: fraud attempts leave a trace anyone authorized can audit")
    }
}
