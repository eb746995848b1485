import LedgerCore

/// Adjudicates claim lines one after another against a plan, updating the coverage's
/// accumulators, consuming prior authorizations and remembering billed services as it goes, so
/// later lines (and later claims) see the effect of earlier ones. Integer arithmetic only.
///
/// In the private part of a private call (`StateView.namespace` set) the coverage and the
/// authorizations are shared records it must not change: what it uses is kept in the collection
/// instead (`CoverageUsage`, `AuthorizationUse`) and added to what the shared records say.
struct Adjudicator {
    let plan: Plan
    let patient: IdentityID
    /// The patient's member key (from the member id the claim carries).
    let member: Hash256
    let provider: IdentityID
    let diagnoses: [String]
    let nowMs: Int64
    /// The coverage of the first line found eligible, for the claim's response.
    private(set) var firstCoverage: Hash256?

    init(plan: Plan, patient: IdentityID, member: Hash256, provider: IdentityID, diagnoses: [String], nowMs: Int64) {
        (self.plan, self.patient, self.member, self.provider, self.diagnoses, self.nowMs) = (plan, patient, member, provider, diagnoses, nowMs)
    }

    /// Adjudicates one line; writes accumulators, authorizations and the duplicate marker.
    mutating func adjudicate(_ item: ClaimItem, _ state: inout StateView) throws(Rejection) -> LineAdjudication {
        let billed = item.billedMinor
        func deny(_ reason: AdjustmentReason) -> LineAdjudication {
            LineAdjudication(sequence: item.sequence, submittedMinor: billed, eligibleMinor: 0, unitsAllowed: 0, patientMinor: 0,
                             payerMinor: 0, adjustments: [Adjustment(reason, amountMinor: billed, units: item.quantity)])
        }
        // Whole-line denials, most telling first: fraud signals before coverage questions.
        let lineKey = ClaimsContract.lineKey(provider: provider, patient: patient, code: item.code, serviceMs: item.serviceMs)
        if state.get(lineKey) != nil { return deny(.duplicate) }
        guard let record = RecordIndex.current(item.record, in: state), record.patient == patient,
              record.custodian == provider else { return deny(.noDocumentingRecord) }
        guard let shared = coverageInForce(at: item.serviceMs, state) else { return deny(.notEligible) }
        let isPrivate = state.namespace != nil
        let usage = isPrivate ? ClaimsContract.usage(shared.id, state) : CoverageUsage()
        var coverage = shared
        coverage.deductibleMetMinor += usage.deductibleMetMinor
        coverage.outOfPocketMinor += usage.outOfPocketMinor
        coverage.unitsUsed.merge(usage.unitsUsed, uniquingKeysWith: +)
        guard nowMs - item.serviceMs <= ClaimsContract.filingLimitMs else { return deny(.lateFiling) }
        guard let benefit = plan.benefit(item.code) else { return deny(.notCovered) }
        guard plan.coversDiagnoses(diagnoses) else { return deny(.diagnosisNotCovered) }

        var units = item.quantity
        var adjustments: [Adjustment] = []
        func denyUnits(_ count: Int64, _ reason: AdjustmentReason) {
            guard count > 0 else { return }
            adjustments.append(Adjustment(reason, amountMinor: count * item.unitPriceMinor, units: count))
            units -= count
        }
        if benefit.needsPriorAuth { denyUnits(units - (try consumeAuthorizations(item, units, &state)), .priorAuthMissing) }
        if let limit = benefit.unitsPerPeriod {
            let left = max(0, limit - (coverage.unitsUsed[item.code] ?? 0))
            denyUnits(units - min(units, left), .overLimit)
        }
        guard units > 0 else {
            return LineAdjudication(sequence: item.sequence, submittedMinor: billed, eligibleMinor: 0, unitsAllowed: 0, patientMinor: 0,
                                    payerMinor: 0, adjustments: adjustments)
        }

        let unitAllowed = min(item.unitPriceMinor, benefit.allowedMinor)
        let eligible = units * unitAllowed
        if item.unitPriceMinor > unitAllowed {
            adjustments.append(Adjustment(.contractual, amountMinor: units * (item.unitPriceMinor - unitAllowed)))
        }
        // Cost sharing: deductible first, then coinsurance on the rest; the patient's total for the
        // period never passes the out-of-pocket maximum.
        var outOfPocketLeft = max(0, plan.outOfPocketMaxMinor - coverage.outOfPocketMinor)
        let deductible = min(eligible, max(0, plan.deductibleMinor - coverage.deductibleMetMinor), outOfPocketLeft)
        outOfPocketLeft -= deductible
        // Round half up, in the patient's favour never by more than half a minor unit.
        let coinsurance = min((((eligible - deductible) * plan.coinsuranceBasisPoints) + 5_000) / 10_000, outOfPocketLeft)
        if deductible > 0 { adjustments.append(Adjustment(.deductible, amountMinor: deductible)) }
        if coinsurance > 0 { adjustments.append(Adjustment(.coinsurance, amountMinor: coinsurance)) }

        if isPrivate {
            var used = usage
            used.deductibleMetMinor += deductible
            used.outOfPocketMinor += deductible + coinsurance
            used.unitsUsed[item.code, default: 0] += units
            try state.set(ClaimsContract.usageKey(coverage.id), used)
        } else {
            coverage.deductibleMetMinor += deductible
            coverage.outOfPocketMinor += deductible + coinsurance
            coverage.unitsUsed[item.code, default: 0] += units
            try state.set(ClaimsContract.coverageKey(coverage.id), coverage)
        }
        state.set(lineKey, CanonicalValue.null)
        if firstCoverage == nil { firstCoverage = coverage.id }
        return LineAdjudication(sequence: item.sequence, submittedMinor: billed, eligibleMinor: eligible, unitsAllowed: units,
                                patientMinor: deductible + coinsurance, payerMinor: eligible - deductible - coinsurance,
                                adjustments: adjustments)
    }

    /// The member's coverage under this plan in force on the date of service.
    private func coverageInForce(at serviceMs: Int64, _ state: StateView) -> Coverage? {
        for id in ClaimsContract.coverageIDs(member, plan.id, state) {
            if let coverage = ClaimsContract.coverage(id, state), coverage.isActive(at: serviceMs) { return coverage }
        }
        return nil
    }

    /// Takes up to `wanted` units from this provider's approved, unexpired authorizations for the
    /// code (oldest first); returns how many it took.
    private func consumeAuthorizations(_ item: ClaimItem, _ wanted: Int64, _ state: inout StateView) throws(Rejection) -> Int64 {
        var taken: Int64 = 0
        let isPrivate = state.namespace != nil
        for id in ClaimsContract.authorizationIDs(patient, item.code, state) where taken < wanted {
            guard var auth = ClaimsContract.authorization(id, state), auth.status == .approved, auth.provider == provider,
                  auth.plan == plan.id, item.serviceMs < (auth.validUntilMs ?? 0) else { continue }
            let used = isPrivate ? ClaimsContract.authorizationUse(id, state) : 0
            let take = min(auth.remaining - used, wanted - taken)
            guard take > 0 else { continue }
            taken += take
            if isPrivate {
                state.set(ClaimsContract.authorizationUseKey(id), CanonicalValue.int(used + take))
            } else {
                auth.remaining -= take
                try state.set(ClaimsContract.authorizationKey(id), auth)
            }
        }
        return taken
    }
}

/// What claims adjudicated in one private collection used of a coverage's accumulators, on top
/// of what the shared coverage record says.
struct CoverageUsage: StoredValue, Equatable {
    var deductibleMetMinor: Int64 = 0
    var outOfPocketMinor: Int64 = 0
    var unitsUsed: [String: Int64] = [:]
}
