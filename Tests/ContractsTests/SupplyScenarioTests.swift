import Contracts
import LedgerCore
import Testing

/// End-to-end supply and prescription scenarios, the fraud cases checked through the read
/// helpers, the bounds, and replay determinism.
@Suite("Supply chain and prescription scenarios")
struct SupplyScenarioTests {
    typealias W = SupplyWorld
    static let H = Harness.self

    static func code(_ result: TransactionResult) -> ResultCode? { ResultCode(rawValue: result.code) }

    /// Independent GS1 check-digit reference for the property test.
    static func referenceCheckDigit(_ body: [Int]) -> Int {
        var sum = 0
        for (i, digit) in body.reversed().enumerated() { sum += digit * (i % 2 == 0 ? 3 : 1) }
        return (10 - sum % 10) % 10
    }

    @Test func gs1CheckDigits() {
        for valid in ["4006381333931", "036000291452", "012345678905", "00312345678906", "000312345000000011", "96385074"] {
            #expect(gs1CheckDigitValid(valid), "\(valid)")
        }
        for invalid in ["4006381333932", "036000291453", "", "1", "12a4", "0031234567890６", " 4006381333931"] {
            #expect(!gs1CheckDigitValid(invalid), "\(invalid)")
        }
        #expect(GS1.isGTIN(W.g1) && !GS1.isGTIN("4006381333931") && GS1.isSSCC(W.c1) && !GS1.isSSCC(W.g1))
        #expect(GS1.isSerial("aZ09-._") && !GS1.isSerial("") && !GS1.isSerial("a/b") && !GS1.isSerial("é") && !GS1.isSerial(String(repeating: "1", count: 21)))
        var rng = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let length = Int.random(in: 7...17, using: &rng)
            let body = (0..<length).map { _ in Int.random(in: 0...9, using: &rng) }
            let check = Self.referenceCheckDigit(body)
            let text = body.map(String.init).joined()
            #expect(gs1CheckDigitValid(text + String(check)))
            #expect(!gs1CheckDigitValid(text + String((check + 1 + Int.random(in: 0...8, using: &rng)) % 10)))
        }
    }

    /// Manufacturer → distributor → pharmacy → fill, with a case on the way; the custody chain is
    /// checked event by event through the read helpers, and the history replays to the same root.
    @Test func manufacturerToPatientCustodyChain() throws {
        var h = W.genesis()
        let (m, d, p) = (W.m.derivedID, W.d.derivedID, W.p.derivedID)
        let gtin = "00312345678937"
        let case1 = W.c2
        h.runAccepted([h.supply(W.mSupply, "registerProduct", ["gtin": .string(gtin), "label": .string("Metformin 500 mg")])])
        h.runAccepted([h.supplyCommission(W.mSupply, gtin: gtin, lot: "LOT-7", expiryMs: W.far, serials: ["A1", "A2", "A3"])])
        h.runAccepted([h.supply(W.m, "aggregate", ["sscc": .string(case1), "units": W.units(gtin, ["A1", "A2"])])])
        h.runAccepted([h.supplyShip(W.m, to: d, gtin: gtin, ["A3"], cases: [case1])])
        #expect(SupplyChainContract.case(case1, in: h.state)?.status == .shipped)
        #expect(SupplyChainContract.unit(gtin, "A1", atMs: 2_000, in: h.state).pendingRecipient == d)
        h.runAccepted([h.supplyReceive(W.dSupply, from: m, gtin: gtin, ["A3"], cases: [case1])])
        h.runAccepted([h.supply(W.d, "disaggregate", ["sscc": .string(case1)])])
        h.runAccepted([h.supplyShip(W.d, to: p, gtin: gtin, ["A1", "A2"])])
        h.runAccepted([h.supplyReceive(W.pharmacist, from: d, gtin: gtin, ["A1", "A2"])])
        let verify = h.supplyVerify(W.pharmacist, gtin: gtin, "A1", lot: "LOT-7", expiryMs: W.far)
        h.runAccepted([verify])
        let issue = h.rxIssue(gtin: gtin, quantity: 2, refills: 0)
        h.runAccepted([issue])
        let fillHeight = h.runAccepted([h.rxFill(W.pharmacist, issue.id, gtin: gtin, ["A1", "A2"])])

        let now = 1_000 + Int64(h.height)
        let a1 = SupplyChainContract.unit(gtin, "A1", atMs: now, in: h.state)
        #expect(a1.known && a1.status == .dispensed && a1.storedStatus == .dispensed && a1.owner == p && a1.lot == "LOT-7")
        #expect(a1.manufacturer == m && a1.caseSSCC == nil && a1.pendingRecipient == nil && a1.incidents.isEmpty)
        #expect(a1.custody.map(\.kind) == [.commissioned, .packed, .shipped, .received, .unpacked, .shipped, .received, .dispensed])
        #expect(a1.custody.map(\.from) == [nil, m, m, m, d, d, d, p])
        #expect(a1.custody.map(\.to) == [m, nil, d, d, nil, p, p, nil])
        #expect(a1.custody[1].detail == case1 && a1.custody[7].detail == issue.id.hex && a1.custody[7].height == fillHeight)
        #expect(zip(a1.custody, a1.custody.dropFirst()).allSatisfy { $0.height < $1.height && $0.timeMs < $1.timeMs })
        let a3 = SupplyChainContract.unit(gtin, "A3", atMs: now, in: h.state)
        #expect(a3.status == .active && a3.owner == d && a3.custody.map(\.kind) == [.commissioned, .shipped, .received])
        #expect(a3.isInGoodStanding)

        let record = try #require(SupplyChainContract.verification(verify.id, in: h.state))
        #expect(record.verdict == .genuine && !record.isIncident && record.organization == p && record.requester == W.pharmacist.derivedID)
        #expect(SupplyChainContract.incident(verify.id, in: h.state) == nil)
        #expect(SupplyChainContract.incidentCount(reportedBy: p, in: h.state) == 0)

        let rx = try #require(PrescriptionContract.prescription(issue.id, in: h.state))
        #expect(rx.status == .completed && rx.fillsUsed == 1 && rx.fillsRemaining == 0 && rx.prescription.gtin == gtin)
        #expect(rx.prescription.prescriber == Harness.doctor.derivedID && rx.prescription.organization == Harness.hospital.derivedID)
        #expect(rx.prescription.patient == Harness.patientID)
        #expect(rx.fills.count == 1 && rx.fills[0].pharmacy == p && rx.fills[0].by == W.pharmacist.derivedID)
        #expect(rx.fills[0].units == [SGTIN(gtin: gtin, serial: "A1"), SGTIN(gtin: gtin, serial: "A2")] && rx.fills[0].height == fillHeight)

        let shippedCase = try #require(SupplyChainContract.case(case1, in: h.state))
        #expect(shippedCase.status == .unpacked && shippedCase.owner == d && shippedCase.units.isEmpty)
        #expect(SupplyChainContract.lot(gtin, "LOT-7", in: h.state)?.unitCount == 3)
        #expect(SupplyChainContract.product(gtin, in: h.state)?.manufacturer == m)
        #expect(SupplyChainContract.product(gtin, in: h.state)?.label == "Metformin 500 mg")

        Self.expectReplayMatches(h)
    }

    /// Counterfeit: verifying an unknown serial succeeds and records an incident, readable by id,
    /// by serial and by reporter; filling with it is refused.
    @Test func counterfeitSerialIsAnIncident() throws {
        var h = W.shared.h
        let verify = h.supplyVerify(W.pharmacist, "FAKE01", lot: "L1")
        h.runAccepted([verify])
        let record = try #require(SupplyChainContract.incident(verify.id, in: h.state))
        #expect(record.verdict == .unknownSerial && record.organization == W.p.derivedID && record.lot == "L1" && !record.markedSuspect)
        #expect(SupplyChainContract.incidents(gtin: W.g1, serial: "FAKE01", in: h.state) == [record])
        #expect(SupplyChainContract.incidents(reportedBy: W.p.derivedID, in: h.state) == [record])
        #expect(SupplyChainContract.incidentCount(reportedBy: W.p.derivedID, in: h.state) == 1)
        let view = SupplyChainContract.unit(W.g1, "FAKE01", atMs: 5_000, in: h.state)
        #expect(!view.known && view.status == nil && view.incidents == [verify.id] && view.incidentCount == 1 && !view.isInGoodStanding)

        let again = h.supplyVerify(W.pharmacist2, "FAKE01")
        h.runAccepted([again])
        #expect(SupplyChainContract.incidents(gtin: W.g1, serial: "FAKE01", in: h.state).map(\.id) == [verify.id, again.id])
        #expect(SupplyChainContract.incidents(reportedBy: W.p2.derivedID, in: h.state).map(\.id) == [again.id])

        let fill = h.run([h.rxFill(W.pharmacist, W.shared.rxOpen, ["FAKE01"])])[0]
        #expect(Self.code(fill) == .unknownUnit)
        #expect(PrescriptionContract.prescription(W.shared.rxOpen, in: h.state)?.fillsUsed == 0)
    }

    /// A dispensed (or decommissioned) serial presented again is flagged by verify; its status stays.
    @Test func reusedSerialIsFlagged() throws {
        var h = W.shared.h
        let dispensed = h.supplyVerify(W.pharmacist2, "S007", lot: "L1", expiryMs: W.far)
        let destroyed = h.supplyVerify(W.d, "S018")
        h.runAccepted([dispensed, destroyed])
        let first = try #require(SupplyChainContract.incident(dispensed.id, in: h.state))
        #expect(first.verdict == .dispensed && !first.markedSuspect && first.organization == W.p2.derivedID)
        #expect(try #require(SupplyChainContract.incident(destroyed.id, in: h.state)).verdict == .decommissioned)
        let view = SupplyChainContract.unit(W.g1, "S007", atMs: 5_000, in: h.state)
        #expect(view.status == .dispensed && view.incidents == [dispensed.id])
        #expect(view.custody.last?.kind == .dispensed && view.custody.last?.detail == W.shared.rxTwice.hex)
    }

    /// A pack whose printed lot does not match is marked suspect: it can no longer be dispensed
    /// until a regulator clears it.
    @Test func lotMismatchMarksSuspectUntilCleared() throws {
        var h = W.shared.h
        let verify = h.supplyVerify(W.pharmacist, "S006", lot: "L9")
        h.runAccepted([verify])
        #expect(try #require(SupplyChainContract.incident(verify.id, in: h.state)).markedSuspect)
        var view = SupplyChainContract.unit(W.g1, "S006", atMs: 5_000, in: h.state)
        #expect(view.status == .suspect && view.custody.last?.kind == .flagged && view.custody.last?.detail == "lot-mismatch")
        #expect(Self.code(h.run([h.rxFill(W.p, W.shared.rxOpen, ["S006"])])[0]) == .unitSuspect)
        let expiry = h.supplyVerify(W.pharmacist, "S010", expiryMs: W.far - 1)
        h.runAccepted([expiry, h.supply(W.regulator, "clear", ["units": W.units(W.g1, ["S006"])])])
        #expect(SupplyChainContract.incident(expiry.id, in: h.state)?.verdict == .expiryMismatch)
        view = SupplyChainContract.unit(W.g1, "S006", atMs: 5_000, in: h.state)
        #expect(view.status == .active && view.custody.last?.kind == .cleared && view.custody.last?.from == W.regulator.derivedID)
        h.runAccepted([h.rxFill(W.p, W.shared.rxOpen, ["S006"])])
    }

    /// A recall touches only the lot; every unit of it reads as recalled, and ship and fill refuse it.
    @Test func recallIsPerLotWithoutTouchingUnits() throws {
        var h = W.shared.h
        let before = h.state.values
        let recall = h.supply(W.regulator, "recall", ["gtin": .string(W.g1), "lot": .string("L1"), "reason": .string("potency")])
        h.runAccepted([recall])
        #expect(h.changedKeys(since: before) == ["supply/lot/\(W.g1)/L1", Harness.sequenceKey(W.regulator.derivedID)])
        let lot = try #require(SupplyChainContract.lot(W.g1, "L1", in: h.state))
        #expect(lot.recall?.organization == W.regulator.derivedID && lot.recall?.reason == .potency && lot.unitCount == 20)
        for serial in ["S001", "S006", "S011", "S017"] {
            let view = SupplyChainContract.unit(W.g1, serial, atMs: 5_000, in: h.state)
            #expect(view.status == .recalled && view.recall == lot.recall, "\(serial)")
        }
        #expect(SupplyChainContract.unit(W.g1, "S007", atMs: 5_000, in: h.state).status == .dispensed)
        #expect(SupplyChainContract.unit(W.g1, "S006", atMs: 5_000, in: h.state).storedStatus == .active)
        #expect(Self.code(h.run([h.supplyShip(W.d, to: W.p.derivedID, ["S001"])])[0]) == .unitRecalled)
        #expect(Self.code(h.run([h.rxFill(W.p, W.shared.rxOpen, ["S006"])])[0]) == .unitRecalled)
        #expect(Self.code(h.run([h.supplyShip(W.m, to: W.d.derivedID, [], cases: [W.c1])])[0]) == .unitRecalled)
        let check = h.supplyVerify(W.pharmacist, "S006")
        h.runAccepted([check])
        #expect(SupplyChainContract.incident(check.id, in: h.state)?.verdict == .recalled)
        // Expiry is read against the time asked about, too.
        #expect(SupplyChainContract.unit(W.g1, "E001", atMs: 1_007, in: h.state).status == .active)
        #expect(SupplyChainContract.unit(W.g1, "E001", atMs: W.shortExpiry, in: h.state).status == .expired)
    }

    /// Diversion: only the pending recipient receives, and only from the shipper; a non-owner cannot ship.
    @Test func divertedProductIsRefused() {
        var h = W.shared.h
        let before = h.state.values
        let results = h.run([
            h.supplyReceive(W.p2, from: W.d.derivedID, ["S005"]),
            h.supplyReceive(W.p, from: W.p2.derivedID, ["S005"]),
            h.supplyShip(W.p2, to: W.p.derivedID, ["S005"]),
            h.supplyShip(W.d, to: W.p2.derivedID, ["S006"]),
        ])
        #expect(results.map(Self.code) == [.notPendingRecipient, .notShipper, .notOwner, .notOwner])
        #expect(h.changedKeys(since: before).allSatisfy { $0.hasPrefix("system/sequence/") })
        h.runAccepted([h.supplyReceive(W.p, from: W.d.derivedID, ["S005"])])
        let view = SupplyChainContract.unit(W.g1, "S005", atMs: 5_000, in: h.state)
        #expect(view.owner == W.p.derivedID && view.status == .active)
        #expect(view.custody.map(\.kind) == [.commissioned, .shipped, .received, .shipped, .received])
    }

    /// Fills at any pharmacy count against one prescription: refills=1 allows exactly two.
    @Test func doubleFillAcrossPharmacies() throws {
        var h = W.genesis()
        h.runAccepted([h.supply(W.m, "registerProduct", ["gtin": .string(W.g1), "label": .string("x")])])
        h.runAccepted([h.supplyCommission(W.m, gtin: W.g1, lot: "L1", expiryMs: W.far, serials: ["U1", "U2", "U3", "U4"])])
        h.runAccepted([h.supplyShip(W.m, to: W.p.derivedID, ["U1", "U2"]), h.supplyShip(W.m, to: W.p2.derivedID, ["U3", "U4"])])
        let issue = h.rxIssue(refills: 1)
        h.runAccepted([h.supplyReceive(W.p, from: W.m.derivedID, ["U1", "U2"]), h.supplyReceive(W.p2, from: W.m.derivedID, ["U3", "U4"]), issue])
        h.runAccepted([h.rxFill(W.pharmacist, issue.id, ["U1"])])
        var view = try #require(PrescriptionContract.prescription(issue.id, in: h.state))
        #expect(view.status == .active && view.fillsUsed == 1 && view.fillsRemaining == 1)
        h.runAccepted([h.rxFill(W.pharmacist2, issue.id, ["U3"])])
        let third = h.run([h.rxFill(W.pharmacist, issue.id, ["U2"]), h.rxFill(W.p2, issue.id, ["U4"])])
        #expect(third.map(Self.code) == [.noFillsLeft, .noFillsLeft])
        view = try #require(PrescriptionContract.prescription(issue.id, in: h.state))
        #expect(view.status == .completed && view.fillsUsed == 2 && view.fillsRemaining == 0)
        #expect(view.fills.map(\.pharmacy) == [W.p.derivedID, W.p2.derivedID] && view.fills.map(\.number) == [1, 2])
        #expect(SupplyChainContract.unit(W.g1, "U2", atMs: 5_000, in: h.state).status == .active)
        #expect(SupplyChainContract.unit(W.g1, "U4", atMs: 5_000, in: h.state).status == .active)
        Self.expectReplayMatches(h)
    }

    /// An expired prescription is refused even with fills left; cancelling one stops it at once.
    @Test func expiredAndCancelledPrescriptions() throws {
        var h = W.shared.h
        let expired = try #require(PrescriptionContract.prescription(W.shared.rxExpired, in: h.state))
        #expect(expired.prescription.isExpired(atMs: 1_009) && !expired.prescription.isExpired(atMs: 1_008) && expired.fillsRemaining == 3)
        #expect(Self.code(h.run([h.rxFill(W.p, W.shared.rxExpired, ["S006"])])[0]) == .prescriptionExpired)
        let cancelled = try #require(PrescriptionContract.prescription(W.shared.rxCancelled, in: h.state))
        #expect(cancelled.status == .cancelled && cancelled.fillsRemaining == 0 && cancelled.prescription.cancelledBy == W.clinicDoctor.derivedID)
        h.runAccepted([h.rxCancel(Harness.hospital, W.shared.rxOpen)])
        #expect(Self.code(h.run([h.rxFill(W.p, W.shared.rxOpen, ["S006"])])[0]) == .prescriptionCancelled)
        #expect(PrescriptionContract.prescription(Hash256.sha256([1]), in: h.state) == nil)
    }

    /// A unit's ordinary custody history stops at `custodyEventsMax - custodyEventsReserved`; the
    /// unit can then only leave the chain, and its history stays bounded.
    @Test func custodyHistoryIsBounded() {
        var h = W.shared.h
        let (p2, d) = (W.p2.derivedID, W.d.derivedID)
        let ordinaryMax = SupplyChainContract.custodyEventsMax - SupplyChainContract.custodyEventsReserved
        var atP2 = true
        var refused: TransactionResult?
        for _ in 0..<SupplyChainContract.custodyEventsMax {
            let ship = atP2 ? h.supplyShip(W.p2, to: d, ["S010"]) : h.supplyShip(W.d, to: p2, ["S010"])
            let result = h.run([ship])[0]
            guard result.isAccepted else { refused = result; break }
            h.runAccepted([atP2 ? h.supplyReceive(W.d, from: p2, ["S010"]) : h.supplyReceive(W.p2, from: d, ["S010"])])
            atP2.toggle()
        }
        #expect(refused.flatMap(Self.code) == .custodyHistoryFull)
        let owner = atP2 ? W.p2 : W.d
        let full = SupplyChainContract.unit(W.g1, "S010", atMs: 5_000, in: h.state)
        #expect(full.custody.count >= ordinaryMax && full.custody.count <= ordinaryMax + 1)
        let flag = h.supplyVerify(W.regulator, "S010", lot: "WRONG")
        h.runAccepted([flag, h.supply(owner, "decommission", ["units": W.units(W.g1, ["S010"]), "reason": .string("destroyed")])])
        let done = SupplyChainContract.unit(W.g1, "S010", atMs: 5_000, in: h.state)
        #expect(done.status == .decommissioned && done.custody.count == full.custody.count + 2)
        #expect(done.custody.count <= SupplyChainContract.custodyEventsMax)
        #expect(done.custody.suffix(2).map(\.kind) == [.flagged, .decommissioned])
    }

    /// One call touches at most `unitsPerCallMax` units, counting the units inside cases.
    @Test func shipTouchesBoundedUnits() {
        var h = W.genesis()
        h.runAccepted([h.supply(W.m, "registerProduct", ["gtin": .string(W.g1), "label": .string("x")])])
        let perCase = SupplyChainContract.unitsPerCaseMax
        let cases = SupplyChainContract.unitsPerCallMax / perCase + 1
        let ssccs = (0..<cases).map { i in Self.sscc(i) }
        h.runAccepted((0..<cases).map { i in
            h.supplyCommission(W.m, gtin: W.g1, lot: "L1", expiryMs: W.far, serials: (0..<perCase).map { "C\(i)-\($0)" })
        })
        h.runAccepted((0..<cases).map { i in
            h.supply(W.m, "aggregate", ["sscc": .string(ssccs[i]), "units": W.units(W.g1, (0..<perCase).map { "C\(i)-\($0)" })])
        })
        let before = h.state.values
        let tooMany = h.run([h.supplyShip(W.m, to: W.d.derivedID, [], cases: ssccs)])[0]
        #expect(Self.code(tooMany) == .tooManyUnits)
        #expect(h.changedKeys(since: before) == [Harness.sequenceKey(W.m.derivedID)])
        h.runAccepted([h.supplyShip(W.m, to: W.d.derivedID, [], cases: Array(ssccs.dropLast()))])
        #expect(SupplyChainContract.unit(W.g1, "C0-0", atMs: 5_000, in: h.state).status == .shipped)
        #expect(SupplyChainContract.unit(W.g1, "C\(cases - 1)-0", atMs: 5_000, in: h.state).status == .active)
    }

    /// The shared world plus a few rows replays to the same state and root.
    @Test func supplyHistoryReplays() {
        var h = W.shared.h
        h.runAccepted([h.supplyVerify(W.pharmacist, "FAKE02"), h.rxFill(W.p, W.shared.rxOpen, ["S006"]),
                       h.supplyShip(W.m, to: W.d.derivedID, [], cases: [W.c1])])
        h.runAccepted([h.supplyReceive(W.d, from: W.m.derivedID, [], cases: [W.c1]),
                       h.supply(W.regulator, "recall", ["gtin": .string(W.g1), "lot": .string("L1"), "reason": .string("potency")])])
        Self.expectReplayMatches(h)
    }

    /// An SSCC-18 with a valid check digit for case `i`.
    static func sscc(_ i: Int) -> String {
        let number = String(i)
        let body = "0003123459" + String(repeating: "0", count: 7 - number.count) + number
        let digits = body.utf8.map { Int($0) - 48 }
        return body + String(referenceCheckDigit(digits))
    }

    /// Re-executes the harness history into a fresh state and through the verifier's replayer:
    /// same results, same state, same root.
    static func expectReplayMatches(_ h: Harness) {
        var fresh = Harness()
        var replayer = ContractReplayer(executor: h.executor)
        var replayRoot = Hash256.zero
        for entry in h.history {
            _ = fresh.run(entry.transactions)
            let header = BlockHeader(chainId: Harness.chainId, height: entry.height, previousHash: .zero, timeMs: entry.timeMs,
                                     transactionCount: UInt32(entry.transactions.count), transactionsRoot: .zero, logSize: 0,
                                     logRoot: .zero, resultsRoot: .zero, stateRoot: .zero, ordererKey: Harness.orderer.signingPublicKey)
            replayRoot = replayer.replay(header: header, transactions: entry.transactions).writeSet.stateRoot(after: replayRoot)
        }
        #expect(fresh.stateRoot == h.stateRoot)
        #expect(fresh.state.values == h.state.values)
        #expect(replayRoot == h.stateRoot)
        #expect(replayer.state.values == h.state.values)
    }
}
