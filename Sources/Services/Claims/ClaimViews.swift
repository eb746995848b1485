public import Contracts
import Foundation
public import LedgerCore

/// Read models of the claims contract: plans (public to every identity of the chain), and
/// coverages, prior authorizations and claims (their parties only, by `ReadRules`).
extension LedgerView {
    public func plan(_ id: String) throws(ServiceError) -> JSONObject {
        guard let plan = ClaimsContract.plan(id, in: state) else { throw .notFound("no plan \(id.prefix(40))") }
        return Self.planJSON(plan)
    }

    /// A coverage, for its parties, who name the patient and show the member id the payer issued
    /// (the chain knows the coverage only by member key); the decision is logged (`decide`). A
    /// patient and member id that do not match the coverage are answered as if it did not exist.
    public func coverage(_ id: Hash256, patient: IdentityID, memberID: Hash256, as requester: Identity) async throws(ServiceError) -> JSONObject {
        guard let coverage = ClaimsContract.coverage(id, in: state), coverage.member == ClaimsContract.memberKey(patient: patient, memberID: memberID),
              let plan = ClaimsContract.plan(coverage.plan, in: state) else {
            throw .notFound("no coverage \(id.hex) of that patient and member id")
        }
        try await decide(requester, patient: patient, object: id, purpose: .payment,
                         allowed: { ReadRules.mayReadCoverage(of: patient, payer: plan.payer, $0, state) },
                         refusal: "only the patient, a delegate or the payer's staff read a coverage")
        return [
            "id": coverage.id.hex, "patient": patient.hex, "plan": coverage.plan, "start_ms": coverage.startMs,
            "end_ms": coverage.endMs, "terminated_ms": coverage.terminatedMs.map { $0 as Any } ?? NSNull(),
            "deductible_met_minor": coverage.deductibleMetMinor, "out_of_pocket_minor": coverage.outOfPocketMinor,
            "units_used": coverage.unitsUsed, "currency": plan.currency,
        ]
    }

    /// A prior authorization, for its parties; the decision is logged (`decide`).
    public func authorization(_ id: Hash256, as requester: Identity) async throws(ServiceError) -> JSONObject {
        guard let auth = ClaimsContract.authorization(id, in: state) else { throw .notFound("no authorization \(id.hex)") }
        try await decide(requester, patient: auth.patient, object: id, purpose: .payment,
                         allowed: { ReadRules.mayReadAuthorization(auth, $0, state) },
                         refusal: "only the patient, the requesting provider or the payer read an authorization")
        return [
            "id": auth.id.hex, "patient": auth.patient.hex, "plan": auth.plan, "provider": auth.provider.hex, "code": auth.code,
            "quantity": auth.quantity, "status": auth.status.rawValue, "remaining": auth.remaining,
            "valid_until_ms": auth.validUntilMs.map { $0 as Any } ?? NSNull(), "denial_reason": auth.denialReason.map { $0 as Any } ?? NSNull(),
        ]
    }

    /// A claim as its parties see it; `requester` nil is the node operator reading its own store (the CLI).
    public func claim(_ id: Hash256, as requester: Identity?) async throws(ServiceError) -> JSONObject {
        let entry = try await claimEntry(id, as: requester)
        return Self.claimJSON(entry, currency: currency(of: entry))
    }

    /// The claim's entry, if `requester` may read it; the decision is logged (`decide`).
    public func claimEntry(_ id: Hash256, as requester: Identity?) async throws(ServiceError) -> ClaimEntry {
        guard let claim = ClaimsContract.claim(id, in: state) else { throw .notFound("no claim \(id.hex)") }
        try await decide(requester, patient: claim.patient, object: id, purpose: .payment, allowed: { ReadRules.mayReadClaim(claim, $0, state) },
                         refusal: "only the patient, a delegate, the billing provider and the payer read a claim")
        return claim
    }

    /// The currency of a claim's plan.
    public func currency(of claim: ClaimEntry) -> String { ClaimsContract.plan(claim.plan, in: state)?.currency ?? "USD" }

    static func planJSON(_ plan: Plan) -> JSONObject {
        [
            "id": plan.id, "payer": plan.payer.hex, "currency": plan.currency, "deductible_minor": plan.deductibleMinor,
            "coinsurance_basis_points": plan.coinsuranceBasisPoints, "out_of_pocket_max_minor": plan.outOfPocketMaxMinor,
            "diagnosis_prefixes": plan.diagnosisPrefixes, "height": plan.height,
            "benefits": plan.benefits.map { benefit -> JSONObject in
                ["code": benefit.code, "allowed_minor": benefit.allowedMinor, "prior_auth": benefit.needsPriorAuth,
                 "units_per_period": benefit.unitsPerPeriod.map { $0 as Any } ?? NSNull()]
            },
        ]
    }

    static func claimJSON(_ claim: ClaimEntry, currency: String) -> JSONObject {
        [
            "id": claim.id.hex, "patient": claim.patient.hex, "provider": claim.provider.hex, "submitter": claim.submitter.hex,
            "plan": claim.plan, "coverage": claim.coverage?.hex ?? NSNull(), "claim_hash": claim.claimHash.hex, "diagnoses": claim.diagnoses,
            "outcome": claim.outcome.rawValue, "currency": currency, "height": claim.height, "time_ms": claim.timeMs,
            "items": claim.items.map { item -> JSONObject in
                ["sequence": item.sequence, "code": item.code, "quantity": item.quantity, "unit_price_minor": item.unitPriceMinor,
                 "service_ms": item.serviceMs, "record": item.record.hex]
            },
            "lines": claim.lines.map { line -> JSONObject in
                ["sequence": line.sequence, "submitted_minor": line.submittedMinor, "eligible_minor": line.eligibleMinor,
                 "units_allowed": line.unitsAllowed, "patient_minor": line.patientMinor, "payer_minor": line.payerMinor,
                 "adjustments": line.adjustments.map { ["reason": $0.reason.rawValue, "carc": $0.reason.carc, "amount_minor": $0.amountMinor, "units": $0.units] }]
            },
            "submitted_minor": claim.submittedMinor, "eligible_minor": claim.eligibleMinor, "patient_minor": claim.patientMinor,
            "payer_minor": claim.payerMinor, "paid_minor": claim.paidMinor,
            "payments": claim.payments.map { ["amount_minor": $0.amountMinor, "reference": $0.reference.hex, "height": $0.height, "time_ms": $0.timeMs] },
        ]
    }
}
