public import LedgerCore

/// Insurance claims, adjudicated the moment they are submitted. A payer registers plans and
/// enrolls members (by member key: the chain never learns whose coverage it is); providers request prior authorizations and submit claims
/// whose lines each point at the on-chain record documenting the service. Adjudication checks
/// eligibility on the date of service, coverage, diagnoses, prior authorization, duplicates,
/// phantom billing (no documenting record) and unit limits, then splits the allowed amount into
/// deductible, coinsurance and the payer's share, capped by the out-of-pocket maximum. Amounts
/// are integer minor units; the result is stored as the claim's response, payments are recorded
/// against it.
public struct ClaimsContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names

    /// Most benefits (covered codes) in one plan.
    public static let benefitsMax = 500
    /// Most covered diagnosis prefixes in one plan.
    public static let diagnosisPrefixesMax = 100
    /// Most lines in one claim.
    public static let itemsMax = 50
    /// Most diagnoses on one claim.
    public static let diagnosesMax = 12
    /// Most coverages kept per patient and plan.
    public static let coveragesPerPatientPlanMax = 16
    /// Most prior authorizations kept per patient and code.
    public static let authorizationsPerCodeMax = 16
    /// Most payments recorded against one claim.
    public static let paymentsMax = 16
    /// Largest unit price, allowed amount, deductible or out-of-pocket maximum: 10⁸ minor units.
    public static let amountMax: Int64 = 100_000_000
    /// Most units on one line or in one authorization.
    public static let quantityMax: Int64 = 10_000
    /// Longest coverage period: 5 years.
    public static let coveragePeriodMsMax: Int64 = 5 * 366 * 86_400_000
    /// Longest validity of a prior authorization: 1 year.
    public static let authorizationMsMax: Int64 = 366 * 86_400_000
    /// Timely filing limit: a service older than this at submission is denied (CARC 29).
    public static let filingLimitMs: Int64 = 365 * 86_400_000
    /// Provider organization types that may bill.
    public static let providerTypes: Set<OrganizationType> = [.hospital, .clinic, .laboratory, .pharmacy]

    public init() {}

    /// A claim's lines and diagnoses, and its payments, are private to the provider and the payer.
    public var privateMethods: Set<String> {
        [Method.submit.rawValue, Method.pay.rawValue, Method.requestAuthorization.rawValue, Method.decideAuthorization.rawValue]
    }

    /// The provider organization and the plan's payer: the sender's and the named plan's for a new
    /// claim or authorization, the recorded ones for a payment or a decision.
    public func privateOrganizations(_ call: ContractCall, state: StateView) throws(Rejection) -> Set<IdentityID> {
        let (provider, plan): (IdentityID, String)
        switch try Method.of(call) {
        case .submit: (provider, plan) = (try Self.provider(call, state).1, try Submit(call).plan)
        case .requestAuthorization: (provider, plan) = (try Self.provider(call, state).1, try RequestAuthorization(call).plan)
        case .pay:
            let id = try Pay(call).claim
            guard let claim = Self.claim(id, state) else { throw Rejection(.unknownClaim, "no claim \(id.hex)") }
            (provider, plan) = (claim.provider, claim.plan)
        case .decideAuthorization:
            let id = try DecideAuthorization(call).authorization
            guard let auth = Self.authorization(id, state) else { throw Rejection(.unknownAuthorization, "no prior authorization \(id.hex)") }
            (provider, plan) = (auth.provider, auth.plan)
        case .registerPlan, .enroll, .terminateCoverage:
            throw Rejection(.unknownMethod, "claims.\(call.method) has no private form")
        }
        return Self.claimOrganizations(provider: provider, plan: try Self.requirePlan(plan, state))
    }

    static func claimOrganizations(provider: IdentityID, plan: Plan) -> Set<IdentityID> { [provider, plan.payer] }

    /// The organizations a claim's private calls go to (its provider and its plan's payer), from
    /// committed state; nil if the plan is unknown.
    public static func claimOrganizations(provider: IdentityID, plan: String, in reader: any StateReader) -> Set<IdentityID>? {
        Self.plan(plan, in: reader).map { claimOrganizations(provider: provider, plan: $0) }
    }

    // MARK: State keys

    static func planKey(_ id: String) -> String { "claims/plan/\(id)" }
    static func coverageKey(_ id: Hash256) -> String { "claims/coverage/\(id.hex)" }
    static func coverageIndexKey(_ member: Hash256, _ plan: String) -> String { "claims/coverages/\(member.hex)/\(plan)" }

    /// The member key a coverage is enrolled under: SHA-256 (domain-separated) of the patient and
    /// the member id the payer issued them. Without the member id nobody can tell whose coverage it
    /// is, and a provider holding it (from the patient's card) finds the coverage of that patient only.
    public static func memberKey(patient: IdentityID, memberID: Hash256) -> Hash256 {
        Hash256.sha256(domain: "careledger/claims/member-key", patient.bytes + memberID.bytes)
    }
    static func authorizationKey(_ id: Hash256) -> String { "claims/auth/\(id.hex)" }
    static func authorizationIndexKey(_ patient: IdentityID, _ code: String) -> String { "claims/auths/\(patient.hex)/\(code)" }
    static func claimKey(_ id: Hash256) -> String { "claims/claim/\(id.hex)" }
    /// A coverage's use by privately adjudicated claims, in their collection (`CoverageUsage`).
    static func usageKey(_ id: Hash256) -> String { "claims/usage/\(id.hex)" }
    /// Units of an authorization privately adjudicated claims took, in their collection.
    static func authorizationUseKey(_ id: Hash256) -> String { "claims/auth-use/\(id.hex)" }
    static func lineKey(provider: IdentityID, patient: IdentityID, code: String, serviceMs: Int64) -> String {
        "claims/line/\(provider.hex)/\(patient.hex)/\(code)/\(serviceMs.floorDiv(86_400_000))"
    }

    /// State-key prefix of a patient's claims (entries end in the claim id).
    public static func patientClaimsPrefix(_ patient: IdentityID) -> String { "claims/by-patient/\(patient.hex)/" }
    /// State-key prefix of a provider organization's claims (entries end in the claim id).
    public static func providerClaimsPrefix(_ provider: IdentityID) -> String { "claims/by-provider/\(provider.hex)/" }

    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] {
        var plan: String?, claim: Hash256?, patient: IdentityID?, member: Hash256?, records: [Hash256] = []
        switch Method(rawValue: transaction.body.method) {
        case .registerPlan: plan = RegisterPlan(transaction)?.plan
        case .enroll: if let args = Enroll(transaction) { (plan, member) = (args.plan, args.member) }
        case .requestAuthorization: if let args = RequestAuthorization(transaction) { (plan, patient) = (args.plan, args.patient) }
        case .submit:
            if let args = Submit(transaction) {
                (plan, claim, patient, records) = (args.plan, args.claim, args.patient, args.items.map(\.record))
                member = Self.memberKey(patient: args.patient, memberID: args.memberID)
            }
        case .pay: claim = Pay(transaction)?.claim
        case .terminateCoverage, .decideAuthorization, nil: break
        }
        var keys: [String] = []
        if let plan { keys.append(Self.planKey(plan)) }
        if let claim { keys.append(Self.claimKey(claim)) }
        if let member, let plan { keys.append(Self.coverageIndexKey(member, plan)) }
        if let patient {
            keys.append(Directory.identityKey(patient))
            keys += records.map(RecordIndex.currentKey)
        }
        return keys
    }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        switch try Method.of(call) {
        case .registerPlan: try registerPlan(call, try RegisterPlan(call), &state)
        case .enroll: try enroll(call, try Enroll(call), &state)
        case .terminateCoverage: try terminateCoverage(call, try TerminateCoverage(call), &state)
        case .requestAuthorization: try requestAuthorization(call, try RequestAuthorization(call), &state)
        case .decideAuthorization: try decideAuthorization(call, try DecideAuthorization(call), &state)
        case .submit: try submit(call, try Submit(call), &state)
        case .pay: try pay(call, try Pay(call), &state)
        }
    }

    // MARK: Plans and coverage

    private func registerPlan(_ call: ContractCall, _ args: RegisterPlan, _ state: inout StateView) throws(Rejection) {
        let payer = try Self.payerOrganization(call, state)
        let id = args.plan
        guard state.get(Self.planKey(id)) == nil else { throw Rejection(.planExists, "plan \(id) already exists") }
        let (currency, deductible, coinsurance, outOfPocketMax) = (args.currency, args.deductible, args.coinsurance, args.outOfPocketMax)
        let benefits = args.benefits.map(\.benefit)
        let prefixes = (args.diagnoses ?? []).uniqued()
        let plan = Plan(id: id, payer: payer, currency: currency, deductibleMinor: deductible, coinsuranceBasisPoints: coinsurance,
                        outOfPocketMaxMinor: outOfPocketMax, benefits: benefits, diagnosisPrefixes: prefixes, height: call.height)
        try state.set(Self.planKey(id), plan)
    }

    private func enroll(_ call: ContractCall, _ args: Enroll, _ state: inout StateView) throws(Rejection) {
        let plan = try Self.requirePlan(args.plan, state)
        try Self.requirePayer(of: plan, call, state)
        let member = args.member
        let (startMs, endMs) = (args.startMs, args.endMs)
        guard endMs > startMs, endMs - startMs <= Self.coveragePeriodMsMax else {
            throw Rejection(.badPeriod, "a coverage period ends after it starts and lasts at most 5 years")
        }
        guard endMs > call.timeMs else { throw Rejection(.badPeriod, "the coverage period has already ended") }
        var ids = Self.coverageIDs(member, plan.id, state)
        for id in ids {
            guard let other = Self.coverage(id, state) else { continue }
            if startMs < min(other.endMs, other.terminatedMs ?? .max), other.startMs < endMs {
                throw Rejection(.coverageOverlap, "the member already has coverage \(id.hex) under \(plan.id) in that period")
            }
        }
        guard ids.count < Self.coveragesPerPatientPlanMax else {
            throw Rejection(.tooManyEntries, "the member holds \(Self.coveragesPerPatientPlanMax) coverages under \(plan.id)")
        }
        let coverage = Coverage(id: call.transaction.id, member: member, plan: plan.id, startMs: startMs, endMs: endMs)
        ids.append(coverage.id)
        try state.set(Self.coverageKey(coverage.id), coverage)
        state.set(Self.coverageIndexKey(member, plan.id), .list(ids.map { .bytes($0.bytes) }))
    }

    private func terminateCoverage(_ call: ContractCall, _ args: TerminateCoverage, _ state: inout StateView) throws(Rejection) {
        let id = args.coverage
        guard var coverage = Self.coverage(id, state) else { throw Rejection(.unknownCoverage, "no coverage \(id.hex)") }
        guard let plan = Self.plan(coverage.plan, state) else { throw Rejection(.unknownPlan, "no plan \(coverage.plan)") }
        try Self.requirePayer(of: plan, call, state)
        let endMs = args.endMs ?? call.timeMs
        guard coverage.terminatedMs == nil, endMs < coverage.endMs else {
            throw Rejection(.coverageEnded, "coverage \(id.hex) already ends at \(min(coverage.endMs, coverage.terminatedMs ?? .max))")
        }
        // Retroactive termination would reverse adjudicated claims; the payer ends coverage from now on.
        guard endMs >= call.timeMs else { throw Rejection(.badPeriod, "coverage ends no earlier than the current block time") }
        coverage.terminatedMs = max(endMs, coverage.startMs)
        try state.set(Self.coverageKey(id), coverage)
    }

    // MARK: Prior authorization

    private func requestAuthorization(_ call: ContractCall, _ args: RequestAuthorization, _ state: inout StateView) throws(Rejection) {
        let (_, provider) = try Self.provider(call, state)
        let plan = try Self.requirePlan(args.plan, state)
        let patient = try Self.patient(args.patient, state)
        let (code, quantity) = (args.code, args.quantity)
        var ids = Self.authorizationIDs(patient, code, state)
        // Keep the list bounded: drop decided requests that have nothing left to give.
        ids = ids.filter { id in
            guard let auth = Self.authorization(id, state) else { return false }
            return auth.status == .pending || (auth.status == .approved && auth.remaining > 0 && (auth.validUntilMs ?? 0) > call.timeMs)
        }
        guard ids.count < Self.authorizationsPerCodeMax else {
            throw Rejection(.tooManyEntries, "patient has \(Self.authorizationsPerCodeMax) open authorizations for \(code)")
        }
        let auth = PriorAuthorization(id: call.transaction.id, patient: patient, plan: plan.id, provider: provider, code: code,
                                      quantity: quantity, height: call.height)
        ids.append(auth.id)
        try state.set(Self.authorizationKey(auth.id), auth)
        state.set(Self.authorizationIndexKey(patient, code), .list(ids.map { .bytes($0.bytes) }))
    }

    private func decideAuthorization(_ call: ContractCall, _ args: DecideAuthorization, _ state: inout StateView) throws(Rejection) {
        let id = args.authorization
        guard var auth = Self.authorization(id, state) else { throw Rejection(.unknownAuthorization, "no prior authorization \(id.hex)") }
        guard let plan = Self.plan(auth.plan, state) else { throw Rejection(.unknownPlan, "no plan \(auth.plan)") }
        try Self.requirePayer(of: plan, call, state)
        guard auth.status == .pending else {
            throw Rejection(.authorizationDecided, "prior authorization \(id.hex) was already \(auth.status.rawValue)")
        }
        if args.approve {
            let until = args.validUntilMs ?? 0  // `validate()` requires it to approve
            let quantity = try args.approvedQuantity(requested: auth.quantity)
            guard until > call.timeMs, until - call.timeMs <= Self.authorizationMsMax else {
                throw Rejection(.badPeriod, "an approval is valid for up to one year from now")
            }
            auth.status = .approved
            auth.remaining = quantity
            auth.validUntilMs = until
        } else {
            auth.status = .denied
            auth.denialReason = args.reason
        }
        try state.set(Self.authorizationKey(id), auth)
    }

    // MARK: Claims

    private func submit(_ call: ContractCall, _ args: Submit, _ state: inout StateView) throws(Rejection) {
        let (submitter, provider) = try Self.provider(call, state)
        let id = args.claim
        guard state.get(Self.claimKey(id)) == nil else { throw Rejection(.claimExists, "claim \(id.hex) was already submitted") }
        let plan = try Self.requirePlan(args.plan, state)
        let patient = try Self.patient(args.patient, state)
        let (diagnoses, items) = (args.diagnoses, args.items)
        for (index, item) in items.enumerated() where item.serviceMs > call.timeMs {
            throw Rejection(.serviceInFuture, "item \(index): the date of service is after the block time")
        }
        var adjudicator = Adjudicator(plan: plan, patient: patient, member: Self.memberKey(patient: patient, memberID: args.memberID),
                                      provider: provider, diagnoses: diagnoses, nowMs: call.timeMs)
        var lines: [LineAdjudication] = []
        for item in items { lines.append(try adjudicator.adjudicate(item, &state)) }
        let allowedUnits = lines.reduce(0) { $0 + $1.unitsAllowed }
        let denied = lines.contains { $0.adjustments.contains { $0.reason.denies } }
        let outcome: ClaimEntry.Outcome = allowedUnits == 0 ? .denied : denied ? .partial : .paid
        let claim = ClaimEntry(id: id, patient: patient, provider: provider, submitter: submitter.id, plan: plan.id,
                               coverage: adjudicator.firstCoverage, claimHash: args.claimHash, diagnoses: diagnoses,
                               items: items, lines: lines, outcome: outcome, height: call.height, timeMs: call.timeMs)
        try state.set(Self.claimKey(id), claim)
        state.set(Self.patientClaimsPrefix(patient) + id.hex, CanonicalValue.null)
        state.set(Self.providerClaimsPrefix(provider) + id.hex, CanonicalValue.null)
    }

    private func pay(_ call: ContractCall, _ args: Pay, _ state: inout StateView) throws(Rejection) {
        let id = args.claim
        guard var claim = Self.claim(id, state) else { throw Rejection(.unknownClaim, "no claim \(id.hex)") }
        guard let plan = Self.plan(claim.plan, state) else { throw Rejection(.unknownPlan, "no plan \(claim.plan)") }
        try Self.requirePayer(of: plan, call, state)
        let amount = args.amount
        let owed = claim.payerMinor - claim.paidMinor
        guard amount <= owed else {
            throw Rejection(.overpayment, "claim \(id.hex) has \(owed) \(plan.currency) minor units left to pay; \(amount) is too much")
        }
        guard claim.payments.count < Self.paymentsMax else { throw Rejection(.tooManyEntries, "claim \(id.hex) has \(Self.paymentsMax) payments") }
        claim.paidMinor += amount
        claim.payments.append(Payment(amountMinor: amount, reference: args.reference, height: call.height, timeMs: call.timeMs))
        try state.set(Self.claimKey(id), claim)
    }

    // MARK: Parties

    /// The payer organization a call acts for: a payer organization itself, or its payer agent.
    static func payerOrganization(_ call: ContractCall, _ state: StateView) throws(Rejection) -> IdentityID {
        let sender = try Directory.activeSender(call, in: state)
        let organizationID: IdentityID
        switch sender.kind {
        case .organization: organizationID = sender.id
        case .member:
            guard let org = sender.organization, Directory.effectiveRoles(of: sender, in: state).contains(.payerAgent) else {
                throw Rejection(.notPlanPayer, "\(call.method) needs a payer organization or its payer-agent")
            }
            organizationID = org
        default: throw Rejection(.notPlanPayer, "\(call.method) needs a payer organization or its payer-agent")
        }
        guard let organization = Directory.identity(organizationID, in: state), organization.organizationType == .payer,
              !organization.revoked else {
            throw Rejection(.notPlanPayer, "\(organizationID.hex) is not an active payer organization")
        }
        return organizationID
    }

    private static func requirePayer(of plan: Plan, _ call: ContractCall, _ state: StateView) throws(Rejection) {
        guard try payerOrganization(call, state) == plan.payer else {
            throw Rejection(.notPlanPayer, "only the payer of plan \(plan.id) may \(call.method)")
        }
    }

    /// The submitting identity and the provider organization it bills for.
    static func provider(_ call: ContractCall, _ state: StateView) throws(Rejection) -> (Identity, IdentityID) {
        let sender = try Directory.activeSender(call, in: state)
        let organizationID: IdentityID
        do { organizationID = try RecordsContract.organization(of: sender, in: state) } catch {
            throw Rejection(.notProvider, "\(call.method) needs a provider organization or its clinical or billing staff")
        }
        guard let organization = Directory.identity(organizationID, in: state), !organization.revoked,
              let type = organization.organizationType, providerTypes.contains(type) else {
            throw Rejection(.notProvider, "\(organizationID.hex) is not a provider organization (hospital, clinic, laboratory, pharmacy)")
        }
        return (sender, organizationID)
    }

    // MARK: Arguments

    private static func requirePlan(_ id: String, _ state: StateView) throws(Rejection) -> Plan {
        guard let plan = plan(id, state) else { throw Rejection(.unknownPlan, "no plan \(id)") }
        return plan
    }

    private static func patient(_ id: IdentityID, _ state: StateView) throws(Rejection) -> IdentityID {
        guard let patient = Directory.identity(id, in: state), patient.kind == .patient, !patient.revoked else {
            throw Rejection(.unknownPatient, "no active patient \(id.hex)")
        }
        return id
    }

    static func isCode(_ code: String) -> Bool {
        !code.isEmpty && code.utf8.count <= 16 && code.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || $0 == 46 }
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool { (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) }

    // MARK: Reads

    /// Plans are immutable and read by every claim: decoded once by the node's state reader.
    static func plan(_ id: String, _ state: StateView) -> Plan? {
        state.decoded(planKey(id)) { Plan.decode($0) { $0.id = id } }
    }
    static func coverage(_ id: Hash256, _ state: StateView) -> Coverage? {
        Coverage.decode(state.get(coverageKey(id))) { $0.id = id }
    }
    static func coverageIDs(_ member: Hash256, _ plan: String, _ state: StateView) -> [Hash256] {
        state.getValue(coverageIndexKey(member, plan))?.listValue?.compactMap { $0.bytesValue.flatMap { Hash256(bytes: $0) } } ?? []
    }
    static func authorization(_ id: Hash256, _ state: StateView) -> PriorAuthorization? {
        PriorAuthorization.decode(state.get(authorizationKey(id))) { $0.id = id }
    }
    static func authorizationIDs(_ patient: IdentityID, _ code: String, _ state: StateView) -> [Hash256] {
        state.getValue(authorizationIndexKey(patient, code))?.listValue?.compactMap { $0.bytesValue.flatMap { Hash256(bytes: $0) } } ?? []
    }
    static func usage(_ id: Hash256, _ state: StateView) -> CoverageUsage {
        CoverageUsage.decode(state.get(usageKey(id))) { _ in } ?? CoverageUsage()
    }
    static func authorizationUse(_ id: Hash256, _ state: StateView) -> Int64 { state.getValue(authorizationUseKey(id))?.intValue ?? 0 }
    static func claim(_ id: Hash256, _ state: StateView) -> ClaimEntry? {
        ClaimEntry.decode(state.get(claimKey(id))) { $0.id = id }
    }

    /// A plan from committed state.
    public static func plan(_ id: String, in reader: any StateReader) -> Plan? { plan(id, StateView(base: reader)) }
    /// A coverage from committed state.
    public static func coverage(_ id: Hash256, in reader: any StateReader) -> Coverage? { coverage(id, StateView(base: reader)) }
    /// A member's coverages under a plan, oldest first.
    public static func coverages(member: Hash256, plan: String, in reader: any StateReader) -> [Coverage] {
        let view = StateView(base: reader)
        return coverageIDs(member, plan, view).compactMap { coverage($0, view) }
    }
    /// A prior authorization from committed state.
    public static func authorization(_ id: Hash256, in reader: any StateReader) -> PriorAuthorization? {
        authorization(id, StateView(base: reader))
    }
    /// A claim and its adjudication from committed state.
    public static func claim(_ id: Hash256, in reader: any StateReader) -> ClaimEntry? { claim(id, StateView(base: reader)) }
}

extension Int64 {
    /// Division rounding toward negative infinity (days before 1970 stay distinct).
    func floorDiv(_ divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
