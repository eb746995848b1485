public import Contracts
import FHIR
public import Foundation
import LedgerCore

/// A plan file (JSON: plan, currency, deductible, coinsurancePercent, outOfPocketMax, benefits,
/// diagnoses; amounts as decimals in the currency) as a `ClaimsContract.RegisterPlan` call.
public enum PlanFile {
    public static func registerPlan(_ data: Data) throws -> ClaimsContract.RegisterPlan {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw ServiceError("the plan file is not a JSON object") }
        guard let plan = object["plan"] as? String, let currency = object["currency"] as? String else {
            throw ServiceError("the plan file needs “plan” and “currency”")
        }
        func amount(_ value: Any?, _ what: String) throws -> Int64 {
            guard let value else { throw ServiceError("the plan file needs “\(what)”") }
            do { return try ClaimMapping.minorUnits(value, currency: currency, at: what) } catch { throw ServiceError(error.diagnostics) }
        }
        let percent: Int64
        do { percent = try ClaimMapping.minorUnits(object["coinsurancePercent"] ?? NSNumber(value: 0), currency: "XXX", at: "coinsurancePercent") } catch {
            throw ServiceError(error.diagnostics)
        }
        var benefits: [ClaimsContract.RegisterPlan.BenefitArgument] = []
        for (index, benefit) in ((object["benefits"] as? [[String: Any]]) ?? []).enumerated() {
            guard let code = benefit["code"] as? String else { throw ServiceError("benefit \(index) needs a “code”") }
            benefits.append(.init(code: code, allowed: try amount(benefit["allowed"], "benefits[\(index)].allowed"),
                                  unitsPerPeriod: (benefit["unitsPerPeriod"] as? Int).map(Int64.init), priorAuth: benefit["priorAuth"] as? Bool))
        }
        return ClaimsContract.RegisterPlan(
            plan: plan, currency: currency, deductible: try amount(object["deductible"] ?? NSNumber(value: 0), "deductible"),
            coinsurance: percent, outOfPocketMax: try amount(object["outOfPocketMax"], "outOfPocketMax"),
            benefits: benefits, diagnoses: (object["diagnoses"] as? [String]) ?? [])
    }
}

/// A claim's adjudication as readable text (the CLI and the demo print it).
public enum ClaimText {
    /// Integer minor units as a decimal amount in `currency` with its code ("1234.50 USD").
    public static func money(_ minor: Int64, _ currency: String) -> String { "\(ClaimMapping.decimal(minor, currency)) \(currency)" }

    /// The readable form: one line per claim line and its adjustments, then totals.
    public static func lines(_ entry: ClaimEntry, currency: String) -> [String] {
        func money(_ minor: Int64) -> String { ClaimMapping.decimal(minor, currency) }
        var out = ["claim \(entry.id.hex) — \(entry.outcome.rawValue) (block \(entry.height), plan \(entry.plan))"]
        for (item, line) in zip(entry.items, entry.lines) {
            out.append("  \(line.sequence). \(pad(item.code, 6)) ×\(item.quantity)  billed \(money(line.submittedMinor))  allowed \(money(line.eligibleMinor))  patient \(money(line.patientMinor))  payer \(money(line.payerMinor))")
            for adjustment in line.adjustments {
                let units = adjustment.units > 0 ? " (\(adjustment.units) units)" : ""
                let amount = money(adjustment.amountMinor)
                out.append("       \(pad(adjustment.reason.rawValue, 22)) \(String(repeating: " ", count: max(0, 9 - amount.count)))\(amount)\(units)  CARC \(adjustment.reason.carc): \(adjustment.reason.text)")
            }
        }
        out.append("  total: billed \(money(entry.submittedMinor)), allowed \(money(entry.eligibleMinor)), patient owes \(money(entry.patientMinor)), payer owes \(money(entry.payerMinor)), paid \(money(entry.paidMinor)) \(currency)")
        return out
    }
}
