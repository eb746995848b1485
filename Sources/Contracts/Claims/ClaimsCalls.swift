public import LedgerCore

extension ClaimsContract {
    /// The claims contract's methods.
    public enum Method: String, ContractMethods {
        case registerPlan, enroll, terminateCoverage, requestAuthorization, decideAuthorization, submit, pay
        public static let contract = "claims"
    }

    /// A billing (CPT/HCPCS) or ICD-10 code: 1–16 upper-case letters, digits and dots; `.badCode` otherwise.
    static func checkCode(_ code: String, _ key: some CodingKey) throws(Rejection) {
        guard isCode(code) else {
            throw Rejection(.badCode, "“\(key.stringValue)” must be a code of 1–16 upper-case letters, digits and dots")
        }
    }

    /// A plan id: 1…32 letters, digits and - . _
    static func checkPlanID(_ id: String, _ key: some CodingKey) throws(Rejection) {
        try Check.text(id, key, maxBytes: 32)
        guard id.utf8.allSatisfy({ isAlphanumeric($0) || $0 == 45 || $0 == 46 || $0 == 95 }) else {
            throw Rejection(.badArguments, "a plan id uses letters, digits and - . _")
        }
    }

    /// claims.registerPlan: a payer registers an immutable plan.
    public struct RegisterPlan: ContractMethod, Equatable {
        public static let method = Method.registerPlan

        /// One covered billing code, as the plan registration names it.
        public struct BenefitArgument: Codable, Sendable, Equatable, CanonicalValidated {
            public var code: String
            /// Allowed amount per unit, in minor units.
            public var allowed: Int64
            public var unitsPerPeriod: Int64?
            /// Whether the service needs prior authorization (absent: no).
            public var priorAuth: Bool?

            public init(code: String, allowed: Int64, unitsPerPeriod: Int64? = nil, priorAuth: Bool? = nil) {
                (self.code, self.allowed, self.unitsPerPeriod, self.priorAuth) = (code, allowed, unitsPerPeriod, priorAuth)
            }

            public func validate() throws(Rejection) {
                try ClaimsContract.checkCode(code, CodingKeys.code)
                try Check.int(allowed, CodingKeys.allowed, in: 0...ClaimsContract.amountMax)
                try Check.int(unitsPerPeriod, CodingKeys.unitsPerPeriod, in: 1...ClaimsContract.quantityMax * 100)
            }

            var benefit: Benefit {
                Benefit(code: code, allowedMinor: allowed, unitsPerPeriod: unitsPerPeriod, needsPriorAuth: priorAuth ?? false)
            }
        }

        public var plan: String
        /// ISO 4217 code, e.g. "USD".
        public var currency: String
        public var deductible: Int64
        /// Patient's share after the deductible, in basis points.
        public var coinsurance: Int64
        public var outOfPocketMax: Int64
        public var benefits: [BenefitArgument]
        /// ICD-10 prefixes the plan covers; absent means every diagnosis.
        public var diagnoses: [String]?

        public init(plan: String, currency: String, deductible: Int64, coinsurance: Int64, outOfPocketMax: Int64,
                    benefits: [BenefitArgument], diagnoses: [String]? = nil) {
            (self.plan, self.currency, self.deductible, self.coinsurance, self.outOfPocketMax, self.benefits, self.diagnoses) =
                (plan, currency, deductible, coinsurance, outOfPocketMax, benefits, diagnoses)
        }

        public func validate() throws(Rejection) {
            try ClaimsContract.checkPlanID(plan, CodingKeys.plan)
            try Check.text(currency, CodingKeys.currency, maxBytes: 3)
            guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
                throw Rejection(.badArguments, "currency must be an ISO 4217 code such as USD")
            }
            try Check.int(deductible, CodingKeys.deductible, in: 0...ClaimsContract.amountMax)
            try Check.int(coinsurance, CodingKeys.coinsurance, in: 0...10_000)
            try Check.int(outOfPocketMax, CodingKeys.outOfPocketMax, in: 0...ClaimsContract.amountMax)
            guard outOfPocketMax >= deductible else { throw Rejection(.badArguments, "the out-of-pocket maximum is below the deductible") }
            try Check.count(benefits, CodingKeys.benefits, 1...ClaimsContract.benefitsMax)
            var seen = Set<String>()
            for (index, benefit) in benefits.enumerated() where !seen.insert(benefit.code).inserted {
                throw Rejection(.badArguments, "benefit \(index): code \(benefit.code) is listed twice")
            }
            try Check.count(diagnoses, CodingKeys.diagnoses, 0...ClaimsContract.diagnosisPrefixesMax)
            for prefix in diagnoses ?? [] where !ClaimsContract.isCode(prefix) {
                throw Rejection(.badCode, "“\(prefix.prefix(40))” is not an ICD-10 code or prefix")
            }
        }
    }

    /// claims.enroll: the plan's payer enrolls a member for a coverage period. The chain is not
    /// told who the member is: `member` is the member key (`ClaimsContract.memberKey`), which only
    /// someone holding the member id the payer issued (the insurance card) can tie to a patient.
    public struct Enroll: ContractMethod, Equatable {
        public static let method = Method.enroll
        public var plan: String
        /// `ClaimsContract.memberKey(patient:memberID:)` of the patient and the member id.
        public var member: Hash256
        public var startMs: Int64
        public var endMs: Int64

        public init(plan: String, member: Hash256, startMs: Int64, endMs: Int64) {
            (self.plan, self.member, self.startMs, self.endMs) = (plan, member, startMs, endMs)
        }

        public func validate() throws(Rejection) {
            try ClaimsContract.checkPlanID(plan, CodingKeys.plan)
            try Check.int(startMs, CodingKeys.startMs, in: 0...Int64.max / 4)
            try Check.int(endMs, CodingKeys.endMs, in: 0...Int64.max / 4)
        }
    }

    /// claims.terminateCoverage: the payer ends a coverage early (from the block time on).
    public struct TerminateCoverage: ContractMethod, Equatable {
        public static let method = Method.terminateCoverage
        public var coverage: Hash256
        /// Defaults to the block time.
        public var endMs: Int64?

        public init(coverage: Hash256, endMs: Int64? = nil) { (self.coverage, self.endMs) = (coverage, endMs) }

        public func validate() throws(Rejection) { try Check.int(endMs, CodingKeys.endMs, in: 0...Int64.max / 4) }
    }

    /// claims.requestAuthorization: a provider requests prior authorization for units of a code.
    public struct RequestAuthorization: ContractMethod, Equatable {
        public static let method = Method.requestAuthorization
        public var plan: String
        public var patient: IdentityID
        public var code: String
        public var quantity: Int64

        public init(plan: String, patient: IdentityID, code: String, quantity: Int64) {
            (self.plan, self.patient, self.code, self.quantity) = (plan, patient, code, quantity)
        }

        public func validate() throws(Rejection) {
            try ClaimsContract.checkPlanID(plan, CodingKeys.plan)
            try ClaimsContract.checkCode(code, CodingKeys.code)
            try Check.int(quantity, CodingKeys.quantity, in: 1...ClaimsContract.quantityMax)
        }
    }

    /// claims.decideAuthorization: the payer approves (units, validity) or denies (reason) a request.
    public struct DecideAuthorization: ContractMethod, Equatable {
        public static let method = Method.decideAuthorization
        public var authorization: Hash256
        public var approve: Bool
        /// Approved units (default: all requested), up to the requested quantity.
        public var quantity: Int64?
        /// Required when approving.
        public var validUntilMs: Int64?
        /// Required when denying.
        public var reason: String?

        public init(authorization: Hash256, approve: Bool, quantity: Int64? = nil, validUntilMs: Int64? = nil, reason: String? = nil) {
            (self.authorization, self.approve, self.quantity, self.validUntilMs, self.reason) =
                (authorization, approve, quantity, validUntilMs, reason)
        }

        public func validate() throws(Rejection) {
            if approve {
                guard let validUntilMs else { throw Rejection(.badArguments, "“\(CodingKeys.validUntilMs.stringValue)” is required to approve") }
                try Check.int(validUntilMs, CodingKeys.validUntilMs, in: 0...Int64.max / 4)
            } else {
                guard let reason else { throw Rejection(.badArguments, "“\(CodingKeys.reason.stringValue)” is required to deny") }
                try Check.text(reason, CodingKeys.reason, maxBytes: 200)
            }
        }

        /// The approved units: `quantity`, within 1…`requested`, or all requested.
        func approvedQuantity(requested: Int64) throws(Rejection) -> Int64 {
            try Check.int(quantity, CodingKeys.quantity, in: 1...requested)
            return quantity ?? requested
        }
    }

    /// claims.submit: a provider submits a claim, adjudicated at once.
    public struct Submit: ContractMethod, Equatable {
        public static let method = Method.submit
        /// The claim id (unique).
        public var claim: Hash256
        public var plan: String
        public var patient: IdentityID
        /// The member id the payer issued the patient (from the insurance card): it finds the
        /// patient's coverage, which the chain knows only by member key.
        public var memberID: Hash256
        /// SHA-256 of the FHIR Claim held off-chain.
        public var claimHash: Hash256
        /// ICD-10 codes, 1…`diagnosesMax`.
        public var diagnoses: [String]
        /// 1…`itemsMax` lines.
        public var items: [ClaimItem]

        public init(claim: Hash256, plan: String, patient: IdentityID, memberID: Hash256, claimHash: Hash256, diagnoses: [String],
                    items: [ClaimItem]) {
            (self.claim, self.plan, self.patient, self.memberID, self.claimHash, self.diagnoses, self.items) =
                (claim, plan, patient, memberID, claimHash, diagnoses, items)
        }

        /// Every claim's arguments: exactly these seven keys with their types, the items exactly
        /// theirs, everything valid; anything else goes through `Codable`.
        public static func decodedByHand(_ args: CanonicalValue) -> Submit? {
            guard let map = args.mapValue, map.count == 7, let claim = map[CodingKeys.claim.stringValue]?.digestValue,
                  let plan = map[CodingKeys.plan.stringValue]?.stringValue, let patient = map[CodingKeys.patient.stringValue]?.digestValue,
                  let memberID = map[CodingKeys.memberID.stringValue]?.digestValue, let claimHash = map[CodingKeys.claimHash.stringValue]?.digestValue,
                  let diagnosisValues = map[CodingKeys.diagnoses.stringValue]?.listValue,
                  let itemValues = map[CodingKeys.items.stringValue]?.listValue else { return nil }
            var diagnoses: [String] = []
            for value in diagnosisValues {
                guard let code = value.stringValue else { return nil }
                diagnoses.append(code)
            }
            var items: [ClaimItem] = []
            for value in itemValues {
                guard let item = ClaimItem.decodedByHand(value) else { return nil }
                items.append(item)
            }
            let submit = Submit(claim: claim, plan: plan, patient: patient, memberID: memberID, claimHash: claimHash,
                                diagnoses: diagnoses, items: items)
            do { try submit.validate() } catch { return nil }
            return submit
        }

        public func validate() throws(Rejection) {
            try ClaimsContract.checkPlanID(plan, CodingKeys.plan)
            try Check.count(diagnoses, CodingKeys.diagnoses, 0...ClaimsContract.diagnosesMax)
            for code in diagnoses where !ClaimsContract.isCode(code) {
                throw Rejection(.badCode, "“\(code.prefix(40))” is not an ICD-10 code")
            }
            guard !diagnoses.isEmpty else { throw Rejection(.badArguments, "a claim names at least one diagnosis") }
            try Check.count(items, CodingKeys.items, 0...ClaimsContract.itemsMax)
            guard !items.isEmpty else { throw Rejection(.badArguments, "a claim has at least one item") }
            var seen = Set<Int64>()
            for (index, item) in items.enumerated() where !seen.insert(item.sequence).inserted {
                throw Rejection(.badArguments, "item \(index): sequence \(item.sequence) is used twice")
            }
        }
    }

    /// claims.pay: the payer records a payment against a claim.
    public struct Pay: ContractMethod, Equatable {
        public static let method = Method.pay
        public var claim: Hash256
        public var amount: Int64
        /// SHA-256 of the remittance (e.g. the EFT trace).
        public var reference: Hash256

        public init(claim: Hash256, amount: Int64, reference: Hash256) { (self.claim, self.amount, self.reference) = (claim, amount, reference) }

        public func validate() throws(Rejection) {
            try Check.int(amount, CodingKeys.amount, in: 1...ClaimsContract.amountMax * Int64(ClaimsContract.itemsMax))
        }
    }
}
