public import Contracts
import Foundation
public import LedgerCore

/// Read models of the supply chain and prescriptions. A pack's standing and chain of custody is
/// what every party of the supply chain must be able to check, so any identity of the chain reads
/// products and serials; a prescription is read by its parties (`ReadRules`). Expiry and recall
/// are judged at the head block's time.
extension LedgerView {
    public func product(_ gtin: String) throws(ServiceError) -> JSONObject {
        guard let product = SupplyChainContract.product(gtin, in: state) else { throw .notFound("no product \(gtin.prefix(20))") }
        return ["gtin": product.gtin, "label": product.label, "manufacturer": product.manufacturer.hex, "height": product.height]
    }

    /// A serial's standing as of the head block.
    public func serialVerification(gtin: String, serial: String) throws(ServiceError) -> SerialVerification {
        guard GS1.isGTIN(gtin), GS1.isSerial(serial) else {
            throw ServiceError("a GTIN is 14 digits with a valid check digit; a serial 1–20 GS1 characters")
        }
        return SupplyChainContract.unit(gtin, serial, atMs: headTimeMs, in: state)
    }

    /// A serial's standing, custody and incidents as of the head block (any identity may ask), and
    /// the verdict `supply.verify` would reach at the head block for a pack printed with `lot` and
    /// `expiryMs` (nil: not compared) — without recording it.
    public func serial(gtin: String, serial: String, lot: String? = nil, expiryMs: Int64? = nil) throws(ServiceError) -> JSONObject {
        let unit = try serialVerification(gtin: gtin, serial: serial)
        var out = serialJSON(unit, incidents: SupplyChainContract.incidents(gtin: gtin, serial: serial, in: state))
        let verdict = Self.verdict(unit, printedLot: lot, printedExpiry: expiryMs)
        out["verdict"] = verdict.rawValue
        out["verdict_text"] = SupplyCLI.explain(verdict)
        out["as_of_ms"] = headTimeMs
        return out
    }

    /// The pack a scan names, checked as `serial(gtin:serial:lot:expiryMs:)` checks it.
    public func serial(scanned pack: ScannedPack) throws(ServiceError) -> JSONObject {
        var out = try serial(gtin: pack.sgtin.gtin, serial: pack.sgtin.serial, lot: pack.lot, expiryMs: pack.expiryMs)
        out["printed_lot"] = pack.lot ?? NSNull()
        out["printed_expiry_ms"] = pack.expiryMs.map { $0 as Any } ?? NSNull()
        return out
    }

    /// `SupplyChainContract.verdict` for a unit as the read model found it.
    static func verdict(_ unit: SerialVerification, printedLot: String?, printedExpiry: Int64?) -> VerificationVerdict {
        guard unit.known, let lot = unit.lot, let expiryMs = unit.expiryMs, let status = unit.status else { return .unknownSerial }
        return SupplyChainContract.verdict((lot: lot, expiryMs: expiryMs, status: status), printedLot: printedLot, printedExpiry: printedExpiry)
    }

    /// A prescription and its fills as its parties see it; its status as of the head block
    /// ("expired" once active past its expiry). `requester` nil is the node's operator (the CLI).
    public func prescription(_ id: Hash256, as requester: Identity?) async throws(ServiceError) -> JSONObject {
        guard let view = PrescriptionContract.prescription(id, in: state) else { throw .notFound("no prescription \(id.hex)") }
        let rx = view.prescription
        try await decide(requester, patient: rx.patient, object: id, purpose: .treatment, allowed: { ReadRules.mayReadPrescription(rx, $0, state) },
                         refusal: "only the patient, the prescriber's organization and pharmacists read a prescription")
        return prescriptionJSON(view)
    }

    /// A prescription and its fills as `prescription(_:as:)` shows it (the caller has decided and logged).
    func prescriptionJSON(_ view: PrescriptionView) -> JSONObject {
        let rx = view.prescription
        var names = Names(state)
        var out: JSONObject = [
            "id": rx.id.hex, "prescriber": names.hex(rx.prescriber), "organization": names.hex(rx.organization), "patient": rx.patient.hex,
            "medication_request_hash": rx.medicationRequestHash.hex, "gtin": rx.gtin,
            "product": SupplyChainContract.product(rx.gtin, in: state)?.label ?? NSNull(), "quantity": rx.quantity, "refills": rx.refills,
            "fills_allowed": rx.fillsAllowed, "issued_height": rx.issuedHeight, "issued_ms": rx.issuedMs, "expires_ms": rx.expiresMs,
            "status": SupplyCLI.status(view, atMs: headTimeMs), "fills_used": view.fillsUsed, "fills_remaining": view.fillsRemaining,
            "cancelled_height": rx.cancelledHeight.map { $0 as Any } ?? NSNull(), "cancelled_by": names.hex(rx.cancelledBy),
            "pharmacies": rx.pharmacies.map { $0.map { names.hex($0) } as Any } ?? NSNull(),
            "fills": view.fills.map { fill -> JSONObject in
                ["number": fill.number, "pharmacy": names.hex(fill.pharmacy), "by": names.hex(fill.by), "height": fill.height,
                 "time_ms": fill.timeMs, "units": fill.units.map { "\($0.gtin):\($0.serial)" }]
            },
        ]
        out["names"] = names.table
        return out
    }

    /// A verification request and its verdict (the record `supply.verify` leaves on-chain).
    public func verification(_ record: VerificationRecord) -> JSONObject {
        var names = Names(state)
        var out = Self.verificationJSON(record, &names)
        out["names"] = names.table
        return out
    }

    static func verificationJSON(_ record: VerificationRecord, _ names: inout Names) -> JSONObject {
        [
            "id": record.id.hex, "verdict": record.verdict.rawValue, "incident": record.isIncident, "gtin": record.sgtin.gtin,
            "serial": record.sgtin.serial, "organization": names.hex(record.organization), "requester": names.hex(record.requester),
            "marked_suspect": record.markedSuspect, "height": record.height, "time_ms": record.timeMs,
            "lot": record.lot ?? NSNull(), "expiry_ms": record.expiryMs.map { $0 as Any } ?? NSNull(),
        ]
    }

    func serialJSON(_ unit: SerialVerification, incidents: [VerificationRecord]) -> JSONObject {
        var names = Names(state)
        var out: JSONObject = [
            "gtin": unit.sgtin.gtin, "serial": unit.sgtin.serial, "sgtin": unit.sgtin.description, "known": unit.known,
            "in_good_standing": unit.isInGoodStanding, "status": unit.status?.rawValue ?? "unknown",
            "stored_status": unit.storedStatus?.rawValue ?? NSNull(), "product": SupplyChainContract.product(unit.sgtin.gtin, in: state)?.label ?? NSNull(),
            "lot": unit.lot ?? NSNull(), "expiry_ms": unit.expiryMs.map { $0 as Any } ?? NSNull(),
            "usable_through": unit.expiryMs.map { SupplyCLI.expiryDay($0) as Any } ?? NSNull(),
            "manufacturer": names.hex(unit.manufacturer), "owner": names.hex(unit.owner), "pending_recipient": names.hex(unit.pendingRecipient),
            "case": unit.caseSSCC ?? NSNull(), "recalled": unit.recall != nil,
            "recall": unit.recall.map { recall -> Any in
                ["reason": recall.reason.rawValue, "organization": names.hex(recall.organization), "height": recall.height, "time_ms": recall.timeMs]
            } ?? NSNull(),
            "incident_count": unit.incidentCount, "incidents": unit.incidents.map(\.hex),
            "incident_records": incidents.map { Self.verificationJSON($0, &names) },
            "custody": unit.custody.map { event -> JSONObject in
                ["kind": event.kind.rawValue, "from": names.hex(event.from), "to": names.hex(event.to), "detail": event.detail ?? NSNull(),
                 "height": event.height, "time_ms": event.timeMs]
            },
        ]
        out["names"] = names.table
        return out
    }
}

/// Collects display names (on-chain labels) for the ids a read model mentions.
struct Names {
    let names: SupplyNames
    private(set) var table: [String: String] = [:]

    init(_ state: any StateReader) { names = SupplyNames(state) }

    /// The id in hex (or null), remembering its display name.
    mutating func hex(_ id: IdentityID?) -> Any {
        guard let id else { return NSNull() }
        table[id.hex] = names.name(id)
        return id.hex
    }
}
