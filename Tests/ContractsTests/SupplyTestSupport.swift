import Contracts
import LedgerCore

/// Transaction builders for the supply and prescription tests. Names start with `supply`/`rx`
/// so they do not collide with the other test files' helpers.
extension Harness {
    /// A raw supply-contract call (rule rows that send malformed arguments).
    mutating func supply(_ keys: IdentityKeys, _ method: String, _ args: CanonicalMap) -> VerifiedTransaction {
        sign(keys, "supply", method, args)
    }

    /// A raw rx-contract call.
    mutating func rx(_ keys: IdentityKeys, _ method: String, _ args: CanonicalMap) -> VerifiedTransaction {
        sign(keys, "rx", method, args)
    }

    /// supply.commission.
    mutating func supplyCommission(_ keys: IdentityKeys, gtin: String, lot: String, expiryMs: Int64, serials: [String]) -> VerifiedTransaction {
        sign(keys, SupplyChainContract.Commission(gtin: gtin, lot: lot, expiryMs: expiryMs, serials: serials))
    }

    /// supply.ship of loose units (and cases) to `to`.
    mutating func supplyShip(_ keys: IdentityKeys, to: IdentityID, gtin: String = SupplyWorld.g1, _ serials: [String],
                             cases: [String] = []) -> VerifiedTransaction {
        sign(keys, SupplyChainContract.Ship(to: to, units: serials.isEmpty ? nil : SupplyWorld.sgtins(gtin, serials),
                                            cases: cases.isEmpty ? nil : cases))
    }

    /// supply.receive of loose units (and cases) from `from`.
    mutating func supplyReceive(_ keys: IdentityKeys, from: IdentityID, gtin: String = SupplyWorld.g1, _ serials: [String],
                                cases: [String] = []) -> VerifiedTransaction {
        sign(keys, SupplyChainContract.Receive(from: from, units: serials.isEmpty ? nil : SupplyWorld.sgtins(gtin, serials),
                                               cases: cases.isEmpty ? nil : cases))
    }

    /// supply.verify of one pack.
    mutating func supplyVerify(_ keys: IdentityKeys, gtin: String = SupplyWorld.g1, _ serial: String, lot: String? = nil,
                               expiryMs: Int64? = nil) -> VerifiedTransaction {
        sign(keys, SupplyChainContract.Verify(gtin: gtin, serial: serial, lot: lot, expiryMs: expiryMs))
    }

    /// rx.issue by a prescriber for the harness patient; `extra` overrides raw arguments.
    mutating func rxIssue(_ keys: IdentityKeys = Harness.doctor, gtin: String = SupplyWorld.g1, quantity: Int64 = 1, refills: Int64 = 1,
                          expiresMs: Int64 = SupplyWorld.rxExpiry, patient: IdentityID = Harness.patientID,
                          extra: CanonicalMap = [:]) -> VerifiedTransaction {
        sign(keys, PrescriptionContract.Issue(medicationRequestHash: Hash256.sha256(Array("MedicationRequest/\(gtin)/\(quantity)".utf8)),
                                              patient: patient, gtin: gtin, quantity: quantity, refills: refills, expiresMs: expiresMs),
             overriding: extra)
    }

    /// rx.fill of a prescription with units of `gtin`.
    mutating func rxFill(_ keys: IdentityKeys, _ prescription: Hash256, gtin: String = SupplyWorld.g1, _ serials: [String]) -> VerifiedTransaction {
        sign(keys, PrescriptionContract.Fill(prescription: prescription, units: SupplyWorld.sgtins(gtin, serials)))
    }

    /// rx.cancel.
    mutating func rxCancel(_ keys: IdentityKeys, _ prescription: Hash256) -> VerifiedTransaction {
        sign(keys, PrescriptionContract.Cancel(prescription: prescription))
    }
}

/// A supply-chain network: manufacturers M and M2, distributor D, pharmacies P and P2, a
/// regulator, a payer, a laboratory, the harness hospital (with its doctor) and clinic, staff, a patient; and
/// units spread along the chain in known states:
///
/// - M: case C1 = S011…S015, loose S016, S019, S020 active; S017 suspect; S018 decommissioned;
///   R002, R003 (recalled lot L2); E001 (expired lot E1); X002, X003 (product G2).
/// - D: S001…S004 active; S005 shipped to P, not yet received.
/// - P: S006 active; S007, S008 dispensed; R001 recalled; E002 expired; X001 (G2).
/// - P2: S009 dispensed; S010 active.
/// - Prescriptions (G1, one unit per fill): `rxTwice` (1 refill, filled at P then P2), `rxOnce`
///   (no refill, filled), `rxCancelled`, `rxExpired`, `rxOpen` (2 refills, unfilled).
struct SupplyWorld: Sendable {
    static let k = Harness.keys
    static let m = k(150), m2 = k(151), d = k(152), p = k(153), p2 = k(154), regulator = k(155), payer = k(156), lab = k(157)
    static let mSupply = k(160), dSupply = k(161), pharmacist = k(162), pharmacist2 = k(163), dAuditor = k(164)
    static let clinicDoctor = k(165), hospitalPharmacist = k(166), pAuditor = k(167), mAuditor = k(168), hospitalAdmin = k(169)
    static let labClinician = k(170)

    static let g1 = "00312345678906", g2 = "00312345678913", g3 = "00312345678920", unregistered = "00312345678999"
    static let c1 = "000312345000000011", c2 = "000312345000000028", c3 = "000312345000000035"
    static let far: Int64 = 10_000_000
    /// Lot E1 expires at this block time: after the world is built, its units are expired.
    static let shortExpiry: Int64 = 1_008
    /// A valid expiry for prescriptions issued during rows.
    static let rxExpiry: Int64 = 50_000_000

    static let shared = SupplyWorld()

    var h = Harness()
    var rxTwice = Hash256.zero, rxOnce = Hash256.zero, rxCancelled = Hash256.zero, rxExpired = Hash256.zero, rxOpen = Hash256.zero

    static func serials(_ prefix: String, _ range: ClosedRange<Int>) -> [String] {
        range.map { n in prefix + String(repeating: "0", count: max(0, 3 - String(n).count)) + String(n) }
    }

    /// Units of one GTIN.
    static func sgtins(_ gtin: String, _ serials: [String]) -> [SGTIN] { serials.map { SGTIN(gtin: gtin, serial: $0) } }

    /// The raw argument form of a list of units of one GTIN (for rule rows that send malformed calls).
    static func units(_ gtin: String, _ serials: [String]) -> CanonicalValue { try! CanonicalEncoder().encode(sgtins(gtin, serials)) }

    /// A genesis with the harness hospital and clinic plus the supply organizations, the doctor and a patient.
    static func genesis() -> Harness {
        var h = Harness()
        let orgs: [(IdentityKeys, OrganizationType)] = [
            (Harness.hospital, .hospital), (Harness.clinic, .clinic), (m, .manufacturer), (m2, .manufacturer), (d, .distributor),
            (p, .pharmacy), (p2, .pharmacy), (regulator, .regulator), (payer, .payer), (lab, .laboratory),
        ]
        let found = orgs.map { keys, type in h.found(keys, type) }
        h.runAccepted(found, "genesis")
        h.runAccepted([
            h.enroll(Harness.doctor, by: Harness.hospital, roles: ["clinician"]),
            h.registerPatient(Harness.patient),
            h.enroll(mSupply, by: m, roles: ["supply-chain"]),
            h.enroll(mAuditor, by: m, roles: ["auditor"]),
            h.enroll(dSupply, by: d, roles: ["supply-chain"]),
            h.enroll(dAuditor, by: d, roles: ["auditor"]),
            h.enroll(pharmacist, by: p, roles: ["pharmacist"]),
            h.enroll(pharmacist2, by: p2, roles: ["pharmacist"]),
            h.enroll(pAuditor, by: p, roles: ["auditor"]),
            h.enroll(labClinician, by: lab, roles: ["clinician"]),
            h.enroll(clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
            h.enroll(hospitalPharmacist, by: Harness.hospital, roles: ["pharmacist"]),
            h.enroll(hospitalAdmin, by: Harness.hospital, roles: ["admin"]),
        ], "staff")
        return h
    }

    init() {
        typealias W = SupplyWorld
        var h = W.genesis()
        typealias S = SupplyChainContract
        h.runAccepted([
            h.sign(W.m, S.RegisterProduct(gtin: W.g1, label: "Amoxicillin 500 mg caps 30")),
            h.sign(W.mSupply, S.RegisterProduct(gtin: W.g2, label: "Ibuprofen 200 mg tabs 50")),
            h.sign(W.m2, S.RegisterProduct(gtin: W.g3, label: "Insulin glargine pen")),
        ], "products")
        h.runAccepted([
            h.supplyCommission(W.m, gtin: W.g1, lot: "L1", expiryMs: W.far, serials: W.serials("S", 1...20)),
            h.supplyCommission(W.m, gtin: W.g1, lot: "L2", expiryMs: W.far, serials: W.serials("R", 1...3)),
            h.supplyCommission(W.m, gtin: W.g1, lot: "E1", expiryMs: W.shortExpiry, serials: W.serials("E", 1...2)),
            h.supplyCommission(W.mSupply, gtin: W.g2, lot: "B1", expiryMs: W.far, serials: W.serials("X", 1...3)),
            h.supplyCommission(W.m2, gtin: W.g3, lot: "Z1", expiryMs: W.far, serials: ["Z001"]),
        ], "commission")
        h.runAccepted([
            h.supplyShip(W.m, to: W.d.derivedID, W.serials("S", 1...10)),
            h.supplyShip(W.m, to: W.p.derivedID, ["R001", "E002"]),
            h.supplyShip(W.m, to: W.p.derivedID, gtin: W.g2, ["X001"]),
            h.sign(W.m, S.Aggregate(sscc: W.c1, units: W.sgtins(W.g1, W.serials("S", 11...15)))),
            h.sign(W.m, S.Quarantine(units: W.sgtins(W.g1, ["S017"]), reason: .stolen)),
            h.sign(W.m, S.Decommission(units: W.sgtins(W.g1, ["S018"]), reason: .damaged)),
        ], "ship from M")
        h.runAccepted([
            h.supplyReceive(W.dSupply, from: W.m.derivedID, W.serials("S", 1...10)),
            h.supplyReceive(W.p, from: W.m.derivedID, ["R001", "E002"]),
            h.supplyReceive(W.pharmacist, from: W.m.derivedID, gtin: W.g2, ["X001"]),
        ], "receive from M")
        h.runAccepted([
            h.supplyShip(W.d, to: W.p.derivedID, W.serials("S", 5...8)),
            h.supplyShip(W.dSupply, to: W.p2.derivedID, ["S009", "S010"]),
        ], "ship from D")
        let twice = h.rxIssue(refills: 1), once = h.rxIssue(refills: 0), cancelled = h.rxIssue(W.clinicDoctor, refills: 3)
        let expired = h.rxIssue(refills: 2, expiresMs: 1_009), open = h.rxIssue(refills: 2)
        h.runAccepted([
            h.supplyReceive(W.pharmacist, from: W.d.derivedID, W.serials("S", 6...8)),
            h.supplyReceive(W.p2, from: W.d.derivedID, ["S009", "S010"]),
            h.sign(W.m, S.Recall(gtin: W.g1, lot: "L2", reason: .contamination)),
            twice, once, cancelled, expired, open,
        ], "receive at pharmacies, recall, prescriptions")
        h.runAccepted([
            h.rxFill(W.p, twice.id, ["S007"]),
            h.rxFill(W.pharmacist2, twice.id, ["S009"]),
            h.rxFill(W.pharmacist, once.id, ["S008"]),
            h.rxCancel(W.clinicDoctor, cancelled.id),
        ], "fills")
        precondition(h.height == 9)
        self.h = h
        rxTwice = twice.id
        rxOnce = once.id
        rxCancelled = cancelled.id
        rxExpired = expired.id
        rxOpen = open.id
    }
}
