public import Contracts
import Foundation
public import LedgerCore
public import Vault

/// The on-chain record id of a FHIR resource: its type and id under a domain tag.
/// The record ids of FHIR resources at one node: keyed (`RecordIDKey`), so that a guessable FHIR id
/// does not lead to its record on the shared chain (security review finding 1). Records written
/// before 2026-12-05 keep the unkeyed id they were registered under (the chain does not change);
/// a resource that has one is found under it.
public struct FHIRRecordIDs: Sendable {
    public let key: RecordIDKey
    /// Whether records may exist under their legacy id (a node whose data predates keyed ids);
    /// false saves a lookup for every id that names no record yet.
    public let legacyIDs: Bool

    public init(key: RecordIDKey, legacyIDs: Bool = true) { (self.key, self.legacyIDs) = (key, legacyIDs) }

    /// The keyed id of `type/id`: what a new resource is registered under.
    public func keyed(type: String, id: String) -> Hash256 { key.id("\(type)/\(id)") }

    /// The unkeyed id earlier releases registered `type/id` under (anyone can compute it).
    public static func legacy(type: String, id: String) -> Hash256 {
        Hash256.sha256(domain: "careledger/fhir-record/v1", Array("\(type)/\(id)".utf8))
    }

    /// The record of `type/id` at this node: the keyed id, unless only a record under the legacy
    /// id exists (written by an earlier release).
    public func resolve(type: String, id: String, in reader: any StateReader) -> Hash256 {
        let keyed = keyed(type: type, id: id)
        if !legacyIDs || RecordIndex.current(keyed, in: reader) != nil { return keyed }
        let legacy = Self.legacy(type: type, id: id)
        return RecordIndex.current(legacy, in: reader) != nil ? legacy : keyed
    }

    /// The ledger patient behind a FHIR Patient id, if that Patient is a live record.
    public func ledgerPatient(_ patientID: String, in reader: any StateReader) -> IdentityID? {
        guard let record = RecordIndex.current(resolve(type: "Patient", id: patientID, in: reader), in: reader), record.resourceType == "Patient",
              !record.isErased, !record.isDirectory else { return nil }
        return record.patient
    }
}

/// FHIR Claim → `claims.submit` arguments, and a ledger claim → FHIR ClaimResponse. Amounts
/// cross as decimals in FHIR and integer minor units on the chain; nothing in between is
/// floating point beyond the one exact conversion of a parsed JSON number.
public enum ClaimMapping {
    /// Identifier system of a plan id (in a ClaimResponse's insurance.coverage.identifier).
    public static let planSystem = "urn:careledger:plan"
    /// Identifier system of the member ids a plan issues, followed by the plan id: a Claim's
    /// insurance.coverage.identifier is `{"system": "urn:careledger:member:GOLD", "value": <64 hex>}`,
    /// the member id on the patient's card.
    public static let memberSystemPrefix = "urn:careledger:member:"

    /// The identifier of a patient's coverage under `plan` by the member id the payer issued.
    public static func memberIdentifier(plan: String, memberID: Hash256) -> [String: Any] {
        ["system": memberSystemPrefix + plan, "value": memberID.hex]
    }
    /// Identifier system of an on-chain claim id.
    public static let claimSystem = "urn:careledger:claim"
    /// Identifier system of on-chain record ids.
    public static let recordSystem = "urn:careledger:record"
    /// Identifier system of ledger identities.
    public static let identitySystem = "urn:careledger:identity"
    /// X12 Claim Adjustment Reason Codes.
    public static let carcSystem = "https://x12.org/codes/claim-adjustment-reason-codes"
    /// CareLedger's own adjudication categories (one per adjustment reason).
    public static let adjustmentSystem = "urn:careledger:adjustment"
    static let adjudicationSystem = "http://terminology.hl7.org/CodeSystem/adjudication"
    /// ClaimResponse ids are `ledger-` and the first 56 hex digits of the claim id.
    public static let responsePrefix = "ledger-"

    /// What a FHIR Claim says, ready to sign as `claims.submit` once the patient is resolved.
    public struct Submission: Sendable {
        public var claimID: Hash256
        public var plan: String
        /// The member id the payer issued the patient (Claim.insurance.coverage.identifier).
        public var memberID: Hash256
        /// The Claim's patient reference ("Patient/<id>"), for the caller to resolve to a ledger patient.
        public var patientID: String
        public var currency: String
        /// SHA-256 of the Claim's JSON.
        public var claimHash: Hash256
        public var diagnoses: [String]
        public var items: [ClaimItem]

        /// The `claims.submit` call for `patient`.
        public func call(patient: IdentityID) -> ClaimsContract.Submit {
            ClaimsContract.Submit(claim: claimID, plan: plan, patient: patient, memberID: memberID, claimHash: claimHash, diagnoses: diagnoses,
                                  items: items)
        }
    }

    /// The on-chain id of a provider's claim: its identifier (or id) under the provider's id.
    public static func claimID(provider: IdentityID, key: String) -> Hash256 {
        Hash256.sha256(domain: "careledger/claim/v1", provider.bytes + Array(key.utf8))
    }

    /// Reads a FHIR Claim for submission by `provider`. `plan` and `memberID` override the plan and
    /// member id of Claim.insurance's coverage identifier. Each item must point at the record
    /// documenting it (item.encounter). `recordID` names the record of a FHIR reference
    /// (`FHIRService.recordID`: keyed at this node).
    public static func submission(_ claim: [String: Any], provider: IdentityID, plan override: String? = nil, memberID memberOverride: Hash256? = nil,
                                  recordID: (_ type: String, _ id: String) -> Hash256) throws(FHIRError) -> Submission {
        try FHIRJSON.validate(claim, expectedType: "Claim")
        guard (claim["use"] as? String ?? "claim") == "claim" else {
            throw .unprocessable("only Claim.use = claim is adjudicated (not \(claim["use"] ?? "") )", at: "Claim.use")
        }
        let key: String
        if let identifier = (claim["identifier"] as? [[String: Any]])?.first, let value = identifier["value"] as? String {
            key = "\(identifier["system"] as? String ?? "")|\(value)"
        } else if let id = claim["id"] as? String {
            key = "id|\(id)"
        } else {
            throw .unprocessable("a submitted Claim needs an identifier (or an id) so resubmissions can be recognized", at: "Claim.identifier")
        }
        guard let patientRef = (claim["patient"] as? [String: Any])?["reference"] as? String,
              let patient = FHIRJSON.parseReference(patientRef), patient.type == "Patient" else {
            throw .unprocessable("Claim.patient must reference Patient/<id>", at: "Claim.patient")
        }
        let (plan, memberID) = try coverage(of: claim, plan: override, memberID: memberOverride)
        var diagnoses: [String] = []
        for (index, diagnosis) in ((claim["diagnosis"] as? [[String: Any]]) ?? []).enumerated() {
            guard let coding = ((diagnosis["diagnosisCodeableConcept"] as? [String: Any])?["coding"] as? [[String: Any]])?.first,
                  let code = coding["code"] as? String else {
                throw .unprocessable("diagnosis \(index): a coded diagnosisCodeableConcept (ICD-10) is required", at: "Claim.diagnosis[\(index)]")
            }
            diagnoses.append(code)
        }
        var currency: String?
        var items: [ClaimItem] = []
        for (index, item) in ((claim["item"] as? [[String: Any]]) ?? []).enumerated() {
            let at = "Claim.item[\(index)]"
            guard let sequence = item["sequence"] as? Int else { throw .unprocessable("item \(index): sequence is required", at: at) }
            guard let code = (((item["productOrService"] as? [String: Any])?["coding"] as? [[String: Any]])?.first)?["code"] as? String else {
                throw .unprocessable("item \(index): productOrService needs a coding (CPT/HCPCS)", at: "\(at).productOrService")
            }
            let quantity = try (item["quantity"] as? [String: Any])?["value"].map { value throws(FHIRError) in
                try integer(value, at: "\(at).quantity")
            } ?? 1
            guard let price = item["unitPrice"] as? [String: Any], let value = price["value"] else {
                throw .unprocessable("item \(index): unitPrice is required", at: "\(at).unitPrice")
            }
            let itemCurrency = price["currency"] as? String ?? "USD"
            guard currency == nil || currency == itemCurrency else { throw .unprocessable("items use different currencies", at: "\(at).unitPrice") }
            currency = itemCurrency
            guard let served = (item["servicedDate"] as? String) ?? ((item["servicedPeriod"] as? [String: Any])?["start"] as? String),
                  let serviceMs = FHIRDateTime.milliseconds(served) else {
                throw .unprocessable("item \(index): servicedDate is required", at: "\(at).servicedDate")
            }
            guard let record = documentingRecord((item["encounter"] as? [[String: Any]])?.first, recordID: recordID) else {
                throw .unprocessable("item \(index): encounter must reference the record that documents the service (Encounter/<id>, or an identifier in \(recordSystem))",
                                     at: "\(at).encounter")
            }
            items.append(ClaimItem(sequence: Int64(sequence), code: code, quantity: quantity,
                                   unitPriceMinor: try minorUnits(value, currency: itemCurrency, at: "\(at).unitPrice.value"),
                                   serviceMs: serviceMs, record: record))
        }
        guard !items.isEmpty else { throw .unprocessable("a Claim to adjudicate has at least one item", at: "Claim.item") }
        let claimID = claimID(provider: provider, key: key)
        return Submission(claimID: claimID, plan: plan, memberID: memberID, patientID: patient.id, currency: currency ?? "USD",
                          claimHash: Hash256.sha256(FHIRJSON.data(claim)), diagnoses: diagnoses, items: items)
    }

    /// The plan and member id of the Claim's focal insurance (`memberIdentifier`), each unless given.
    static func coverage(of claim: [String: Any], plan: String?, memberID: Hash256?) throws(FHIRError) -> (String, Hash256) {
        let insurance = (claim["insurance"] as? [[String: Any]]) ?? []
        let focal = insurance.first { $0["focal"] as? Bool == true } ?? insurance.first
        let identifier = (focal?["coverage"] as? [String: Any])?["identifier"] as? [String: Any]
        let system = identifier?["system"] as? String ?? ""
        let named = system.hasPrefix(memberSystemPrefix) ? String(system.dropFirst(memberSystemPrefix.count)) : nil
        guard let plan = plan ?? named ?? (system == planSystem ? identifier?["value"] as? String : nil),
              let memberID = memberID ?? (named != nil ? (identifier?["value"] as? String).flatMap(Hash256.init(hex:)) : nil) else {
            throw .unprocessable("Claim.insurance.coverage.identifier must carry the member id the payer issued: system "
                                 + "\(memberSystemPrefix)<plan>, value 64 hex", at: "Claim.insurance.coverage.identifier")
        }
        return (plan, memberID)
    }

    /// The record a Reference points at: a FHIR resource on this ledger, or an on-chain record id.
    static func documentingRecord(_ reference: [String: Any]?, recordID: (_ type: String, _ id: String) -> Hash256) -> Hash256? {
        if let text = reference?["reference"] as? String, let parsed = FHIRJSON.parseReference(text) {
            return recordID(parsed.type, parsed.id)
        }
        guard let identifier = reference?["identifier"] as? [String: Any], identifier["system"] as? String == recordSystem,
              let hex = identifier["value"] as? String, hex.count == 64 else { return nil }
        return Hash256(hex: hex)
    }

    /// An amount in minor units as a decimal string ("150.00").
    public static func decimal(_ minor: Int64, _ currency: String) -> String {
        let digits = minorDigits(currency)
        guard digits > 0 else { return String(minor) }
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        let fraction = String(abs(minor) % scale)
        return "\(minor < 0 ? "-" : "")\(abs(minor) / scale).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
    }

    /// Decimal places of a currency's minor unit (ISO 4217): 0 for JPY/KRW and a few others, else 2.
    public static func minorDigits(_ currency: String) -> Int {
        ["JPY", "KRW", "ISK", "CLP", "VND", "XAF", "XOF", "UGX", "PYG"].contains(currency) ? 0 : 2
    }

    /// A FHIR decimal amount in minor units; refuses fractions of a minor unit and absurd sizes.
    public static func minorUnits(_ value: Any, currency: String, at: String) throws(FHIRError) -> Int64 {
        guard let number = jsonNumber(value) else { throw .unprocessable("\(at) must be a number", at: at) }
        let scale = pow(10.0, Double(minorDigits(currency)))
        let scaled = number.doubleValue * scale
        let rounded = scaled.rounded()
        guard abs(scaled - rounded) < 1e-6, abs(rounded) <= 1e15 else {
            throw .unprocessable("\(at) has more decimals than \(currency) has minor units, or is too large", at: at)
        }
        return Int64(rounded)
    }

    /// An integer value (quantity), refusing fractions.
    static func integer(_ value: Any, at: String) throws(FHIRError) -> Int64 {
        guard let number = jsonNumber(value), number.doubleValue == number.doubleValue.rounded(),
              abs(number.doubleValue) < 1e12 else { throw .unprocessable("\(at) must be a whole number", at: at) }
        return number.int64Value
    }

    /// A parsed JSON number (not a boolean, which Foundation also hands out as NSNumber).
    static func jsonNumber(_ value: Any) -> NSNumber? {
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        return number
    }

    /// A FHIR Money from minor units.
    public static func money(_ minor: Int64, _ currency: String) -> [String: Any] {
        let digits = minorDigits(currency)
        let value: Any = digits == 0 ? NSNumber(value: minor) : NSNumber(value: Double(minor) / pow(10.0, Double(digits)))
        return ["value": value, "currency": currency]
    }

    /// The FHIR id of a claim's response.
    public static func responseID(_ claim: Hash256) -> String { responsePrefix + claim.hex.prefix(56) }

    /// A ledger claim and its adjudication as a FHIR ClaimResponse. `patientID` is the FHIR
    /// Patient id when known (else the patient is named by ledger identity).
    public static func claimResponse(_ claim: ClaimEntry, currency: String, payer: IdentityID?, patientID: String?) -> [String: Any] {
        func category(_ code: String) -> [String: Any] { ["coding": [["system": adjudicationSystem, "code": code]]] }
        func adjudication(_ code: String, _ minor: Int64) -> [String: Any] { ["category": category(code), "amount": money(minor, currency)] }
        let items: [[String: Any]] = claim.lines.map { line in
            var entries = [adjudication("submitted", line.submittedMinor), adjudication("eligible", line.eligibleMinor)]
            for adjustment in line.adjustments {
                // The deductible has a standard category; every other adjustment is named in CareLedger's own system.
                let category = adjustment.reason == .deductible ? category("deductible")
                    : ["coding": [["system": adjustmentSystem, "code": adjustment.reason.rawValue]]]
                var entry: [String: Any] = [
                    "category": category,
                    "reason": ["coding": [["system": carcSystem, "code": adjustment.reason.carc]], "text": adjustment.reason.text],
                    "amount": money(adjustment.amountMinor, currency),
                ]
                if adjustment.units > 0 { entry["value"] = NSNumber(value: adjustment.units) }
                entries.append(entry)
            }
            entries.append(adjudication("benefit", line.payerMinor))
            return ["itemSequence": NSNumber(value: line.sequence), "adjudication": entries]
        }
        let disposition = switch claim.outcome {
        case .paid: "paid: every line allowed"
        case .partial: "partly paid: some lines or units denied (see item adjudication reasons)"
        case .denied: "denied: " + Set(claim.lines.flatMap { $0.adjustments.filter(\.reason.denies).map(\.reason.text) }).sorted().joined(separator: "; ")
        }
        var patient: [String: Any] = ["identifier": ["system": identitySystem, "value": claim.patient.hex]]
        if let patientID { patient["reference"] = "Patient/\(patientID)" }
        var resource: [String: Any] = [
            "resourceType": "ClaimResponse",
            "id": responseID(claim.id),
            "identifier": [["system": claimSystem, "value": claim.id.hex]],
            "status": "active",
            "type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"]]],
            "use": "claim",
            "patient": patient,
            "created": FHIRDateTime.instant(ms: claim.timeMs),
            "insurer": ["identifier": ["system": identitySystem, "value": (payer ?? .zero).hex]],
            "requestor": ["identifier": ["system": identitySystem, "value": claim.provider.hex]],
            "request": ["identifier": ["system": claimSystem, "value": claim.id.hex]],
            "outcome": "complete",
            "disposition": disposition,
            "item": items,
            "total": [adjudication("submitted", claim.submittedMinor), adjudication("eligible", claim.eligibleMinor),
                      adjudication("benefit", claim.payerMinor)],
            "insurance": [["sequence": 1, "focal": true,
                           "coverage": ["identifier": ["system": planSystem, "value": claim.plan]]]],
        ]
        if claim.paidMinor > 0, let last = claim.payments.last {
            resource["payment"] = [
                "type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/ex-paymenttype",
                                     "code": claim.paidMinor >= claim.payerMinor ? "complete" : "partial"]]],
                "date": String(FHIRDateTime.instant(ms: last.timeMs).prefix(10)),
                "amount": money(claim.paidMinor, currency),
                "identifier": ["system": "urn:careledger:remittance", "value": last.reference.hex],
            ]
        }
        return resource
    }
}
