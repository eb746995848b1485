import Console
import Contracts
import FHIR
import Foundation
import LedgerCore
import Node
import Services

/// The demo's supply-chain chapter: serialized units from manufacturer to pharmacy, a prescription
/// filled against them, a counterfeit caught, and the chain of custody of a dispensed pack.
extension DemoScript {
    /// The demo's product, lot, case and serials.
    static let supplyGTIN = "00312345678906", supplyLot = "AMX2611", supplyCase = "000312345000000011"

    /// Runs `body`, which must be refused with `code`; returns the refusal.
    private func refusal(_ code: ResultCode, _ what: String, _ body: () async throws -> Void) async throws -> Refused {
        do { try await body() } catch let refused as Refused {
            try expect(refused.code == code.name, "\(what) refused as \(code.name), not \(refused.code)")
            return refused
        }
        throw CLIError("demo check failed: \(what) was accepted")
    }

    /// "752 noFillsLeft — message".
    static func described(_ refused: Refused) -> String {
        let number = ResultCode.allCases.first { $0.name == refused.code }.map { "\($0.rawValue) " } ?? ""
        return "\(number)\(refused.code) — \(refused.message)"
    }

    /// The supply-chain chapter: custody from manufacturer to pharmacy, a prescription filled and refused past its
    /// refills, a counterfeit caught by verification, and the traced custody of a dispensed pack.
    mutating func tellSupply(_ ledger: LocalLedger, rivera: IdentityKeys, lee: IdentityKeys, patient: IdentityKeys) async throws {
        story.chapter("Drug supply chain and prescriptions")
        let maker = try directory.loadKey("northwind-pharma"), wholesaler = try directory.loadKey("meridian-wholesale")
        let pharmacy = try directory.loadKey("corner-pharmacy")
        let gtin = Self.supplyGTIN, lot = Self.supplyLot, sscc = Self.supplyCase
        let serials = (1...6).map { "AMX000\($0)" }
        func units(_ list: ArraySlice<String>) -> [SGTIN] { list.map { SGTIN(gtin: gtin, serial: $0) } }
        func supply(_ keys: IdentityKeys, _ call: some ContractMethod) async throws -> CommitReceipt {
            try await ledger.commit(ledger.sign(keys, call))
        }
        func unit(_ serial: String) -> SerialVerification {
            SupplyChainContract.unit(gtin, serial, atMs: SystemClock().nowMs(), in: ledger.node.state)
        }
        let now = SystemClock().nowMs()
        let expiryMs = (now / SupplyCLI.dayMs + 730) * SupplyCLI.dayMs

        _ = try await supply(maker, SupplyChainContract.RegisterProduct(gtin: gtin, label: "Amoxicillin 500 mg caps 30"))
        let commissioned = try await supply(maker, SupplyChainContract.Commission(gtin: gtin, lot: lot, expiryMs: expiryMs, serials: serials))
        try expect(serials.allSatisfy { unit($0).status == .active }, "commissioned units are active")
        story.ok("northwind-pharma (manufacturer) registered GTIN \(gtin) and commissioned 6 serialized packs \(serials[0])…\(serials[5]) in lot \(lot), usable through \(SupplyCLI.expiryDay(expiryMs)) (block \(commissioned.status.height))")

        _ = try await supply(maker, SupplyChainContract.Aggregate(sscc: sscc, units: units(serials[0..<4])))
        _ = try await supply(maker, SupplyChainContract.Ship(to: wholesaler.derivedID, units: units(serials[4...]), cases: [sscc]))
        let received = try await supply(wholesaler, SupplyChainContract.Receive(from: maker.derivedID, units: units(serials[4...]), cases: [sscc]))
        try expect(serials.allSatisfy { unit($0).owner == wholesaler.derivedID }, "the wholesaler owns the units")
        story.ok("it packed 4 of them in case \(sscc) and shipped the case and 2 loose packs to meridian-wholesale (distributor), which received them (block \(received.status.height))")
        _ = try await supply(wholesaler, SupplyChainContract.Disaggregate(sscc: sscc))
        _ = try await supply(wholesaler, SupplyChainContract.Ship(to: pharmacy.derivedID, units: units(serials[...])))
        let wrongReceiver = try await refusal(.notPendingRecipient, "receipt by the manufacturer") {
            _ = try await supply(maker, SupplyChainContract.Receive(from: wholesaler.derivedID, units: units(serials[0..<1])))
        }
        story.refused("northwind-pharma trying to receive packs shipped to the pharmacy: refused, \(Self.described(wrongReceiver))")
        let atPharmacy = try await supply(lee, SupplyChainContract.Receive(from: wholesaler.derivedID, units: units(serials[...])))
        try expect(serials.allSatisfy { unit($0).owner == pharmacy.derivedID && unit($0).status == .active }, "the pharmacy owns the units")
        story.ok("meridian-wholesale unpacked the case and shipped all 6 on to corner-pharmacy; pharmacist-lee received them (block \(atPharmacy.status.height))")

        let request = Array("""
            {"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/demo-patient"},
             "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"308191"}]},
             "dosageInstruction":[{"text":"1 capsule 3 times a day for 10 days"}],
             "dispenseRequest":{"numberOfRepeatsAllowed":1,"quantity":{"value":2}}}
            """.utf8)
        let requestHash = try MedicationRequestFile(request, name: "MedicationRequest").hash
        func issue(quantity: Int64, refills: Int64) async throws -> Hash256 {
            let receipt = try await ledger.commit(ledger.sign(rivera, PrescriptionContract.Issue(
                medicationRequestHash: requestHash, patient: patient.derivedID, gtin: gtin, quantity: quantity, refills: refills,
                expiresMs: SystemClock().nowMs() + 30 * SupplyCLI.dayMs)))
            return receipt.status.transactionID
        }
        func fill(_ prescription: Hash256, _ list: ArraySlice<String>) async throws {
            try await ledger.commit(ledger.sign(lee, PrescriptionContract.Fill(prescription: prescription, units: units(list))))
        }
        let prescription = try await issue(quantity: 2, refills: 1)
        story.ok("dr-rivera prescribed 2 packs per fill with 1 refill for the patient's pseudonym; only the MedicationRequest's SHA-256 \(requestHash.hex.prefix(16))… went on-chain (prescription \(prescription.hex.prefix(16))…)")
        try await fill(prescription, serials[0..<2])
        try await fill(prescription, serials[2..<4])
        let filled = PrescriptionContract.prescription(prescription, in: ledger.node.state)
        try expect(filled?.fillsUsed == 2 && filled?.status == .completed, "two fills complete the prescription")
        try expect(serials[0..<4].allSatisfy { unit($0).status == .dispensed }, "filled units are dispensed")
        story.ok("pharmacist-lee filled it with \(serials[0]), \(serials[1]) and the refill with \(serials[2]), \(serials[3]): 2 of 2 fills used, the 4 packs are marked dispensed")
        let third = try await refusal(.noFillsLeft, "a third fill") { try await fill(prescription, serials[4...]) }
        try expect(unit(serials[4]).status == .active, "a refused fill dispenses nothing")
        story.refused("a third fill with \(serials[4]), \(serials[5]): refused, \(Self.described(third))")

        func verify(_ serial: String) async throws -> VerificationRecord {
            let receipt = try await supply(lee, SupplyChainContract.Verify(gtin: gtin, serial: serial, lot: lot))
            guard let record = SupplyChainContract.verification(receipt.status.transactionID, in: ledger.node.state) else {
                throw CLIError("demo check failed: verification not recorded")
            }
            return record
        }
        let genuine = try await verify(serials[4])
        try expect(genuine.verdict == .genuine, "a commissioned pack verifies")
        story.ok("pharmacist-lee verified \(serials[4]) before dispensing: GENUINE (the request is recorded on-chain)")
        let fake = "AMX9999"
        let incident = try await verify(fake)
        try expect(incident.verdict == .unknownSerial && unit(fake).incidentCount == 1, "the counterfeit is an incident")
        story.refused("a pack labelled \(SGTIN(gtin: gtin, serial: fake)) lot \(lot) turned up: INCIDENT \(incident.verdict.rawValue) — \(SupplyCLI.explain(incident.verdict)) (incident \(incident.id.hex.prefix(16))… at block \(incident.height))")
        let second = try await issue(quantity: 1, refills: 0)
        let counterfeit = try await refusal(.unknownUnit, "dispensing the counterfeit") { try await fill(second, [fake]) }
        story.refused("dispensing it against a new prescription: refused, \(Self.described(counterfeit))")
        try await fill(second, serials[4...4])
        try expect(unit(serials[4]).status == .dispensed, "the genuine pack is dispensed")
        story.ok("the genuine \(serials[4]) was dispensed instead")

        let traced = unit(serials[0])
        try expect(traced.custody.map(\.kind) == [.commissioned, .packed, .shipped, .received, .unpacked, .shipped, .received, .dispensed],
                   "the dispensed pack's custody chain")
        story.ok("`careledger supply trace \(gtin):\(serials[0])` — its chain of custody, from anyone's copy of the chain:")
        let names = SupplyNames(ledger.node.state)
        let lines = SupplyCLI.traceLines(traced, incidents: SupplyChainContract.incidents(gtin: gtin, serial: serials[0], in: ledger.node.state),
                                         names: names, reader: ledger.node.state)
        for line in lines { story.note(line) }
    }
}
