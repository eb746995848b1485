public import Contracts
import FHIR
import Foundation
public import LedgerCore

/// A FHIR MedicationRequest read from a file: its SHA-256 and the dispense values it states.
public struct MedicationRequestFile {
    public let hash: Hash256
    public let quantity: Int?
    public let refills: Int?

    public init(_ content: [UInt8], name: String) throws {
        let resource: [String: Any]
        do throws(FHIRError) {
            resource = try FHIRJSON.object(content)
            try FHIRJSON.validate(resource, expectedType: "MedicationRequest")
        } catch { throw ServiceError("\(name): \(error.diagnostics)") }
        hash = Hash256.sha256(content)
        let dispense = resource["dispenseRequest"] as? [String: Any]
        quantity = ((dispense?["quantity"] as? [String: Any])?["value"] as? NSNumber).flatMap { Int(exactly: $0.doubleValue) }
        refills = (dispense?["numberOfRepeatsAllowed"] as? NSNumber)?.intValue
    }

    /// The option's value, else the file's; both given must agree.
    public func resolve(_ option: Int?, _ stated: Int?, _ optionName: String, _ field: String) throws -> Int? {
        if let option, let stated, option != stated {
            throw ServiceError("\(optionName) \(option) disagrees with the MedicationRequest's \(field) \(stated)")
        }
        return option ?? stated
    }
}

/// Names identities for display by their on-chain labels (organizations and staff; patients have none).
public struct SupplyNames {
    public let reader: any StateReader

    public init(_ reader: any StateReader) { self.reader = reader }

    /// "corner-pharmacy", "pharmacist-lee (corner-pharmacy)", "patient 1a2b…", or a short id.
    public func name(_ id: IdentityID?) -> String {
        guard let id else { return "—" }
        guard let identity = Directory.identity(id, in: reader) else { return "\(id.hex.prefix(16))…" }
        switch identity.kind {
        case .patient: return "patient \(id.hex.prefix(16))…"
        case .organization: return identity.label.isEmpty ? "\(id.hex.prefix(16))…" : identity.label
        case .member, .device:
            let org = identity.organization.flatMap { Directory.identity($0, in: reader)?.label } ?? ""
            return identity.label + (org.isEmpty ? "" : " (\(org))")
        }
    }

    /// The JSON form: id and, when known, label.
    public func json(_ id: IdentityID?) -> Any {
        guard let id else { return NSNull() }
        return ["id": id.hex, "name": name(id)]
    }
}

/// Parsing and formatting shared by the supply and rx commands and the demo.
public enum SupplyCLI {
    /// Milliseconds in a day.
    public static let dayMs: Int64 = 86_400_000

    // MARK: parsing

    /// A GTIN-14; GTIN-8, -12 and -13 are zero-padded to 14 digits (the check digit is unchanged).
    public static func gtin(_ text: String, _ option: String) throws -> String {
        let digits = text.trimmingCharacters(in: .whitespaces)
        guard [8, 12, 13, 14].contains(digits.utf8.count), gs1CheckDigitValid(digits) else {
            throw ServiceError("\(option) “\(digits.prefix(24))” is not a GTIN-8/12/13/14 with a valid check digit")
        }
        return String(repeating: "0", count: GS1.gtinDigits - digits.utf8.count) + digits
    }

    /// A serial the ledger accepts, or a ServiceError.
    public static func checkSerial(_ serial: String) throws {
        guard GS1.isSerial(serial) else {
            throw ServiceError("serial “\(serial.prefix(24))” must be 1–\(GS1.serialBytesMax) letters, digits, '-', '.' or '_'")
        }
    }

    /// A lot number the ledger accepts.
    public static func lot(_ text: String) throws -> String {
        guard GS1.isSerial(text, maxBytes: GS1.lotBytesMax) else {
            throw ServiceError("lot “\(text.prefix(24))” must be 1–\(GS1.lotBytesMax) letters, digits, '-', '.' or '_'")
        }
        return text
    }

    /// An SSCC-18 with a valid check digit.
    public static func sscc(_ text: String) throws -> String {
        let digits = text.trimmingCharacters(in: .whitespaces)
        guard GS1.isSSCC(digits) else { throw ServiceError("“\(digits.prefix(24))” is not an SSCC-18 with a valid check digit") }
        return digits
    }

    /// Distinct SSCCs from comma-separated or repeated option values.
    public static func ssccs(_ values: [String]) throws -> [String] {
        var out: [String] = []
        for item in split(values) {
            let sscc = try sscc(item)
            guard !out.contains(sscc) else { throw ServiceError("case \(sscc) is listed twice") }
            out.append(sscc)
        }
        return out
    }

    /// One unit: "GTIN:SERIAL", a GS1 element string ("(01)GTIN(21)SERIAL…" or a DataMatrix's raw
    /// content, read by `GS1Scan`), or a bare serial of `gtin`.
    public static func sgtin(_ text: String, gtin: String?) throws -> SGTIN {
        let item = text.trimmingCharacters(in: .whitespaces)
        let parts: (gtin: String, serial: String)
        if GS1Scan.looksLikeElementString(item) {
            do throws(ServiceError) { return try GS1Scan.parse(item).sgtin } catch { throw ServiceError("unit “\(item.prefix(40))”: \(error.message)") }
        } else if let colon = item.firstIndex(of: ":") {
            parts = (String(item[..<colon]), String(item[item.index(after: colon)...]))
        } else if let gtin {
            parts = (gtin, item)
        } else {
            throw ServiceError("unit “\(item.prefix(40))” must be GTIN:SERIAL or (01)GTIN(21)SERIAL")
        }
        let unit = SGTIN(gtin: try self.gtin(parts.gtin, "unit “\(item.prefix(40))”: GTIN"), serial: parts.serial)
        try checkSerial(unit.serial)
        return unit
    }

    /// Distinct units from comma-separated (`commas`) or repeated option values.
    public static func units(_ values: [String], gtin: String?, commas: Bool = true) throws -> [SGTIN] {
        var out: [SGTIN] = []
        var seen = Set<SGTIN>()
        let items = commas ? split(values) : values.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for item in items {
            let unit = try sgtin(item, gtin: gtin)
            guard seen.insert(unit).inserted else { throw ServiceError("unit \(text(unit)) is listed twice") }
            out.append(unit)
        }
        return out
    }

    /// Option values split at commas, trimmed, empty items dropped.
    public static func split(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// An expiry day (YYYY-MM-DD) as the first millisecond after it: the unit is usable through that day.
    public static func expiryMs(_ text: String, _ option: String) throws -> Int64 { try day(text, option) + dayMs }

    /// The last day a unit expiring at `ms` is usable (YYYY-MM-DD, UTC).
    public static func expiryDay(_ ms: Int64) -> String { String(FHIRDateTime.instant(ms: ms - 1).prefix(10)) }

    /// "YYYY-MM-DDThh:mm:ssZ".
    public static func time(_ ms: Int64) -> String { FHIRDateTime.format(Date(timeIntervalSince1970: Double(ms) / 1_000)) }

    // MARK: formatting

    /// "GTIN:SERIAL", the form the commands accept.
    public static func text(_ unit: SGTIN) -> String { "\(unit.gtin):\(unit.serial)" }

    /// All serials when few, else the first and last.
    public static func summary(_ serials: [String]) -> String {
        serials.count <= 8 ? serials.joined(separator: ", ") : "\(serials[0]) … \(serials[serials.count - 1])"
    }

    /// "3 units", "1 case (4 units)", "2 units and 1 case (4 units)".
    public static func itemSummary(_ loose: Int, _ cases: Int, _ inCases: Int) -> String {
        var parts: [String] = []
        if loose > 0 { parts.append("\(loose) unit\(loose == 1 ? "" : "s")") }
        if cases > 0 { parts.append("\(cases) case\(cases == 1 ? "" : "s") (\(inCases) unit\(inCases == 1 ? "" : "s"))") }
        return parts.joined(separator: " and ")
    }

    /// What a verdict means, in a few words.
    public static func explain(_ verdict: VerificationVerdict) -> String {
        switch verdict {
        case .genuine: "commissioned, matching, and in good standing"
        case .unknownSerial: "this serial was never commissioned: possible counterfeit, do not dispense"
        case .lotMismatch: "the lot on the pack is not the lot this serial was commissioned in"
        case .expiryMismatch: "the expiry on the pack is not the commissioned expiry"
        case .dispensed: "already dispensed: a re-presented serial (possible diversion or reuse)"
        case .decommissioned: "decommissioned: a re-presented serial"
        case .recalled: "its lot is recalled"
        case .suspect: "quarantined as suspect product"
        case .expired: "past its expiry"
        }
    }

    /// The readable result of a verify transaction.
    public static func verdictLines(_ record: VerificationRecord, unit: SerialVerification, names: SupplyNames) -> [String] {
        if !record.isIncident {
            return ["GENUINE  \(record.sgtin)  lot \(unit.lot ?? "?"), usable through \(unit.expiryMs.map(expiryDay) ?? "?"), owner \(names.name(unit.owner))",
                    "  verification \(record.id.hex) recorded at block \(record.height)"]
        }
        var lines = ["INCIDENT \(record.verdict.rawValue)  \(record.sgtin): \(explain(record.verdict))",
                     "  incident \(record.id.hex) recorded at block \(record.height), reported by \(names.name(record.organization))"]
        if record.markedSuspect { lines.append("  the unit is now quarantined as suspect: it cannot be shipped or dispensed until cleared") }
        return lines
    }

    /// One custody event as a line.
    public static func line(_ event: CustodyEvent, names: SupplyNames) -> String {
        let from = names.name(event.from), to = names.name(event.to), detail = event.detail ?? ""
        let what: String
        switch event.kind {
        case .commissioned: what = "commissioned  by \(to), lot \(detail)"
        case .packed: what = "packed        by \(from) into case \(detail)"
        case .unpacked: what = "unpacked      by \(from) from case \(detail)"
        case .shipped: what = "shipped       \(from) → \(to)"
        case .received: what = "received      by \(to) from \(from)"
        case .quarantined: what = "quarantined   by \(from) (\(detail))"
        case .flagged: what = "flagged       by \(from): verification verdict \(detail)"
        case .cleared: what = "cleared       by \(from)"
        case .decommissioned: what = "decommissioned by \(from) (\(detail))"
        case .dispensed: what = "dispensed     by \(from), prescription \(detail.prefix(16))…"
        }
        return "block \(pad(String(event.height), 5)) \(time(event.timeMs))  \(what)"
    }

    /// The readable trace of a serial.
    public static func traceLines(_ unit: SerialVerification, incidents: [VerificationRecord], names: SupplyNames,
                           reader: any StateReader) -> [String] {
        var lines: [String] = []
        let product = SupplyChainContract.product(unit.sgtin.gtin, in: reader)
        lines.append("\(unit.sgtin)\(product.map { "  \($0.label)" } ?? "")")
        if unit.known, let status = unit.status {
            let standing = unit.isInGoodStanding ? "in good standing" : "NOT in good standing"
            lines.append("  status        \(status.rawValue) (\(standing))")
            lines.append("  owner         \(names.name(unit.owner))")
            if let pending = unit.pendingRecipient { lines.append("  in transit to \(names.name(pending))") }
            lines.append("  manufacturer  \(names.name(unit.manufacturer))")
            lines.append("  lot           \(unit.lot ?? "?"), usable through \(unit.expiryMs.map(expiryDay) ?? "?")")
            if let sscc = unit.caseSSCC { lines.append("  case          \(sscc)") }
            if let recall = unit.recall {
                lines.append("  RECALLED      \(recall.reason.rawValue), by \(names.name(recall.organization)) at block \(recall.height)")
            }
            lines.append("  chain of custody (\(unit.custody.count) event\(unit.custody.count == 1 ? "" : "s")):")
            for event in unit.custody { lines.append("    " + line(event, names: names)) }
        } else {
            lines.append("  UNKNOWN: this serial was never commissioned on this ledger — possible counterfeit")
        }
        if unit.incidentCount == 0 {
            lines.append("  incidents: none")
        } else {
            lines.append("  incidents (\(unit.incidentCount)):")
            for record in incidents {
                lines.append("    block \(pad(String(record.height), 5)) \(time(record.timeMs))  \(record.verdict.rawValue), reported by \(names.name(record.organization)) (\(record.id.hex.prefix(16))…)")
            }
        }
        return lines
    }

    /// A prescription's status as of `atMs` ("expired" when active past its expiry).
    public static func status(_ view: PrescriptionView, atMs: Int64) -> String {
        view.status == .active && view.prescription.isExpired(atMs: atMs) ? "expired" : view.status.rawValue
    }

    /// The readable form of a prescription.
    public static func prescriptionLines(_ view: PrescriptionView, names: SupplyNames, reader: any StateReader, atMs: Int64) -> [String] {
        let p = view.prescription
        let product = SupplyChainContract.product(p.gtin, in: reader)?.label
        var lines = [
            "prescription \(p.id.hex) — \(status(view, atMs: atMs)) (\(view.fillsUsed) of \(p.fillsAllowed) fills used, \(view.fillsRemaining) left)",
            "  prescriber    \(names.name(p.prescriber))",
            "  patient       \(p.patient.hex)",
            "  product       \(p.gtin)\(product.map { " \($0)" } ?? ""): \(p.quantity) unit\(p.quantity == 1 ? "" : "s") per fill, \(p.refills) refill\(p.refills == 1 ? "" : "s")",
            "  issued        block \(p.issuedHeight), \(time(p.issuedMs)); expires \(time(p.expiresMs))",
            "  request       MedicationRequest SHA-256 \(p.medicationRequestHash.hex)",
        ]
        if let height = p.cancelledHeight { lines.append("  cancelled     block \(height) by \(names.name(p.cancelledBy))") }
        for fill in view.fills {
            lines.append("  fill \(fill.number)        block \(fill.height), \(time(fill.timeMs)), \(names.name(fill.by)): \(fill.units.map(\.serial).joined(separator: ", "))")
        }
        return lines
    }

}

/// A calendar day (YYYY-MM-DD) as milliseconds at its start (UTC).
public func day(_ text: String, _ option: String) throws -> Int64 {
    guard text.count == 10, let ms = FHIRDateTime.milliseconds(text) else { throw ServiceError("\(option) must be a date YYYY-MM-DD") }
    return ms
}
