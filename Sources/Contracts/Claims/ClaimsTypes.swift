public import LedgerCore

/// What a plan pays for one billing code (CPT/HCPCS): the allowed amount per unit, an optional
/// limit on units per coverage period, and whether the service needs prior authorization.
public struct Benefit: Sendable, Equatable {
    public var code: String
    /// Allowed amount per unit, in minor units (cents).
    public var allowedMinor: Int64
    /// Most units per coverage period; nil means no limit.
    public var unitsPerPeriod: Int64?
    public var needsPriorAuth: Bool

    public init(code: String, allowedMinor: Int64, unitsPerPeriod: Int64? = nil, needsPriorAuth: Bool = false) {
        self.code = code
        self.allowedMinor = allowedMinor
        self.unitsPerPeriod = unitsPerPeriod
        self.needsPriorAuth = needsPriorAuth
    }

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = ["code": .string(code), "allowed": .int(allowedMinor), "priorAuth": .bool(needsPriorAuth)]
        if let unitsPerPeriod { map["unitsPerPeriod"] = .int(unitsPerPeriod) }
        return .map(map)
    }

    init?(canonical value: CanonicalValue) {
        guard let code = value["code"]?.stringValue, let allowed = value["allowed"]?.intValue,
              let priorAuth = value["priorAuth"]?.boolValue else { return nil }
        self.init(code: code, allowedMinor: allowed, unitsPerPeriod: value["unitsPerPeriod"]?.intValue, needsPriorAuth: priorAuth)
    }
}

/// A payer's health plan: covered codes with allowed amounts, cost sharing, and the diagnoses it
/// covers. Cost sharing accumulates per coverage period.
public struct Plan: Sendable, Equatable {
    public var id: String
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

    var canonical: CanonicalValue {
        .map([
            "payer": .bytes(payer.bytes), "currency": .string(currency), "deductible": .int(deductibleMinor),
            "coinsurance": .int(coinsuranceBasisPoints), "oopMax": .int(outOfPocketMaxMinor),
            "benefits": .list(benefits.map(\.canonical)), "diagnoses": .list(diagnosisPrefixes.map { .string($0) }),
            "height": .int(Int64(height)),
        ])
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

    init?(id: String, canonical value: CanonicalValue) {
        guard let payer = value["payer"]?.bytesValue.flatMap({ Hash256(bytes: $0) }), let currency = value["currency"]?.stringValue,
              let deductible = value["deductible"]?.intValue, let coinsurance = value["coinsurance"]?.intValue,
              let oopMax = value["oopMax"]?.intValue, let benefits = value["benefits"]?.listValue,
              let diagnoses = value["diagnoses"]?.listValue, let height = value["height"]?.intValue else { return nil }
        self.init(id: id, payer: payer, currency: currency, deductibleMinor: deductible, coinsuranceBasisPoints: coinsurance,
                  outOfPocketMaxMinor: oopMax, benefits: benefits.compactMap(Benefit.init(canonical:)),
                  diagnosisPrefixes: diagnoses.compactMap(\.stringValue), height: UInt64(height))
    }
}

/// A patient's enrollment in a plan for a period, with the period's cost-sharing accumulators.
public struct Coverage: Sendable, Equatable {
    /// The id of the enrolling transaction.
    public var id: Hash256
    public var patient: IdentityID
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

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = [
            "patient": .bytes(patient.bytes), "plan": .string(plan), "startMs": .int(startMs), "endMs": .int(endMs),
            "deductibleMet": .int(deductibleMetMinor), "outOfPocket": .int(outOfPocketMinor),
            "unitsUsed": .map(unitsUsed.mapValues { .int($0) }),
        ]
        if let terminatedMs { map["terminatedMs"] = .int(terminatedMs) }
        return .map(map)
    }

    init(id: Hash256, patient: IdentityID, plan: String, startMs: Int64, endMs: Int64) {
        self.id = id
        self.patient = patient
        self.plan = plan
        self.startMs = startMs
        self.endMs = endMs
    }

    init?(id: Hash256, canonical value: CanonicalValue) {
        guard let patient = value["patient"]?.bytesValue.flatMap({ Hash256(bytes: $0) }), let plan = value["plan"]?.stringValue,
              let startMs = value["startMs"]?.intValue, let endMs = value["endMs"]?.intValue,
              let deductible = value["deductibleMet"]?.intValue, let oop = value["outOfPocket"]?.intValue,
              let units = value["unitsUsed"]?.mapValue else { return nil }
        self.init(id: id, patient: patient, plan: plan, startMs: startMs, endMs: endMs)
        deductibleMetMinor = deductible
        outOfPocketMinor = oop
        unitsUsed = units.compactMapValues(\.intValue)
        terminatedMs = value["terminatedMs"]?.intValue
    }
}

/// A prior-authorization request and the payer's decision on it.
public struct PriorAuthorization: Sendable, Equatable {
    /// Where a request stands.
    public enum Status: String, Sendable { case pending, approved, denied }

    public var id: Hash256
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

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = [
            "patient": .bytes(patient.bytes), "plan": .string(plan), "provider": .bytes(provider.bytes), "code": .string(code),
            "quantity": .int(quantity), "status": .string(status.rawValue), "remaining": .int(remaining), "height": .int(Int64(height)),
        ]
        if let validUntilMs { map["validUntilMs"] = .int(validUntilMs) }
        if let denialReason { map["denialReason"] = .string(denialReason) }
        return .map(map)
    }

    init(id: Hash256, patient: IdentityID, plan: String, provider: IdentityID, code: String, quantity: Int64, height: UInt64) {
        self.id = id
        self.patient = patient
        self.plan = plan
        self.provider = provider
        self.code = code
        self.quantity = quantity
        self.height = height
    }

    init?(id: Hash256, canonical value: CanonicalValue) {
        guard let patient = value["patient"]?.bytesValue.flatMap({ Hash256(bytes: $0) }), let plan = value["plan"]?.stringValue,
              let provider = value["provider"]?.bytesValue.flatMap({ Hash256(bytes: $0) }), let code = value["code"]?.stringValue,
              let quantity = value["quantity"]?.intValue, let status = value["status"]?.stringValue.flatMap(Status.init(rawValue:)),
              let remaining = value["remaining"]?.intValue, let height = value["height"]?.intValue else { return nil }
        self.init(id: id, patient: patient, plan: plan, provider: provider, code: code, quantity: quantity, height: UInt64(height))
        self.status = status
        self.remaining = remaining
        validUntilMs = value["validUntilMs"]?.intValue
        denialReason = value["denialReason"]?.stringValue
    }
}

/// Why an amount was adjusted, with its X12 Claim Adjustment Reason Code (CARC), which is what
/// the FHIR ClaimResponse carries.
public enum AdjustmentReason: String, Sendable, CaseIterable {
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
public struct Adjustment: Sendable, Equatable {
    public var reason: AdjustmentReason
    public var amountMinor: Int64
    public var units: Int64

    var canonical: CanonicalValue { .map(["reason": .string(reason.rawValue), "amount": .int(amountMinor), "units": .int(units)]) }

    init(_ reason: AdjustmentReason, amountMinor: Int64, units: Int64 = 0) {
        self.reason = reason
        self.amountMinor = amountMinor
        self.units = units
    }

    init?(canonical value: CanonicalValue) {
        guard let reason = value["reason"]?.stringValue.flatMap(AdjustmentReason.init(rawValue:)),
              let amount = value["amount"]?.intValue, let units = value["units"]?.intValue else { return nil }
        self.init(reason, amountMinor: amount, units: units)
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
        self.sequence = sequence
        self.code = code
        self.quantity = quantity
        self.unitPriceMinor = unitPriceMinor
        self.serviceMs = serviceMs
        self.record = record
    }

    /// Billed amount: quantity × unit price.
    public var billedMinor: Int64 { quantity * unitPriceMinor }

    var canonical: CanonicalValue {
        .map(["sequence": .int(sequence), "code": .string(code), "quantity": .int(quantity), "unitPrice": .int(unitPriceMinor),
              "serviceMs": .int(serviceMs), "record": .bytes(record.bytes)])
    }

    init?(canonical value: CanonicalValue) {
        guard let sequence = value["sequence"]?.intValue, let code = value["code"]?.stringValue,
              let quantity = value["quantity"]?.intValue, let price = value["unitPrice"]?.intValue,
              let serviceMs = value["serviceMs"]?.intValue, let record = value["record"]?.bytesValue.flatMap({ Hash256(bytes: $0) })
        else { return nil }
        self.init(sequence: sequence, code: code, quantity: quantity, unitPriceMinor: price, serviceMs: serviceMs, record: record)
    }
}

/// The adjudication of one claim line (a ClaimResponse item).
public struct LineAdjudication: Sendable, Equatable {
    public var sequence: Int64
    public var submittedMinor: Int64
    /// Allowed amount for the units that were not denied.
    public var eligibleMinor: Int64
    public var unitsAllowed: Int64
    public var patientMinor: Int64
    public var payerMinor: Int64
    public var adjustments: [Adjustment]

    var canonical: CanonicalValue {
        .map(["sequence": .int(sequence), "submitted": .int(submittedMinor), "eligible": .int(eligibleMinor),
              "unitsAllowed": .int(unitsAllowed), "patient": .int(patientMinor), "payer": .int(payerMinor),
              "adjustments": .list(adjustments.map(\.canonical))])
    }

    init(sequence: Int64, submittedMinor: Int64, eligibleMinor: Int64, unitsAllowed: Int64, patientMinor: Int64, payerMinor: Int64,
         adjustments: [Adjustment]) {
        self.sequence = sequence
        self.submittedMinor = submittedMinor
        self.eligibleMinor = eligibleMinor
        self.unitsAllowed = unitsAllowed
        self.patientMinor = patientMinor
        self.payerMinor = payerMinor
        self.adjustments = adjustments
    }

    init?(canonical value: CanonicalValue) {
        guard let sequence = value["sequence"]?.intValue, let submitted = value["submitted"]?.intValue,
              let eligible = value["eligible"]?.intValue, let units = value["unitsAllowed"]?.intValue,
              let patient = value["patient"]?.intValue, let payer = value["payer"]?.intValue,
              let adjustments = value["adjustments"]?.listValue else { return nil }
        self.init(sequence: sequence, submittedMinor: submitted, eligibleMinor: eligible, unitsAllowed: units, patientMinor: patient,
                  payerMinor: payer, adjustments: adjustments.compactMap(Adjustment.init(canonical:)))
    }
}

/// A submitted claim with its adjudication (the ClaimResponse) and the payments made against it.
public struct ClaimEntry: Sendable, Equatable {
    /// How the claim came out.
    public enum Outcome: String, Sendable { case paid, partial, denied }

    public var id: Hash256
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

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = [
            "patient": .bytes(patient.bytes), "provider": .bytes(provider.bytes), "submitter": .bytes(submitter.bytes),
            "plan": .string(plan), "claimHash": .bytes(claimHash.bytes), "diagnoses": .list(diagnoses.map { .string($0) }),
            "items": .list(items.map(\.canonical)), "lines": .list(lines.map(\.canonical)), "outcome": .string(outcome.rawValue),
            "paid": .int(paidMinor), "payments": .list(payments.map(\.canonical)), "height": .int(Int64(height)), "timeMs": .int(timeMs),
        ]
        if let coverage { map["coverage"] = .bytes(coverage.bytes) }
        return .map(map)
    }

    init(id: Hash256, patient: IdentityID, provider: IdentityID, submitter: IdentityID, plan: String, coverage: Hash256?,
         claimHash: Hash256, diagnoses: [String], items: [ClaimItem], lines: [LineAdjudication], outcome: Outcome,
         height: UInt64, timeMs: Int64) {
        self.id = id
        self.patient = patient
        self.provider = provider
        self.submitter = submitter
        self.plan = plan
        self.coverage = coverage
        self.claimHash = claimHash
        self.diagnoses = diagnoses
        self.items = items
        self.lines = lines
        self.outcome = outcome
        self.height = height
        self.timeMs = timeMs
    }

    init?(id: Hash256, canonical value: CanonicalValue) {
        guard let patient = value["patient"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let provider = value["provider"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let submitter = value["submitter"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let plan = value["plan"]?.stringValue, let claimHash = value["claimHash"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let diagnoses = value["diagnoses"]?.listValue, let items = value["items"]?.listValue,
              let lines = value["lines"]?.listValue, let outcome = value["outcome"]?.stringValue.flatMap(Outcome.init(rawValue:)),
              let paid = value["paid"]?.intValue, let payments = value["payments"]?.listValue,
              let height = value["height"]?.intValue, let timeMs = value["timeMs"]?.intValue else { return nil }
        self.init(id: id, patient: patient, provider: provider, submitter: submitter, plan: plan,
                  coverage: value["coverage"]?.bytesValue.flatMap { Hash256(bytes: $0) }, claimHash: claimHash,
                  diagnoses: diagnoses.compactMap(\.stringValue), items: items.compactMap(ClaimItem.init(canonical:)),
                  lines: lines.compactMap(LineAdjudication.init(canonical:)), outcome: outcome, height: UInt64(height), timeMs: timeMs)
        paidMinor = paid
        self.payments = payments.compactMap(Payment.init(canonical:))
    }
}

/// A payment the payer recorded against a claim.
public struct Payment: Sendable, Equatable {
    public var amountMinor: Int64
    /// SHA-256 of the remittance (e.g. the EFT trace), off-chain.
    public var reference: Hash256
    public var height: UInt64
    public var timeMs: Int64

    var canonical: CanonicalValue {
        .map(["amount": .int(amountMinor), "reference": .bytes(reference.bytes), "height": .int(Int64(height)), "timeMs": .int(timeMs)])
    }

    init(amountMinor: Int64, reference: Hash256, height: UInt64, timeMs: Int64) {
        self.amountMinor = amountMinor
        self.reference = reference
        self.height = height
        self.timeMs = timeMs
    }

    init?(canonical value: CanonicalValue) {
        guard let amount = value["amount"]?.intValue, let reference = value["reference"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let height = value["height"]?.intValue, let timeMs = value["timeMs"]?.intValue else { return nil }
        self.init(amountMinor: amount, reference: reference, height: UInt64(height), timeMs: timeMs)
    }
}

/// A claim line is submitted in the form it is stored in.
extension ClaimItem: Codable, CanonicalValidated {
    private enum CodingKeys: String, CodingKey {
        case sequence, code, quantity, unitPriceMinor = "unitPrice", serviceMs, record
    }

    public func validate() throws(Rejection) {
        try Check.int(sequence, CodingKeys.sequence, in: 1...Int64(ClaimsContract.itemsMax * 10))
        try ClaimsContract.checkCode(code, CodingKeys.code)
        try Check.int(quantity, CodingKeys.quantity, in: 1...ClaimsContract.quantityMax)
        try Check.int(unitPriceMinor, CodingKeys.unitPriceMinor, in: 0...ClaimsContract.amountMax)
        try Check.int(serviceMs, CodingKeys.serviceMs, in: 0...Int64.max / 4)
    }
}
