import Contracts
import LedgerCore
import Testing

/// A payer with two plans, a patient covered by both, a hospital with a billing account and
/// documented visits, and a clinic. Blocks are an hour apart, starting on 2023-11-14.
struct ClaimsWorld: Sendable {
    static let k = Harness.keys
    static let payer = k(40), agent = k(41), otherPayer = k(42), billing = k(43), clinicDoctor = k(44), otherPatient = k(45)
    static let day: Int64 = 86_400_000
    static let t0: Int64 = 1_700_000_000_000
    /// Visits documented by the hospital for the patient, one per day from t0 - 20 days.
    static let visits = (0..<8).map { Hash256.sha256([0xD0, UInt8($0)]) }
    static func visitDay(_ i: Int) -> Int64 { t0 - 20 * day + Int64(i) * day }
    /// A record the clinic wrote, and one about another patient.
    static let clinicRecord = Hash256.sha256([0xD8]), otherPatientRecord = Hash256.sha256([0xD9])
    static let coverageStart = t0 - 15 * day

    static let shared = ClaimsWorld()

    var h = Harness.standard()
    var goldCoverage = Hash256.zero

    init() {
        typealias W = ClaimsWorld
        h.timeBaseMs = W.t0
        h.msPerBlock = 3_600_000
        h.runAccepted([W.admit(&h, W.payer), W.admit(&h, W.otherPayer)], "payers")
        h.runAccepted([
            h.enroll(W.agent, by: W.payer, roles: ["payer-agent"]),
            h.enroll(W.billing, by: Harness.hospital, roles: ["integration"]),
            h.enroll(W.clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
            h.registerPatient(W.otherPatient),
        ], "staff")
        var records = W.visits.map { h.putRecord($0, "Encounter", "general", by: Harness.doctor) }
        records.append(h.putRecord(W.clinicRecord, "Encounter", "general", by: W.clinicDoctor))
        records.append(h.putRecord(W.otherPatientRecord, "Encounter", "general", by: Harness.doctor, patient: W.otherPatient.derivedID))
        h.runAccepted([h.plan("GOLD", by: W.agent), h.plan("NARROW", by: W.payer, diagnoses: ["E11"])] + records, "plans and records")
        let coverage = h.coverage(plan: "GOLD", start: W.coverageStart, end: W.t0 + 365 * W.day)
        goldCoverage = coverage.id
        h.runAccepted([coverage, h.coverage(plan: "NARROW", start: W.coverageStart, end: W.t0 + 365 * W.day)], "coverage")
    }

    static func admit(_ h: inout Harness, _ keys: IdentityKeys) -> VerifiedTransaction {
        h.sign(Harness.hospital, MembershipContract.AdmitOrganization(label: "payer", organizationType: .payer, signingKey: keys.signingPublicKey,
                                                                      agreementKey: keys.agreementPublicKey))
    }
}

extension Harness {
    /// A benefit argument.
    static func benefit(_ code: String, allowed: Int64, units: Int64? = nil, priorAuth: Bool = false) -> ClaimsContract.RegisterPlan.BenefitArgument {
        .init(code: code, allowed: allowed, unitsPerPeriod: units, priorAuth: priorAuth)
    }

    /// The plans the claims tests use: an office visit at $150 allowed, an MRI needing prior
    /// authorization, physical therapy limited to 12 units; $100 deductible, 20 % coinsurance,
    /// $1,000 out-of-pocket maximum.
    static let standardBenefits: [ClaimsContract.RegisterPlan.BenefitArgument] = [
        benefit("99213", allowed: 15_000), benefit("70553", allowed: 120_000, priorAuth: true), benefit("97110", allowed: 5_000, units: 12),
    ]

    /// claims.registerPlan.
    mutating func plan(_ id: String, by keys: IdentityKeys, diagnoses: [String] = [], deductible: Int64 = 10_000,
                       coinsurance: Int64 = 2_000, outOfPocketMax: Int64 = 100_000,
                       benefits: [ClaimsContract.RegisterPlan.BenefitArgument] = Harness.standardBenefits,
                       extra: CanonicalMap = [:]) -> VerifiedTransaction {
        sign(keys, ClaimsContract.RegisterPlan(plan: id, currency: "USD", deductible: deductible, coinsurance: coinsurance,
                                               outOfPocketMax: outOfPocketMax, benefits: benefits, diagnoses: diagnoses),
             overriding: extra)
    }

    /// claims.enroll of the harness patient (or another) by the payer's agent.
    mutating func coverage(plan: String, start: Int64, end: Int64, patient: IdentityID = Harness.patientID,
                           by keys: IdentityKeys = ClaimsWorld.agent) -> VerifiedTransaction {
        sign(keys, ClaimsContract.Enroll(plan: plan, member: ClaimsContract.memberKey(patient: patient, memberID: Self.memberID(patient)),
                                         startMs: start, endMs: end))
    }

    /// The member id the payer issues `patient` in these tests.
    static func memberID(_ patient: IdentityID) -> Hash256 { Hash256.sha256(Array("member id of ".utf8) + patient.bytes) }

    /// One claim line.
    static func line(_ sequence: Int64, _ code: String, quantity: Int64 = 1, price: Int64, day: Int, record: Hash256? = nil) -> ClaimItem {
        ClaimItem(sequence: sequence, code: code, quantity: quantity, unitPriceMinor: price, serviceMs: ClaimsWorld.visitDay(day) + 3_600_000,
                  record: record ?? ClaimsWorld.visits[day])
    }

    /// claims.submit; the claim id is derived from `name`.
    mutating func claim(_ name: String, _ items: [ClaimItem], by keys: IdentityKeys = ClaimsWorld.billing, plan: String = "GOLD",
                        patient: IdentityID = Harness.patientID, memberID: Hash256? = nil, diagnoses: [String] = ["J06.9"]) -> VerifiedTransaction {
        sign(keys, ClaimsContract.Submit(claim: Self.claimID(name), plan: plan, patient: patient, memberID: memberID ?? Self.memberID(patient),
                                         claimHash: Hash256.sha256(Array("fhir claim \(name)".utf8)), diagnoses: diagnoses, items: items))
    }

    static func claimID(_ name: String) -> Hash256 { Hash256.sha256(Array("claim \(name)".utf8)) }

    /// claims.requestAuthorization for the MRI.
    mutating func requestMRI(by keys: IdentityKeys = Harness.doctor, quantity: Int64 = 1) -> VerifiedTransaction {
        sign(keys, ClaimsContract.RequestAuthorization(plan: "GOLD", patient: Harness.patientID, code: "70553", quantity: quantity))
    }

    /// claims.decideAuthorization.
    mutating func decide(_ auth: Hash256, approve: Bool, by keys: IdentityKeys = ClaimsWorld.agent, until: Int64? = nil) -> VerifiedTransaction {
        sign(keys, approve
             ? ClaimsContract.DecideAuthorization(authorization: auth, approve: true, validUntilMs: until ?? ClaimsWorld.t0 + 90 * ClaimsWorld.day)
             : ClaimsContract.DecideAuthorization(authorization: auth, approve: false, reason: "not medically necessary"))
    }

    /// claims.pay.
    mutating func pay(_ name: String, _ amount: Int64, by keys: IdentityKeys = ClaimsWorld.agent) -> VerifiedTransaction {
        sign(keys, ClaimsContract.Pay(claim: Self.claimID(name), amount: amount, reference: Hash256.sha256(Array("eft \(name) \(amount)".utf8))))
    }

    /// The stored claim, after its block ran.
    func storedClaim(_ name: String) -> ClaimEntry? { ClaimsContract.claim(Self.claimID(name), in: state) }
}

@Suite("Claims contract")
struct ClaimsTests {
    typealias W = ClaimsWorld
    typealias H = Harness
    typealias Row = ContractRuleRow

    /// Every way a claims call is refused; each leaves state as it was but for the sequence.
    static let rows: [Row] = [
        Row(description: "plan by a hospital", expected: .notPlanPayer) { $0.plan("X1", by: H.hospital) },
        Row(description: "plan by a clinician", expected: .notPlanPayer) { $0.plan("X1", by: H.doctor) },
        Row(description: "plan by a patient", expected: .notPlanPayer) { $0.plan("X1", by: H.patient) },
        Row(description: "plan id taken", expected: .planExists) { $0.plan("GOLD", by: W.payer) },
        Row(description: "plan id with a slash", expected: .badArguments) { $0.plan("A/B", by: W.payer) },
        Row(description: "plan in a bad currency", expected: .badArguments) { $0.plan("X1", by: W.payer, extra: ["currency": .string("usd")]) },
        Row(description: "plan with a malformed code", expected: .badCode) {
            $0.plan("X1", by: W.payer, benefits: [H.benefit("99 213", allowed: 1)])
        },
        Row(description: "plan with a code twice", expected: .badArguments) {
            $0.plan("X1", by: W.payer, benefits: [H.benefit("99213", allowed: 1), H.benefit("99213", allowed: 2)])
        },
        Row(description: "plan with no benefits", expected: .badArguments) { $0.plan("X1", by: W.payer, benefits: []) },
        Row(description: "plan with a negative allowed amount", expected: .badArguments) {
            $0.plan("X1", by: W.payer, benefits: [H.benefit("99213", allowed: -1)])
        },
        Row(description: "plan with coinsurance over 100 %", expected: .badArguments) { $0.plan("X1", by: W.payer, coinsurance: 10_001) },
        Row(description: "plan with out-of-pocket max under the deductible", expected: .badArguments) {
            $0.plan("X1", by: W.payer, deductible: 50_000, outOfPocketMax: 10_000)
        },
        Row(description: "plan with a malformed diagnosis prefix", expected: .badCode) { $0.plan("X1", by: W.payer, diagnoses: ["e11"]) },
        Row(description: "plan with an unknown argument", expected: .badArguments) { $0.plan("X1", by: W.payer, extra: ["network": .string("x")]) },

        Row(description: "enroll by another payer", expected: .notPlanPayer) {
            $0.coverage(plan: "GOLD", start: W.t0 + 400 * W.day, end: W.t0 + 500 * W.day, by: W.otherPayer)
        },
        Row(description: "enroll in an unknown plan", expected: .unknownPlan) { $0.coverage(plan: "SILVER", start: W.t0, end: W.t0 + W.day) },
        Row(description: "enroll over existing coverage", expected: .coverageOverlap) {
            $0.coverage(plan: "GOLD", start: W.t0 + 100 * W.day, end: W.t0 + 400 * W.day)
        },
        Row(description: "enroll for a period that ends before it starts", expected: .badPeriod) {
            $0.coverage(plan: "GOLD", start: W.t0 + 500 * W.day, end: W.t0 + 400 * W.day)
        },
        Row(description: "enroll for a period already over", expected: .badPeriod) {
            $0.coverage(plan: "GOLD", start: W.t0 - 400 * W.day, end: W.t0 - 390 * W.day)
        },
        Row(description: "enroll for six years", expected: .badPeriod) {
            $0.coverage(plan: "GOLD", start: W.t0 + 400 * W.day, end: W.t0 + 2_600 * W.day)
        },
        Row(description: "terminate an unknown coverage", expected: .unknownCoverage) {
            $0.sign(W.agent, "claims", "terminateCoverage", ["coverage": .bytes(Hash256.sha256([1]).bytes)])
        },
        Row(description: "terminate by a hospital", expected: .notPlanPayer) {
            $0.sign(H.hospital, "claims", "terminateCoverage", ["coverage": .bytes(W.shared.goldCoverage.bytes)])
        },
        Row(description: "terminate a coverage twice", expected: .coverageEnded,
            prepare: { [$0.sign(W.agent, "claims", "terminateCoverage", ["coverage": .bytes(W.shared.goldCoverage.bytes)])] }) {
            $0.sign(W.agent, "claims", "terminateCoverage", ["coverage": .bytes(W.shared.goldCoverage.bytes)])
        },
        Row(description: "terminate retroactively", expected: .badPeriod) {
            $0.sign(W.agent, "claims", "terminateCoverage", ["coverage": .bytes(W.shared.goldCoverage.bytes), "endMs": .int(W.t0 - W.day)])
        },

        Row(description: "authorization requested by a patient", expected: .notProvider) { $0.requestMRI(by: H.patient) },
        Row(description: "authorization requested by a payer", expected: .notProvider) { $0.requestMRI(by: W.payer) },
        Row(description: "authorization for zero units", expected: .badArguments) { $0.requestMRI(quantity: 0) },
        Row(description: "decide an unknown authorization", expected: .unknownAuthorization) {
            $0.decide(Hash256.sha256([2]), approve: true)
        },
        Row(description: "authorization decided by the hospital", expected: .notPlanPayer, prepare: { [$0.requestMRI()] }) {
            $0.decide($0.history.last!.transactions[0].id, approve: true, by: H.hospital)
        },
        Row(description: "authorization decided twice", expected: .authorizationDecided, prepare: { h in
            let request = h.requestMRI()
            return [request, h.decide(request.id, approve: false)]
        }) { $0.decide($0.history.last!.transactions[0].id, approve: true) },
        Row(description: "authorization approved past a year", expected: .badPeriod, prepare: { [$0.requestMRI()] }) {
            $0.decide($0.history.last!.transactions[0].id, approve: true, until: W.t0 + 400 * W.day)
        },

        Row(description: "claim by a payer", expected: .notProvider) { $0.claim("c", [H.line(1, "99213", price: 100, day: 0)], by: W.payer) },
        Row(description: "claim by a patient", expected: .notProvider) { $0.claim("c", [H.line(1, "99213", price: 100, day: 0)], by: H.patient) },
        Row(description: "claim id submitted twice", expected: .claimExists,
            prepare: { [$0.claim("c", [H.line(1, "99213", price: 100, day: 0)])] }) {
            $0.claim("c", [H.line(1, "99213", price: 100, day: 1)])
        },
        Row(description: "claim for an unknown plan", expected: .unknownPlan) {
            $0.claim("c", [H.line(1, "99213", price: 100, day: 0)], plan: "SILVER")
        },
        Row(description: "claim for an unknown patient", expected: .unknownPatient) {
            $0.claim("c", [H.line(1, "99213", price: 100, day: 0)], patient: H.stranger.derivedID)
        },
        Row(description: "claim with no items", expected: .badArguments) { $0.claim("c", []) },
        Row(description: "claim with no diagnoses", expected: .badArguments) {
            $0.claim("c", [H.line(1, "99213", price: 100, day: 0)], diagnoses: [])
        },
        Row(description: "claim with a malformed diagnosis", expected: .badCode) {
            $0.claim("c", [H.line(1, "99213", price: 100, day: 0)], diagnoses: ["j06"])
        },
        Row(description: "claim with a malformed billing code", expected: .badCode) { $0.claim("c", [H.line(1, "992-13", price: 100, day: 0)]) },
        Row(description: "claim for a service in the future", expected: .serviceInFuture) {
            $0.claim("c", [ClaimItem(sequence: 1, code: "99213", quantity: 1, unitPriceMinor: 100, serviceMs: W.t0 + 900 * W.day, record: W.visits[0])])
        },
        Row(description: "claim with a sequence used twice", expected: .badArguments) {
            $0.claim("c", [H.line(1, "99213", price: 100, day: 0), H.line(1, "97110", price: 100, day: 1)])
        },
        Row(description: "claim with a negative price", expected: .badArguments) { $0.claim("c", [H.line(1, "99213", price: -5, day: 0)]) },
        Row(description: "claim with 10,001 units", expected: .badArguments) {
            $0.claim("c", [H.line(1, "97110", quantity: 10_001, price: 1, day: 0)])
        },
        Row(description: "claim with 51 items", expected: .badArguments) {
            $0.claim("c", (1...51).map { H.line(Int64($0), "99213", price: 1, day: 0) })
        },

        Row(description: "payment of an unknown claim", expected: .unknownClaim) { $0.pay("nope", 100) },
        Row(description: "payment by another payer", expected: .notPlanPayer,
            prepare: { [$0.claim("p", [H.line(1, "99213", price: 20_000, day: 5)])] }) { $0.pay("p", 100, by: W.otherPayer) },
        Row(description: "payment above what is owed", expected: .overpayment,
            prepare: { [$0.claim("p", [H.line(1, "99213", price: 20_000, day: 5)])] }) { $0.pay("p", 4_001) },
        Row(description: "payment of zero", expected: .badArguments,
            prepare: { [$0.claim("p", [H.line(1, "99213", price: 20_000, day: 5)])] }) { $0.pay("p", 0) },
        Row(description: "unknown method", expected: .unknownMethod) { $0.sign(W.payer, "claims", "refund", [:]) },
    ]

    @Test(arguments: rows)
    func rule(_ row: Row) { row.check(on: W.shared.h) }

    @Test func rowsAreDistinct() { #expect(Set(Self.rows.map(\.description)).count == Self.rows.count) }

    /// One line and what adjudication must make of it.
    struct LineRow: CustomStringConvertible, Sendable {
        let description: String
        var prepare: (@Sendable (inout Harness) -> [VerifiedTransaction])? = nil
        let make: @Sendable (inout Harness) -> VerifiedTransaction
        let outcome: ClaimEntry.Outcome
        /// The first line's denial reason, or nil when it was paid.
        let reason: AdjustmentReason?
        var payer: Int64? = nil
        var patient: Int64? = nil
    }

    /// Every adjudication rule, on a fresh world: the $100 deductible is not yet met.
    static let lineRows: [LineRow] = [
        LineRow(description: "office visit: contractual cut, deductible then 20 % coinsurance", make: { $0.claim("a", [H.line(1, "99213", price: 20_000, day: 6)]) },
                outcome: .paid, reason: nil, payer: 4_000, patient: 11_000),
        LineRow(description: "billed under the allowed amount is paid as billed", make: { $0.claim("a", [H.line(1, "99213", price: 12_000, day: 6)]) },
                outcome: .paid, reason: nil, payer: 1_600, patient: 10_400),
        LineRow(description: "duplicate: same provider, patient, code and day under a new claim id",
                prepare: { [$0.claim("first", [H.line(1, "99213", price: 20_000, day: 6)])] },
                make: { $0.claim("again", [H.line(1, "99213", price: 20_000, day: 6, record: W.visits[1])]) },
                outcome: .denied, reason: .duplicate, payer: 0, patient: 0),
        LineRow(description: "phantom: the documenting record does not exist", make: {
            $0.claim("a", [H.line(1, "99213", price: 20_000, day: 6, record: Hash256.sha256([0xEE]))])
        }, outcome: .denied, reason: .noDocumentingRecord, payer: 0, patient: 0),
        LineRow(description: "phantom: the record was written by another organization", make: {
            $0.claim("a", [H.line(1, "99213", price: 20_000, day: 6, record: W.clinicRecord)])
        }, outcome: .denied, reason: .noDocumentingRecord),
        LineRow(description: "phantom: the record is about another patient", make: {
            $0.claim("a", [H.line(1, "99213", price: 20_000, day: 6, record: W.otherPatientRecord)])
        }, outcome: .denied, reason: .noDocumentingRecord),
        LineRow(description: "not eligible: service before the coverage started", make: { $0.claim("a", [H.line(1, "99213", price: 20_000, day: 2)]) },
                outcome: .denied, reason: .notEligible),
        LineRow(description: "not eligible: a member id the payer did not issue the patient", make: {
            $0.claim("a", [H.line(1, "99213", price: 20_000, day: 6)], memberID: Hash256.sha256(Array("a guessed member id".utf8)))
        }, outcome: .denied, reason: .notEligible),
        LineRow(description: "not eligible: another patient billed under the patient's member id", make: {
            $0.claim("a", [H.line(1, "99213", price: 20_000, day: 6, record: W.otherPatientRecord)], patient: W.otherPatient.derivedID,
                     memberID: H.memberID(H.patientID))
        }, outcome: .denied, reason: .notEligible),
        LineRow(description: "not covered: a code outside the plan", make: { $0.claim("a", [H.line(1, "99999", price: 20_000, day: 6)]) },
                outcome: .denied, reason: .notCovered),
        LineRow(description: "diagnosis outside a plan that covers only diabetes", make: {
            $0.claim("a", [H.line(1, "99213", price: 20_000, day: 6)], plan: "NARROW", diagnoses: ["J06.9"])
        }, outcome: .denied, reason: .diagnosisNotCovered),
        LineRow(description: "diagnosis inside that plan", make: {
            $0.claim("a", [H.line(1, "99213", price: 20_000, day: 6)], plan: "NARROW", diagnoses: ["J06.9", "E11.9"])
        }, outcome: .paid, reason: nil, payer: 4_000, patient: 11_000),
        LineRow(description: "prior authorization missing", make: { $0.claim("a", [H.line(1, "70553", price: 150_000, day: 6)]) },
                outcome: .denied, reason: .priorAuthMissing),
        LineRow(description: "prior authorization denied", prepare: { h in
            let request = h.requestMRI()
            h.runAccepted([request])
            return [h.decide(request.id, approve: false)]
        }, make: { $0.claim("a", [H.line(1, "70553", price: 150_000, day: 6)]) }, outcome: .denied, reason: .priorAuthMissing),
        LineRow(description: "prior authorization approved for another provider", prepare: { h in
            let request = h.requestMRI(by: W.clinicDoctor)
            h.runAccepted([request])
            return [h.decide(request.id, approve: true)]
        }, make: { $0.claim("a", [H.line(1, "70553", price: 150_000, day: 6)]) }, outcome: .denied, reason: .priorAuthMissing),
        LineRow(description: "prior authorization approved", prepare: { h in
            let request = h.requestMRI()
            h.runAccepted([request])
            return [h.decide(request.id, approve: true)]
        }, make: { $0.claim("a", [H.line(1, "70553", price: 150_000, day: 6)]) }, outcome: .paid, reason: nil, payer: 88_000, patient: 32_000),
        LineRow(description: "prior authorization used up by an earlier claim", prepare: { h in
            let request = h.requestMRI()
            h.runAccepted([request])
            h.runAccepted([h.decide(request.id, approve: true)])
            return [h.claim("first", [H.line(1, "70553", price: 150_000, day: 6)])]
        }, make: { $0.claim("a", [H.line(1, "70553", price: 150_000, day: 7)]) }, outcome: .denied, reason: .priorAuthMissing),
        LineRow(description: "units over the period limit are cut", make: {
            $0.claim("a", [H.line(1, "97110", quantity: 15, price: 5_000, day: 6)])
        }, outcome: .partial, reason: .overLimit, payer: 40_000, patient: 20_000),
        LineRow(description: "no units left in the period", prepare: { [$0.claim("first", [H.line(1, "97110", quantity: 12, price: 5_000, day: 6)])] },
                make: { $0.claim("a", [H.line(1, "97110", quantity: 2, price: 5_000, day: 7)]) }, outcome: .denied, reason: .overLimit),
    ]

    @Test(arguments: lineRows)
    func adjudication(_ row: LineRow) throws {
        var h = W.shared.h
        if let prepare = row.prepare { h.runAccepted(prepare(&h), row.description) }
        let tx = row.make(&h)
        let result = h.run([tx])[0]
        #expect(result.isAccepted, "\(row): \(result.message)")
        let submitted = try #require(ClaimsContract.Submit(tx))
        let claim = try #require(ClaimsContract.claim(submitted.claim, in: h.state))
        #expect(claim.outcome == row.outcome, "\(row)")
        let line = try #require(claim.lines.first)
        #expect(line.adjustments.first { $0.reason.denies }?.reason == row.reason, "\(row): \(line.adjustments)")
        if let payer = row.payer { #expect(claim.payerMinor == payer, "\(row)") }
        if let patient = row.patient { #expect(claim.patientMinor == patient, "\(row)") }
        Self.checkBalances(claim)
    }

    @Test func everyReasonIsExercised() {
        var covered = Set(Self.lineRows.compactMap(\.reason))
        covered.formUnion([.contractual, .deductible, .coinsurance, .lateFiling])  // checked by scenario tests below
        #expect(covered == Set(AdjustmentReason.allCases))
    }

    /// Each line's money adds up: billed = denied + contractual + eligible, eligible = patient + payer.
    static func checkBalances(_ claim: ClaimEntry) {
        for line in claim.lines {
            let denied = line.adjustments.filter(\.reason.denies).reduce(0) { $0 + $1.amountMinor }
            let contractual = line.adjustments.filter { $0.reason == .contractual }.reduce(0) { $0 + $1.amountMinor }
            let sharing = line.adjustments.filter { $0.reason == .deductible || $0.reason == .coinsurance }.reduce(0) { $0 + $1.amountMinor }
            #expect(line.submittedMinor == denied + contractual + line.eligibleMinor)
            #expect(line.eligibleMinor == line.patientMinor + line.payerMinor)
            #expect(sharing == line.patientMinor)
            #expect(line.payerMinor >= 0 && line.patientMinor >= 0)
        }
    }

    /// Issue 13, finding 1: an enrollment told every node which patient a payer covers. Now
    /// neither the enrolling transaction nor anything it writes names the patient, and a claim
    /// finds the coverage only with the member id the payer issued.
    @Test func enrollmentNamesNoPatientOnTheSharedChain() throws {
        var h = W.shared.h
        let patient = W.otherPatient.derivedID
        let before = h.state.values
        let enroll = h.coverage(plan: "GOLD", start: W.coverageStart, end: W.t0 + 365 * W.day, patient: patient)
        h.runAccepted([enroll], "enroll")
        let written = h.state.values.filter { before[$0.key] != $0.value }
        #expect(!written.isEmpty)
        func names(_ bytes: [UInt8]) -> Bool {
            let id = patient.bytes, hex = Array(patient.hex.utf8)
            return [id, hex].contains { needle in bytes.indices.contains { bytes[$0...].starts(with: needle) } }
        }
        #expect(!names(enroll.transaction.bytes), "the transaction names the patient")
        for (key, value) in written { #expect(!names(Array(key.utf8)) && !names(value), "\(key) names the patient") }
        let coverage = try #require(ClaimsContract.coverage(enroll.id, in: h.state))
        #expect(coverage.member == ClaimsContract.memberKey(patient: patient, memberID: Harness.memberID(patient)))
        #expect(ClaimsContract.coverages(member: coverage.member, plan: "GOLD", in: h.state).map(\.id) == [enroll.id])

        h.runAccepted([h.claim("theirs", [H.line(1, "99213", price: 20_000, day: 6, record: W.otherPatientRecord)], patient: patient)])
        #expect(h.storedClaim("theirs")?.outcome == .paid)
        #expect(h.storedClaim("theirs")?.coverage == enroll.id)
    }

    /// A year of visits: the deductible is met once, coinsurance follows, the out-of-pocket
    /// maximum caps the patient; payments settle each claim.
    @Test func deductibleCoinsuranceAndOutOfPocketAcrossClaims() throws {
        var h = W.shared.h
        h.runAccepted([h.claim("v1", [H.line(1, "99213", price: 20_000, day: 5)])])
        var first = try #require(h.storedClaim("v1"))
        #expect(first.outcome == .paid && first.payerMinor == 4_000 && first.patientMinor == 11_000)
        #expect(first.lines[0].adjustments.map(\.reason) == [.contractual, .deductible, .coinsurance])
        #expect(first.lines[0].adjustments.map(\.amountMinor) == [5_000, 10_000, 1_000])

        // Deductible met: 20 % of 150.00.
        h.runAccepted([h.claim("v2", [H.line(1, "99213", price: 15_000, day: 6), H.line(2, "97110", quantity: 4, price: 5_000, day: 6)])])
        let second = try #require(h.storedClaim("v2"))
        #expect(second.lines.map(\.patientMinor) == [3_000, 4_000])
        #expect(second.payerMinor == 12_000 + 16_000)

        // An MRI: 3 × 1,200.00, 20 % coinsurance = 720.00, which fits under 1,000.00 − 180.00 paid so far.
        let request = h.requestMRI(quantity: 3)
        h.runAccepted([request])
        h.runAccepted([h.decide(request.id, approve: true)])
        h.runAccepted([h.claim("mri", [H.line(1, "70553", quantity: 3, price: 120_000, day: 7)])])
        let mri = try #require(h.storedClaim("mri"))
        #expect(mri.patientMinor == 72_000 && mri.payerMinor == 288_000)
        let coverage = try #require(ClaimsContract.coverage(W.shared.goldCoverage, in: h.state))
        #expect(coverage.outOfPocketMinor == 90_000)
        #expect(coverage.deductibleMetMinor == 10_000)
        #expect(coverage.unitsUsed == ["99213": 2, "97110": 4, "70553": 3])

        // 8 more therapy units: 80.00 coinsurance leaves 20.00 under the cap; the next visit's
        // 30.00 coinsurance is cut to 20.00 and the payer pays the rest.
        h.runAccepted([h.claim("v3", [H.line(1, "97110", quantity: 8, price: 5_000, day: 7)])])
        let v3 = try #require(h.storedClaim("v3"))
        #expect(v3.patientMinor == 8_000 && v3.payerMinor == 32_000)
        h.runAccepted([h.claim("v4", [H.line(1, "99213", price: 15_000, day: 7)])])
        let v4 = try #require(h.storedClaim("v4"))
        #expect(v4.patientMinor == 2_000 && v4.payerMinor == 13_000)
        let final = try #require(ClaimsContract.coverage(W.shared.goldCoverage, in: h.state))
        #expect(final.outOfPocketMinor == 100_000)
        h.runAccepted([h.claim("v5", [H.line(1, "99213", price: 15_000, day: 5, record: W.visits[4])], diagnoses: ["J06.9"])])
        let v5 = try #require(h.storedClaim("v5"))
        #expect(v5.outcome == .denied && v5.lines[0].adjustments.map(\.reason) == [.duplicate])  // same code and day as v1
        for name in ["v1", "v2", "mri", "v3", "v4", "v5"] { Self.checkBalances(try #require(h.storedClaim(name))) }

        // Payment in two parts, then nothing more.
        h.runAccepted([h.pay("v1", 1_000)])
        h.runAccepted([h.pay("v1", 3_000)])
        first = try #require(h.storedClaim("v1"))
        #expect(first.paidMinor == 4_000 && first.payments.count == 2)
        #expect(h.run([h.pay("v1", 1)])[0].code == ResultCode.overpayment.rawValue)
    }

    /// A service filed more than 365 days after it happened is denied for late filing.
    @Test func lateFiling() throws {
        var h = W.shared.h
        h.timeBaseMs += 380 * W.day
        h.runAccepted([h.coverage(plan: "GOLD", start: W.t0 + 365 * W.day, end: W.t0 + 700 * W.day)])
        h.runAccepted([h.claim("late", [H.line(1, "99213", price: 15_000, day: 6)])])
        let claim = try #require(h.storedClaim("late"))
        #expect(claim.outcome == .denied && claim.lines[0].adjustments.map(\.reason) == [.lateFiling])
    }

    /// A claim with one good and one phantom line pays the good one, and a corrected resubmission
    /// of the phantom line is not treated as a duplicate.
    @Test func partialClaimAndCorrection() throws {
        var h = W.shared.h
        h.runAccepted([h.claim("mix", [H.line(1, "99213", price: 15_000, day: 5),
                                       H.line(2, "97110", price: 5_000, day: 6, record: Hash256.sha256([0xEE]))])])
        let mix = try #require(h.storedClaim("mix"))
        #expect(mix.outcome == .partial)
        #expect(mix.lines[1].adjustments.map(\.reason) == [.noDocumentingRecord])
        h.runAccepted([h.claim("fixed", [H.line(1, "97110", price: 5_000, day: 6)])])
        let fixed = try #require(h.storedClaim("fixed"))
        #expect(fixed.outcome == .paid)
    }

    /// Random claims keep every invariant: balances add up, accumulators never pass the plan's
    /// limits, and the same blocks on a second harness give the same state.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func invariantsHoldForRandomClaims(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var a = W.shared.h
        var b = W.shared.h
        let codes = ["99213", "97110", "70553", "99999"]
        for n in 0..<30 {
            let items = (1...Int.random(in: 1...4, using: &rng)).map { i in
                H.line(Int64(i), codes[Int.random(in: 0..<codes.count, using: &rng)], quantity: Int64.random(in: 1...6, using: &rng),
                       price: Int64.random(in: 0...200_000, using: &rng), day: Int.random(in: 0..<8, using: &rng))
            }
            let tx = a.claim("r\(n)", items, diagnoses: [["J06.9"], ["E11.9"]][Int.random(in: 0...1, using: &rng)])
            #expect(a.run([tx]) == b.run([tx]))
            let claim = try #require(a.storedClaim("r\(n)"))
            Self.checkBalances(claim)
        }
        let coverage = try #require(ClaimsContract.coverage(W.shared.goldCoverage, in: a.state))
        #expect(coverage.outOfPocketMinor <= 100_000 && coverage.deductibleMetMinor <= 10_000)
        #expect((coverage.unitsUsed["97110"] ?? 0) <= 12)
        #expect(a.stateRoot == b.stateRoot)
    }
}
