public import Contracts
import Foundation
public import LedgerCore
import Node

/// Committed state rows under a prefix, in key order, at most `limit` after `after`: what a listing
/// scans (`LedgerNode.visibleStates` on a node: shared state and the private collections it holds).
public typealias StateRowsPage = @Sendable (_ prefix: String, _ after: String?, _ limit: Int) throws -> [(key: String, value: [UInt8])]

/// A payer's work lists: its plans, the claims adjudicated under them, and the prior authorizations
/// asked of it. Each claim and authorization shown is a `ReadRules` decision logged in the patient's
/// access log before anything is released, as `claim(_:as:)` and `authorization(_:as:)` log one.
/// Used by `GET /v1/payer/…` and the portal's payer page.
extension LedgerView {
    /// State rows one listing request scans at most (claims and authorizations are keyed by id, so a
    /// payer's own are found by scanning; `next` continues where a scan stopped).
    public static let payerScanMax = 5_000
    /// Items one listing answers at most.
    public static let payerListMax = 200

    /// The active payer organization `requester` acts for (itself, or the one it is a member of), else 403.
    public func payerOrganization(of requester: Identity) throws(ServiceError) -> Identity {
        guard let id = ReadRules.organization(of: requester), let organization = Directory.identity(id, in: state),
              organization.organizationType == .payer, !organization.revoked else {
            throw .forbidden("payer work lists are for a payer organization's own staff")
        }
        return organization
    }

    /// The plans `payer` registered, by id (plans are public: `plan(_:)` shows any of them to anyone).
    public func payerPlans(of payer: IdentityID, rows: StateRowsPage) throws(ServiceError) -> [JSONObject] {
        let prefix = "claims/plan/"
        var plans: [JSONObject] = []
        var after: String?
        while true {
            let page: [(key: String, value: [UInt8])]
            do { page = try rows(prefix, after, 1_000) } catch { throw ServiceError(.unavailable, "plans could not be read: \(error)") }
            for row in page {
                if let plan = ClaimsContract.plan(String(row.key.dropFirst(prefix.count)), in: state), plan.payer == payer {
                    plans.append(Self.planJSON(plan))
                }
            }
            guard page.count == 1_000, let last = page.last?.key, plans.count < Self.payerListMax else { break }
            after = last
        }
        return plans
    }

    /// The claims adjudicated under the plans of the requester's payer organization, newest first:
    /// at most `limit`, from at most `payerScanMax` claims scanned after `after` (a claim id; `next`
    /// says where to go on). Each is shown as `claim(_:as:)` shows it, with every adjustment's CARC
    /// meaning; every one is a logged decision.
    public func payerClaims(as requester: Identity, rows: StateRowsPage, after: String? = nil,
                            limit: Int = LedgerView.payerListMax) async throws(ServiceError) -> JSONObject {
        let payer = try payerOrganization(of: requester)
        let prefix = "claims/claim/"
        let (found, next) = try scan(prefix: prefix, after: after, limit: limit, rows: rows) { key -> ClaimEntry? in
            guard let id = Hash256(hex: key), let claim = ClaimsContract.claim(id, in: state),
                  ClaimsContract.plan(claim.plan, in: state)?.payer == payer.id else { return nil }
            return claim
        }
        try await decideAll(requester, found.map { ($0.patient, $0.id, ReadRules.mayReadClaim($0, requester, state)) },
                            refusal: "only the patient, a delegate, the billing provider and the payer read a claim")
        let claims = found.sorted { ($0.height, $0.id.hex) > ($1.height, $1.id.hex) }.map { claim -> JSONObject in
            var json = Self.claimJSON(claim, currency: currency(of: claim))
            json["reasons"] = Self.reasonsJSON(claim)
            return json
        }
        return ["payer": payer.id.hex, "claims": claims, "next": next.map { $0 as Any } ?? NSNull()]
    }

    /// The prior authorizations asked under the plans of the requester's payer organization
    /// (`pendingOnly`: those awaiting its decision), oldest first; as `payerClaims`, scanned and logged.
    public func payerAuthorizations(as requester: Identity, rows: StateRowsPage, pendingOnly: Bool, after: String? = nil,
                                    limit: Int = LedgerView.payerListMax) async throws(ServiceError) -> JSONObject {
        let payer = try payerOrganization(of: requester)
        let (found, next) = try scan(prefix: "claims/auth/", after: after, limit: limit, rows: rows) { key -> PriorAuthorization? in
            guard let id = Hash256(hex: key), let auth = ClaimsContract.authorization(id, in: state),
                  !pendingOnly || auth.status == .pending, ClaimsContract.plan(auth.plan, in: state)?.payer == payer.id else { return nil }
            return auth
        }
        try await decideAll(requester, found.map { ($0.patient, $0.id, ReadRules.mayReadAuthorization($0, requester, state)) },
                            refusal: "only the patient, the requesting provider or the payer read an authorization")
        let authorizations = found.sorted { ($0.height, $0.id.hex) < ($1.height, $1.id.hex) }.map { auth -> JSONObject in
            [
                "id": auth.id.hex, "patient": auth.patient.hex, "plan": auth.plan, "provider": auth.provider.hex, "code": auth.code,
                "quantity": auth.quantity, "status": auth.status.rawValue, "remaining": auth.remaining, "height": auth.height,
                "valid_until_ms": auth.validUntilMs.map { $0 as Any } ?? NSNull(), "denial_reason": auth.denialReason.map { $0 as Any } ?? NSNull(),
            ]
        }
        return ["payer": payer.id.hex, "authorizations": authorizations, "next": next.map { $0 as Any } ?? NSNull()]
    }

    /// The distinct adjustment reasons of a claim with their CARC code and meaning, in CARC order.
    static func reasonsJSON(_ claim: ClaimEntry) -> [JSONObject] {
        let reasons = Set(claim.lines.flatMap { $0.adjustments.map(\.reason) })
        return reasons.sorted { (Int($0.carc) ?? 0) < (Int($1.carc) ?? 0) }.map {
            ["reason": $0.rawValue, "carc": $0.carc, "text": $0.text, "denies": $0.denies]
        }
    }

    /// Scans rows under `prefix` after `after` (at most `payerScanMax`), keeping what `match` finds
    /// (at most `limit`); `next` is the last key looked at when there may be more.
    private func scan<T>(prefix: String, after: String?, limit: Int, rows: StateRowsPage,
                         _ match: (String) -> T?) throws(ServiceError) -> ([T], String?) {
        guard (1...Self.payerListMax).contains(limit) else { throw ServiceError("limit must be 1…\(Self.payerListMax)") }
        if let after, !(after.utf8.count == 64 && after.allSatisfy(\.isHexDigit)) { throw ServiceError("after must be an id (64 hex)") }
        var found: [T] = []
        var cursor = after.map { prefix + $0.lowercased() }
        var scanned = 0
        while scanned < Self.payerScanMax {
            let want = min(500, Self.payerScanMax - scanned)
            let page: [(key: String, value: [UInt8])]
            do { page = try rows(prefix, cursor, want) } catch {
                throw ServiceError(.unavailable, "the list could not be read: \(error)")
            }
            for row in page {
                scanned += 1
                cursor = row.key
                if let item = match(String(row.key.dropFirst(prefix.count))) {
                    found.append(item)
                    if found.count == limit { return (found, String(row.key.dropFirst(prefix.count))) }
                }
            }
            if page.count < want { return (found, nil) }
        }
        return (found, cursor.map { String($0.dropFirst(prefix.count)) })
    }

    /// `decide` for many objects at once: every decision logged durably before anything is shown;
    /// the first refused one is 403 with `refusal`.
    func decideAll(_ requester: Identity, _ objects: [(patient: IdentityID, object: Hash256, permitted: Bool)],
                   refusal: String) async throws(ServiceError) {
        guard !objects.isEmpty else { return }
        guard let audit else { throw ServiceError(.unavailable, "this node keeps no access log, so it shows no patient's data") }
        do {
            try await audit.logObjectReads(objects.map {
                ObjectRead(requester: requester.id, patient: $0.patient, object: $0.object, purpose: .payment, permitted: $0.permitted)
            })
        } catch { throw ServiceError(.unavailable, "the access decisions cannot be logged: \(error)") }
        if objects.contains(where: { !$0.permitted }) { throw .forbidden(refusal) }
    }
}
