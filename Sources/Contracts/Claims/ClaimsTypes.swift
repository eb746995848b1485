public import LedgerCore

/// What a plan pays for one billing code (CPT/HCPCS): the allowed amount per unit, an optional
/// limit on units per coverage period, and whether the service needs prior authorization.
public struct Benefit: StoredValue, Equatable {
    public var code: String
    /// Allowed amount per unit, in minor units (cents).
    public var allowedMinor: Int64
    /// Most units per coverage period; nil means no limit.
    public var unitsPerPeriod: Int64?
    public var needsPriorAuth: Bool

    public init(code: String, allowedMinor: Int64, unitsPerPeriod: Int64? = nil, needsPriorAuth: Bool = false) {
        (self.code, self.allowedMinor, self.unitsPerPeriod, self.needsPriorAuth) = (code, allowedMinor, unitsPerPeriod, needsPriorAuth)
    }
}

/// A payer's health plan: covered codes with allowed amounts, cost sharing, and the diagnoses it
/// covers. Cost sharing accumulates per coverage period.
public struct Plan: StoredValue, Equatable {
    /// From the state key.
    public var id: String = ""
    public var payer: IdentityID
    /// ISO 4217 code of every amount, e.g. "USD".
    public var currency: String
    public var deductibleMinor: Int64
    /// Patient's share after the deductible, in basis points (2000 = 20 %).
    public var coinsuranceBasisPoints: Int64
    public var outOfPocketMaxMinor: Int64
    /// Benefits sorted by code.
    public var benefits: [Benefit]
    /// ICD-10 code prefixes the plan covers (e.g. "E11"); empty means every diagnosis.
    public var diagnosisPrefixes: [String]
    public var height: UInt64

    /// The benefit for a billing code, if covered.
    public func benefit(_ code: String) -> Benefit? { benefits.first { $0.code == code } }

    /// True if at least one of the diagnoses is covered (or the plan covers every diagnosis).
    public func coversDiagnoses(_ diagnoses: [String]) -> Bool {
        diagnosisPrefixes.isEmpty || diagnoses.contains { code in diagnosisPrefixes.contains { code.hasPrefix($0) } }
    }

    init(id: String, payer: IdentityID, currency: String, deductibleMinor: Int64, coinsuranceBasisPoints: Int64, outOfPocketMaxMinor: Int64,
         benefits: [Benefit], diagnosisPrefixes: [String], height: UInt64) {
        self.id = id
        self.payer = payer
        self.currency = currency
        self.deductibleMinor = deductibleMinor
        self.coinsuranceBasisPoints = coinsuranceBasisPoints
        self.outOfPocketMaxMinor = outOfPocketMaxMinor
        self.benefits = benefits.sorted { $0.code < $1.code }
        self.diagnosisPrefixes = diagnosisPrefixes.sorted()
        self.height = height
    }
}

/// A member's enrollment in a plan for a period, with the period's cost-sharing accumulators.
/// The member is named by member key only (`ClaimsContract.memberKey`), never by patient.
public struct Coverage: StoredValue, Equatable {
    /// The id of the enrolling transaction (the state key).
    public var id: Hash256 = .zero
    public var member: Hash256
    public var plan: String
    public var startMs: Int64
    /// Exclusive end of the coverage period.
    public var endMs: Int64
    /// Deductible the patient has paid in this period.
    public var deductibleMetMinor: Int64 = 0
    /// Everything the patient has paid in this period (deductible + coinsurance).
    public var outOfPocketMinor: Int64 = 0
    /// Units used per code in this period, for `Benefit.unitsPerPeriod`.
    public var unitsUsed: [String: Int64] = [:]
    /// Set when the payer ended the coverage early.
    public var terminatedMs: Int64?

    /// True if the coverage is in force at `ms`.
    public func isActive(at ms: Int64) -> Bool { ms >= startMs && ms < min(endMs, terminatedMs ?? .max) }
}

/// A prior-authorization request and the payer's decision on it.
public struct PriorAuthorization: StoredValue, Equatable {
    /// Where a request stands.
    public enum Status: String, Sendable, Codable { case pending, approved, denied }

    /// From the state key.
    public var id: Hash256 = .zero
    public var patient: IdentityID
    public var plan: String
    /// The requesting provider organization.
    public var provider: IdentityID
    public var code: String
    public var quantity: Int64
    public var status: Status = .pending
    /// Units approved and still unused.
    public var remaining: Int64 = 0
    /// End (exclusive) of the approval's validity, by service date.
    public var validUntilMs: Int64?
    /// Why the payer denied it, when it did.
    public var denialReason: String?
    public var height: UInt64
}

/// Why an amount was adjusted, with its X12 Claim Adjustment Reason Code (CARC), which is what
/// the FHIR ClaimResponse carries.
public enum AdjustmentReason: String, Sendable, CaseIterable, Codable {
    case notEligible = "not-eligible"
    case lateFiling = "late-filing"
    case notCovered = "not-covered"
    case diagnosisNotCovered = "diagnosis-not-covered"
    case priorAuthMissing = "prior-auth-missing"
    case duplicate
    case noDocumentingRecord = "no-documenting-record"
    case overLimit = "over-limit"
    case contractual
    case deductible
    case coinsurance

    /// The X12 CARC code.
    public var carc: String {
        switch self {
        case .notEligible: "27"
        case .lateFiling: "29"
        case .notCovered: "96"
        case .diagnosisNotCovered: "11"
        case .priorAuthMissing: "197"
        case .duplicate: "18"
        case .noDocumentingRecord: "16"
        case .overLimit: "119"
        case .contractual: "45"
        case .deductible: "1"
        case .coinsurance: "2"
        }
    }

    /// A readable explanation for a ClaimResponse.
    public var text: String {
        switch self {
        case .notEligible: "no coverage in force on the date of service"
        case .lateFiling: "submitted after the timely filing limit of 365 days"
        case .notCovered: "the plan does not cover this service"
        case .diagnosisNotCovered: "the plan covers none of the claim's diagnoses"
        case .priorAuthMissing: "the service needs an approved prior authorization with units left"
        case .duplicate: "the same service was already claimed by this provider for this patient and date"
        case .noDocumentingRecord: "no on-chain record by this provider documents the service before the claim (phantom billing)"
        case .overLimit: "units over the plan's limit for the coverage period"
        case .contractual: "billed above the plan's allowed amount"
        case .deductible: "applied to the deductible"
        case .coinsurance: "patient coinsurance"
        }
    }

    /// True for reasons that deny payment for the units they apply to (as opposed to cost sharing).
    public var denies: Bool {
        switch self {
        case .contractual, .deductible, .coinsurance: false
        default: true
        }
    }
}

/// One adjustment of a claim line: the reason and the amount (and units, for denials) it takes.
public struct Adjustment: StoredValue, Equatable {
    public var reason: AdjustmentReason
    public var amountMinor: Int64
    public var units: Int64

    init(_ reason: AdjustmentReason, amountMinor: Int64, units: Int64 = 0) {
        (self.reason, self.amountMinor, self.units) = (reason, amountMinor, units)
    }
}

/// A claim line as submitted: a billed service and the record that documents it.
public struct ClaimItem: Sendable, Equatable {
    public var sequence: Int64
    public var code: String
    public var quantity: Int64
    public var unitPriceMinor: Int64
    public var serviceMs: Int64
    /// The on-chain record that documents the service.
    public var record: Hash256

    public init(sequence: Int64, code: String, quantity: Int64, unitPriceMinor: Int64, serviceMs: Int64, record: Hash256) {
        (self.sequence, self.code, self.quantity, self.unitPriceMinor, self.serviceMs, self.record) =
            (sequence, code, quantity, unitPriceMinor, serviceMs, record)
    }

    /// Billed amount: quantity × unit price.
    public var billedMinor: Int64 { quantity * unitPriceMinor }
}

/// The adjudication of one claim line (a ClaimResponse item).
public struct LineAdjudication: StoredValue, Equatable {
    public var sequence: Int64
    public var submittedMinor: Int64
    /// Allowed amount for the units that were not denied.
    public var eligibleMinor: Int64
    public var unitsAllowed: Int64
    public var patientMinor: Int64
    public var payerMinor: Int64
    public var adjustments: [Adjustment]
}

/// A submitted claim with its adjudication (the ClaimResponse) and the payments made against it.
public struct ClaimEntry: StoredValue, Equatable {
    /// How the claim came out.
    public enum Outcome: String, Sendable, Codable { case paid, partial, denied }

    /// From the state key.
    public var id: Hash256 = .zero
    public var patient: IdentityID
    /// The billing provider organization.
    public var provider: IdentityID
    /// Who submitted it (the organization or one of its members).
    public var submitter: IdentityID
    public var plan: String
    public var coverage: Hash256?
    /// SHA-256 of the FHIR Claim the provider holds off-chain.
    public var claimHash: Hash256
    public var diagnoses: [String]
    public var items: [ClaimItem]
    public var lines: [LineAdjudication]
    public var outcome: Outcome
    public var paidMinor: Int64 = 0
    public var payments: [Payment] = []
    public var height: UInt64
    public var timeMs: Int64

    /// What the payer owes in total.
    public var payerMinor: Int64 { lines.reduce(0) { $0 + $1.payerMinor } }
    /// What the patient owes in total.
    public var patientMinor: Int64 { lines.reduce(0) { $0 + $1.patientMinor } }
    /// Total billed.
    public var submittedMinor: Int64 { lines.reduce(0) { $0 + $1.submittedMinor } }
    /// Total allowed.
    public var eligibleMinor: Int64 { lines.reduce(0) { $0 + $1.eligibleMinor } }
}

/// A payment the payer recorded against a claim.
public struct Payment: StoredValue, Equatable {
    public var amountMinor: Int64
    /// SHA-256 of the remittance (e.g. the EFT trace), off-chain.
    public var reference: Hash256
    public var height: UInt64
    public var timeMs: Int64
}

/// A claim line is submitted in the form it is stored in.
extension ClaimItem: Codable, CanonicalValidated {
    private enum CodingKeys: String, CodingKey {
        case sequence, code, quantity, unitPriceMinor = "unitPrice", serviceMs, record
    }

    /// A claim line decoded by hand (`ClaimsContract.Submit.decodedByHand`): exactly its six keys
    /// with their types, valid; nil for anything else.
    static func decodedByHand(_ value: CanonicalValue) -> ClaimItem? {
        guard let map = value.mapValue, map.count == 6, let sequence = map[CodingKeys.sequence.stringValue]?.intValue,
              let code = map[CodingKeys.code.stringValue]?.stringValue, let quantity = map[CodingKeys.quantity.stringValue]?.intValue,
              let unitPrice = map[CodingKeys.unitPriceMinor.stringValue]?.intValue,
              let serviceMs = map[CodingKeys.serviceMs.stringValue]?.intValue, let record = map[CodingKeys.record.stringValue]?.digestValue
        else { return nil }
        let item = ClaimItem(sequence: sequence, code: code, quantity: quantity, unitPriceMinor: unitPrice, serviceMs: serviceMs, record: record)
        do { try item.validate() } catch { return nil }
        return item
    }

    public func validate() throws(Rejection) {
        try Check.int(sequence, CodingKeys.sequence, in: 1...Int64(ClaimsContract.itemsMax * 10))
        try ClaimsContract.checkCode(code, CodingKeys.code)
        try Check.int(quantity, CodingKeys.quantity, in: 1...ClaimsContract.quantityMax)
        try Check.int(unitPriceMinor, CodingKeys.unitPriceMinor, in: 0...ClaimsContract.amountMax)
        try Check.int(serviceMs, CodingKeys.serviceMs, in: 0...Int64.max / 4)
    }
}

// MARK: Stored forms (keys as the chain stores them)

extension Benefit {
    private enum CodingKeys: String, CodingKey {
        case code, allowedMinor = "allowed", unitsPerPeriod, needsPriorAuth = "priorAuth"
    }
}

extension Plan {
    private enum CodingKeys: String, CodingKey {
        case payer, currency, deductibleMinor = "deductible", coinsuranceBasisPoints = "coinsurance", outOfPocketMaxMinor = "oopMax"
        case benefits, diagnosisPrefixes = "diagnoses", height
    }
}

extension Coverage {
    private enum CodingKeys: String, CodingKey {
        case member, plan, startMs, endMs, deductibleMetMinor = "deductibleMet", outOfPocketMinor = "outOfPocket", unitsUsed, terminatedMs
    }
}

extension PriorAuthorization {
    private enum CodingKeys: String, CodingKey {
        case patient, plan, provider, code, quantity, status, remaining, validUntilMs, denialReason, height
    }
}

extension Adjustment {
    private enum CodingKeys: String, CodingKey { case reason, amountMinor = "amount", units }
}

extension LineAdjudication {
    private enum CodingKeys: String, CodingKey {
        case sequence, submittedMinor = "submitted", eligibleMinor = "eligible", unitsAllowed, patientMinor = "patient"
        case payerMinor = "payer", adjustments
    }
}

extension ClaimEntry {
    private enum CodingKeys: String, CodingKey {
        case patient, provider, submitter, plan, coverage, claimHash, diagnoses, items, lines, outcome, paidMinor = "paid", payments
        case height, timeMs
    }
}

extension Payment {
    private enum CodingKeys: String, CodingKey { case amountMinor = "amount", reference, height, timeMs }
}

// MARK: Hand-written writers (every claim writes a claim and a coverage)

// Each writes its map's entries in canonical key order (UTF-8 bytes of the `CodingKeys` strings
// above), optionals only when set, exactly as `CanonicalEncoder` does; `HandWrittenStoredValueTests`
// compares the bytes.

extension Coverage: HandWrittenStoredValue {
    func writeCanonical(to writer: inout CanonicalWriter) -> Bool {
        writer.writeMapHeader(count: terminatedMs == nil ? 7 : 8)
        writer.writeMapKey(CodingKeys.deductibleMetMinor); writer.write(int: deductibleMetMinor)
        writer.writeMapKey(CodingKeys.endMs); writer.write(int: endMs)
        writer.writeMapKey(CodingKeys.member); writer.write(hash: member)
        writer.writeMapKey(CodingKeys.outOfPocketMinor); writer.write(int: outOfPocketMinor)
        writer.writeMapKey(CodingKeys.plan); writer.write(string: plan)
        writer.writeMapKey(CodingKeys.startMs); writer.write(int: startMs)
        if let terminatedMs { writer.writeMapKey(CodingKeys.terminatedMs); writer.write(int: terminatedMs) }
        writer.writeMapKey(CodingKeys.unitsUsed); writer.write(intMap: unitsUsed)
        return true
    }
}

extension ClaimEntry: HandWrittenStoredValue {
    func writeCanonical(to writer: inout CanonicalWriter) -> Bool {
        writer.writeMapHeader(count: coverage == nil ? 13 : 14)
        writer.writeMapKey(CodingKeys.claimHash); writer.write(hash: claimHash)
        if let coverage { writer.writeMapKey(CodingKeys.coverage); writer.write(hash: coverage) }
        writer.writeMapKey(CodingKeys.diagnoses); writer.write(strings: diagnoses)
        writer.writeMapKey(CodingKeys.height)
        guard writer.write(exactly: height) else { return false }
        writer.writeMapKey(CodingKeys.items)
        writer.writeListHeader(count: items.count)
        for item in items { item.writeCanonical(to: &writer) }
        writer.writeMapKey(CodingKeys.lines)
        writer.writeListHeader(count: lines.count)
        for line in lines { line.writeCanonical(to: &writer) }
        writer.writeMapKey(CodingKeys.outcome); writer.write(string: outcome.rawValue)
        writer.writeMapKey(CodingKeys.paidMinor); writer.write(int: paidMinor)
        writer.writeMapKey(CodingKeys.patient); writer.write(hash: patient)
        writer.writeMapKey(CodingKeys.payments)
        writer.writeListHeader(count: payments.count)
        for payment in payments { guard payment.writeCanonical(to: &writer) else { return false } }
        writer.writeMapKey(CodingKeys.plan); writer.write(string: plan)
        writer.writeMapKey(CodingKeys.provider); writer.write(hash: provider)
        writer.writeMapKey(CodingKeys.submitter); writer.write(hash: submitter)
        writer.writeMapKey(CodingKeys.timeMs); writer.write(int: timeMs)
        return true
    }
}

extension ClaimItem {
    func writeCanonical(to writer: inout CanonicalWriter) {
        writer.writeMapHeader(count: 6)
        writer.writeMapKey(CodingKeys.code); writer.write(string: code)
        writer.writeMapKey(CodingKeys.quantity); writer.write(int: quantity)
        writer.writeMapKey(CodingKeys.record); writer.write(hash: record)
        writer.writeMapKey(CodingKeys.sequence); writer.write(int: sequence)
        writer.writeMapKey(CodingKeys.serviceMs); writer.write(int: serviceMs)
        writer.writeMapKey(CodingKeys.unitPriceMinor); writer.write(int: unitPriceMinor)
    }
}

extension LineAdjudication {
    func writeCanonical(to writer: inout CanonicalWriter) {
        writer.writeMapHeader(count: 7)
        writer.writeMapKey(CodingKeys.adjustments)
        writer.writeListHeader(count: adjustments.count)
        for adjustment in adjustments { adjustment.writeCanonical(to: &writer) }
        writer.writeMapKey(CodingKeys.eligibleMinor); writer.write(int: eligibleMinor)
        writer.writeMapKey(CodingKeys.patientMinor); writer.write(int: patientMinor)
        writer.writeMapKey(CodingKeys.payerMinor); writer.write(int: payerMinor)
        writer.writeMapKey(CodingKeys.sequence); writer.write(int: sequence)
        writer.writeMapKey(CodingKeys.submittedMinor); writer.write(int: submittedMinor)
        writer.writeMapKey(CodingKeys.unitsAllowed); writer.write(int: unitsAllowed)
    }
}

extension Adjustment {
    func writeCanonical(to writer: inout CanonicalWriter) {
        writer.writeMapHeader(count: 3)
        writer.writeMapKey(CodingKeys.amountMinor); writer.write(int: amountMinor)
        writer.writeMapKey(CodingKeys.reason); writer.write(string: reason.rawValue)
        writer.writeMapKey(CodingKeys.units); writer.write(int: units)
    }
}

extension Payment {
    func writeCanonical(to writer: inout CanonicalWriter) -> Bool {
        writer.writeMapHeader(count: 4)
        writer.writeMapKey(CodingKeys.amountMinor); writer.write(int: amountMinor)
        writer.writeMapKey(CodingKeys.height)
        guard writer.write(exactly: height) else { return false }
        writer.writeMapKey(CodingKeys.reference); writer.write(hash: reference)
        writer.writeMapKey(CodingKeys.timeMs); writer.write(int: timeMs)
        return true
    }
}
