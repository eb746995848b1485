import Contracts
import Foundation
import LedgerCore

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

    public func serial(gtin: String, serial: String) throws(ServiceError) -> JSONObject {
        Self.serialJSON(try serialVerification(gtin: gtin, serial: serial))
    }

    public func prescription(_ id: Hash256, as requester: Identity?) throws(ServiceError) -> JSONObject {
        guard let view = PrescriptionContract.prescription(id, in: state) else { throw .notFound("no prescription \(id.hex)") }
        let rx = view.prescription
        if let requester, !ReadRules.mayReadPrescription(rx, requester, state) {
            throw .forbidden("only the patient, the prescriber's organization and pharmacists read a prescription")
        }
        return [
            "id": rx.id.hex, "prescriber": rx.prescriber.hex, "organization": rx.organization.hex, "patient": rx.patient.hex,
            "medication_request_hash": rx.medicationRequestHash.hex, "gtin": rx.gtin, "quantity": rx.quantity, "refills": rx.refills,
            "expires_ms": rx.expiresMs, "status": view.status.rawValue, "fills_used": view.fillsUsed, "fills_remaining": view.fillsRemaining,
            "fills": view.fills.map { fill -> JSONObject in
                ["number": fill.number, "pharmacy": fill.pharmacy.hex, "by": fill.by.hex, "height": fill.height, "time_ms": fill.timeMs,
                 "units": fill.units.map { "\($0.gtin):\($0.serial)" }]
            },
        ]
    }

    static func serialJSON(_ unit: SerialVerification) -> JSONObject {
        func id(_ value: IdentityID?) -> Any { value?.hex ?? NSNull() }
        return [
            "gtin": unit.sgtin.gtin, "serial": unit.sgtin.serial, "known": unit.known, "in_good_standing": unit.isInGoodStanding,
            "status": unit.status?.rawValue ?? "unknown", "lot": unit.lot ?? NSNull(), "expiry_ms": unit.expiryMs.map { $0 as Any } ?? NSNull(),
            "manufacturer": id(unit.manufacturer), "owner": id(unit.owner), "pending_recipient": id(unit.pendingRecipient),
            "case": unit.caseSSCC ?? NSNull(), "recalled": unit.recall != nil, "incident_count": unit.incidentCount,
            "incidents": unit.incidents.map(\.hex),
            "custody": unit.custody.map { event -> JSONObject in
                ["kind": event.kind.rawValue, "from": id(event.from), "to": id(event.to), "detail": event.detail ?? NSNull(),
                 "height": event.height, "time_ms": event.timeMs]
            },
        ]
    }
}
