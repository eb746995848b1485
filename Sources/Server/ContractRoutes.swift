import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node

/// `/v1` read routes for the healthcare contracts (claims; later supply chain, prescriptions,
/// trials and telehealth). Writes are signed transactions posted to `/v1/txs`: the contracts
/// decide who may do what, so the server adds no second rule set.
enum ContractRoutes {
    static func add(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        group.get("plans/:id") { _, context in
            _ = try context.requester()
            let id = context.parameters.get("id") ?? ""
            guard let plan = ClaimsContract.plan(id, in: services.state) else { throw APIError.notFound("no plan \(id.prefix(40))") }
            return JSON.response(planJSON(plan))
        }
        group.get("coverages/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "coverage id")
            guard let coverage = ClaimsContract.coverage(id, in: services.state),
                  let plan = ClaimsContract.plan(coverage.plan, in: services.state) else { throw APIError.notFound("no coverage \(id.hex)") }
            guard isPatientSide(coverage.patient, requester, services.state) || isStaff(of: plan.payer, requester) else {
                throw APIError.forbidden("only the patient, a delegate or the payer's staff read a coverage")
            }
            return JSON.response([
                "id": coverage.id.hex, "patient": coverage.patient.hex, "plan": coverage.plan, "start_ms": coverage.startMs,
                "end_ms": coverage.endMs, "terminated_ms": coverage.terminatedMs.map { $0 as Any } ?? NSNull(),
                "deductible_met_minor": coverage.deductibleMetMinor, "out_of_pocket_minor": coverage.outOfPocketMinor,
                "units_used": coverage.unitsUsed, "currency": plan.currency,
            ])
        }
        group.get("authorizations/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "authorization id")
            guard let auth = ClaimsContract.authorization(id, in: services.state) else { throw APIError.notFound("no authorization \(id.hex)") }
            let payer = ClaimsContract.plan(auth.plan, in: services.state)?.payer
            guard isPatientSide(auth.patient, requester, services.state) || isStaff(of: auth.provider, requester)
                    || payer.map({ isStaff(of: $0, requester) }) == true else {
                throw APIError.forbidden("only the patient, the requesting provider or the payer read an authorization")
            }
            return JSON.response([
                "id": auth.id.hex, "patient": auth.patient.hex, "plan": auth.plan, "provider": auth.provider.hex, "code": auth.code,
                "quantity": auth.quantity, "status": auth.status.rawValue, "remaining": auth.remaining,
                "valid_until_ms": auth.validUntilMs.map { $0 as Any } ?? NSNull(), "denial_reason": auth.denialReason ?? NSNull(),
            ])
        }
        group.get("claims/:id") { _, context in
            let requester = try context.requester()
            let id = try RecordRoutes.hash(context, "id", what: "claim id")
            guard let claim = ClaimsContract.claim(id, in: services.state) else { throw APIError.notFound("no claim \(id.hex)") }
            guard mayReadClaim(claim, requester, services.state) else {
                throw APIError.forbidden("only the patient, a delegate, the billing provider and the payer read a claim")
            }
            return JSON.response(claimJSON(claim, currency: ClaimsContract.plan(claim.plan, in: services.state)?.currency ?? "USD"))
        }
    }

    /// The patient or one of their delegates.
    static func isPatientSide(_ patient: IdentityID, _ requester: Identity, _ state: any StateReader) -> Bool {
        requester.id == patient || ConsentIndex.isDelegate(requester.id, of: patient, in: state)
    }

    /// The organization itself or one of its members.
    static func isStaff(of organization: IdentityID, _ requester: Identity) -> Bool {
        requester.id == organization || requester.organization == organization
    }

    /// The parties of a claim: patient (and delegates), the billing provider's staff, the payer's staff.
    static func mayReadClaim(_ claim: ClaimEntry, _ requester: Identity, _ state: any StateReader) -> Bool {
        if isPatientSide(claim.patient, requester, state) || isStaff(of: claim.provider, requester) { return true }
        guard let payer = ClaimsContract.plan(claim.plan, in: state)?.payer else { return false }
        return isStaff(of: payer, requester)
    }

    static func planJSON(_ plan: Plan) -> [String: Any] {
        [
            "id": plan.id, "payer": plan.payer.hex, "currency": plan.currency, "deductible_minor": plan.deductibleMinor,
            "coinsurance_basis_points": plan.coinsuranceBasisPoints, "out_of_pocket_max_minor": plan.outOfPocketMaxMinor,
            "diagnosis_prefixes": plan.diagnosisPrefixes, "height": plan.height,
            "benefits": plan.benefits.map { benefit -> [String: Any] in
                ["code": benefit.code, "allowed_minor": benefit.allowedMinor, "prior_auth": benefit.needsPriorAuth,
                 "units_per_period": benefit.unitsPerPeriod.map { $0 as Any } ?? NSNull()]
            },
        ]
    }

    static func claimJSON(_ claim: ClaimEntry, currency: String) -> [String: Any] {
        [
            "id": claim.id.hex, "patient": claim.patient.hex, "provider": claim.provider.hex, "submitter": claim.submitter.hex,
            "plan": claim.plan, "coverage": claim.coverage?.hex ?? NSNull(), "claim_hash": claim.claimHash.hex, "diagnoses": claim.diagnoses,
            "outcome": claim.outcome.rawValue, "currency": currency, "height": claim.height, "time_ms": claim.timeMs,
            "items": claim.items.map { item -> [String: Any] in
                ["sequence": item.sequence, "code": item.code, "quantity": item.quantity, "unit_price_minor": item.unitPriceMinor,
                 "service_ms": item.serviceMs, "record": item.record.hex]
            },
            "lines": claim.lines.map { line -> [String: Any] in
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
