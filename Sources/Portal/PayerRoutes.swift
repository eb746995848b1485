import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services

/// The payer's page: the claims adjudicated under its plans (lines, CARC reasons and their meaning,
/// totals), the prior authorizations awaiting its decision, its plans, and a coverage look-up. The
/// lists are `LedgerView.payerClaims`, `payerAuthorizations` and `payerPlans` (also `GET /v1/payer/…`),
/// the look-up `LedgerView.coverage` (also `GET /v1/coverages/{id}`): each claim, authorization and
/// coverage shown is a logged decision. A decision is a `claims.decideAuthorization` transaction the
/// browser signs with the staff key it holds and posts to `POST /v1/txs`, where the contract decides.
enum PayerRoutes {
    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.get("payer") { request, _ in
            guard let signedIn = await Portal.signedIn(request, backend) else { return PortalPages.redirect("\(Portal.basePath)/sign-in") }
            return try await page(request, signedIn, backend, coverage: nil, coverageError: nil, status: .ok)
        }
        group.post("payer/coverage") { request, _ in
            let form = try await Portal.urlEncodedForm(request, limit: PortalLimits.formBytesMax)
            let signedIn = await Portal.signedIn(request, backend)
            try Portal.checkForm(request, csrf: form["csrf"], session: signedIn?.session, backend)
            guard let signedIn else { throw PortalRefusal(status: 401, message: "sign in again: the session has ended") }
            var coverage: [String: Any]?, problem: String?
            let fields = ["coverage", "patient", "member"].map { (form[$0] ?? "").trimmingCharacters(in: .whitespaces).lowercased() }
            if let id = Hash256(hex: fields[0]), let patient = Hash256(hex: fields[1]), let member = Hash256(hex: fields[2]) {
                let view = await backend.view()
                do throws(ServiceError) {
                    coverage = coverageRow(try await view.coverage(id, patient: patient, memberID: member, as: signedIn.identity))
                } catch {
                    problem = error.message
                }
            } else {
                problem = "the coverage id, the patient's id and the member id are 64 hex characters each"
            }
            return try await page(request, signedIn, backend, coverage: coverage, coverageError: problem,
                                  status: problem == nil ? .ok : .badRequest, form: fields)
        }
    }

    static func page(_ request: Request, _ signedIn: (session: PortalSession, identity: Identity), _ backend: PortalBackend,
                     coverage: [String: Any]?, coverageError: String?, status: HTTPResponse.Status, form: [String] = []) async throws -> Response {
        let identity = signedIn.identity
        let view = await backend.view()
        let rows: StateRowsPage = { try backend.node.visibleStates(prefix: $0, after: $1, limit: $2) }
        let after = request.uri.queryParameters["after"].map(String.init)
        let (payer, plans, claims, authorizations) = try await serviceCall { () async throws(ServiceError) in
            let payer = try view.payerOrganization(of: identity)
            let plans = try view.payerPlans(of: payer.id, rows: rows)
            let claims = try await view.payerClaims(as: identity, rows: rows, after: after, limit: PortalLimits.claimsShown)
            let authorizations = try await view.payerAuthorizations(as: identity, rows: rows, pendingOnly: true, limit: PortalLimits.authorizationsShown)
            return (payer, plans, claims, authorizations)
        }
        let state = backend.node.state
        let names = SupplyNames(state)
        let name = { (hex: Any?) -> String in (hex as? String).flatMap(Hash256.init(hex:)).map { names.name($0) } ?? "—" }
        var values = Portal.layout(backend, signedIn)
        values["payerPage"] = true
        values["csrf"] = signedIn.session.csrf
        values["page"] = PatientRoutes.pageData(identity, backend)
        values["payer"] = payer.label
        values["plans"] = plans.map { plan -> [String: Any] in
            let currency = plan["currency"] as? String ?? "USD"
            var row = plan
            row["deductibleText"] = ClaimText.money(plan["deductible_minor"] as? Int64 ?? 0, currency)
            row["outOfPocketText"] = ClaimText.money(plan["out_of_pocket_max_minor"] as? Int64 ?? 0, currency)
            row["coinsuranceText"] = percent(plan["coinsurance_basis_points"] as? Int64 ?? 0)
            row["diagnosesText"] = (plan["diagnosis_prefixes"] as? [String]).flatMap { $0.isEmpty ? nil : $0.joined(separator: ", ") } ?? "every diagnosis"
            row["benefits"] = (plan["benefits"] as? [JSONObject] ?? []).map { benefit -> [String: Any] in
                var out = benefit
                out["allowedText"] = ClaimText.money(benefit["allowed_minor"] as? Int64 ?? 0, currency)
                out["limitText"] = (benefit["units_per_period"] as? Int64).map { "\($0) units a coverage period" } ?? "no unit limit"
                return out
            }
            return row
        }
        values["hasPlans"] = !plans.isEmpty
        let authorizationRows = (authorizations["authorizations"] as? [JSONObject] ?? []).map { auth -> [String: Any] in
            var row = auth
            row["idShort"] = String((auth["id"] as? String ?? "").prefix(12))
            row["patientShort"] = String((auth["patient"] as? String ?? "").prefix(12))
            row["providerName"] = name(auth["provider"])
            return row
        }
        values["authorizations"] = authorizationRows
        values["hasAuthorizations"] = !authorizationRows.isEmpty
        let claimRows = (claims["claims"] as? [JSONObject] ?? []).map { claimRow($0, name) }
        values["claims"] = claimRows
        values["hasClaims"] = !claimRows.isEmpty
        if let next = claims["next"] as? String { values["olderClaims"] = next }
        if after != nil { values["fromStart"] = true }
        values["claimsShown"] = PortalLimits.claimsShown
        values["scanMax"] = LedgerView.payerScanMax
        values["today"] = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        if let coverage { values["coverage"] = coverage }
        if let coverageError { values["coverageError"] = coverageError }
        if form.count == 3 { values["coverageForm"] = ["coverage": form[0], "patient": form[1], "member": form[2]] }
        return PortalPages.html(PortalPages.render("payer", values), status: status)
    }

    /// One claim for the page: its lines with their adjustments (CARC code and meaning), totals as currency.
    static func claimRow(_ claim: JSONObject, _ name: (Any?) -> String) -> [String: Any] {
        let currency = claim["currency"] as? String ?? "USD"
        let money = { (key: String, object: JSONObject) -> String in ClaimText.money(object[key] as? Int64 ?? 0, currency) }
        var row = claim
        let items = claim["items"] as? [JSONObject] ?? []
        let reasons = Dictionary((claim["reasons"] as? [JSONObject] ?? []).map { ($0["reason"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        row["idShort"] = String((claim["id"] as? String ?? "").prefix(12))
        row["patientShort"] = String((claim["patient"] as? String ?? "").prefix(12))
        row["providerName"] = name(claim["provider"])
        row["when"] = (claim["time_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
        row["denied"] = claim["outcome"] as? String == "denied"
        row["partial"] = claim["outcome"] as? String == "partial"
        row["diagnosesText"] = (claim["diagnoses"] as? [String] ?? []).joined(separator: ", ")
        row["lines"] = (claim["lines"] as? [JSONObject] ?? []).map { line -> [String: Any] in
            let item = items.first { $0["sequence"] as? Int64 == line["sequence"] as? Int64 } ?? [:]
            var out = line
            out["code"] = item["code"] ?? ""
            out["quantity"] = item["quantity"] ?? 0
            for key in ["submitted_minor", "eligible_minor", "patient_minor", "payer_minor"] { out[key + "_text"] = money(key, line) }
            out["adjustments"] = (line["adjustments"] as? [JSONObject] ?? []).map { adjustment -> [String: Any] in
                var a = adjustment
                a["amountText"] = money("amount_minor", adjustment)
                a["text"] = reasons[adjustment["reason"] as? String ?? ""]?["text"] ?? ""
                a["denies"] = reasons[adjustment["reason"] as? String ?? ""]?["denies"] as? Bool ?? false
                if let units = adjustment["units"] as? Int64, units > 0 { a["unitsText"] = "\(units) unit\(units == 1 ? "" : "s")" }
                return a
            }
            return out
        }
        for key in ["submitted_minor", "eligible_minor", "patient_minor", "payer_minor", "paid_minor"] { row[key + "_text"] = money(key, claim) }
        row["owedText"] = ClaimText.money((claim["payer_minor"] as? Int64 ?? 0) - (claim["paid_minor"] as? Int64 ?? 0), currency)
        return row
    }

    static func coverageRow(_ coverage: JSONObject) -> [String: Any] {
        let currency = coverage["currency"] as? String ?? "USD"
        var row = coverage
        row["fromText"] = (coverage["start_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
        row["toText"] = (coverage["end_ms"] as? Int64).map(ExplorerRoutes.iso8601) ?? ""
        if let terminated = coverage["terminated_ms"] as? Int64 { row["terminatedText"] = ExplorerRoutes.iso8601(terminated) }
        row["deductibleMetText"] = ClaimText.money(coverage["deductible_met_minor"] as? Int64 ?? 0, currency)
        row["outOfPocketText"] = ClaimText.money(coverage["out_of_pocket_minor"] as? Int64 ?? 0, currency)
        return row
    }

    /// Basis points as a percentage ("20 %", "12.5 %", "12.05 %").
    static func percent(_ basisPoints: Int64) -> String {
        let whole = basisPoints / 100, fraction = basisPoints % 100
        guard fraction != 0 else { return "\(whole) %" }
        var digits = (fraction < 10 ? "0" : "") + String(fraction)
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits) %"
    }

    /// A service call whose refusal becomes the portal's (status and message).
    static func serviceCall<T>(_ body: () async throws(ServiceError) -> T) async throws -> T {
        do { return try await body() } catch { throw PortalRefusal(error) }
    }
}

extension PortalLimits {
    /// Claims on one payer page (`LedgerView.payerClaims`; "older claims" goes on).
    public static let claimsShown = 50
    /// Prior authorizations awaiting a decision listed on the payer page.
    public static let authorizationsShown = 100
}
