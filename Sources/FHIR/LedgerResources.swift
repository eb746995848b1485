public import Contracts
import Foundation
public import LedgerCore

/// The healthcare contracts' on-chain objects as FHIR R4 resources, read-only, with ids
/// `ledger-…`: a trial as ResearchStudy (pre-registered endpoints as objectives, amendments,
/// outcome-switching flags as notes), a prescription as MedicationRequest (GTIN, refills, fills
/// used), a telehealth session as a virtual Encounter. Parties are named by ledger identity.
public enum LedgerResources {
    /// The FHIR id prefix of every ledger-derived resource.
    public static let prefix = "ledger-"
    /// GS1 GTIN code system.
    public static let gtinSystem = "https://www.gs1.org/gtin"

    static func identity(_ id: IdentityID) -> [String: Any] { ["identifier": ["system": ClaimMapping.identitySystem, "value": id.hex]] }

    /// A trial as a ResearchStudy.
    public static func researchStudy(_ trial: Trial, results: [TrialResult]) -> [String: Any] {
        let current = trial.current
        func objectives(_ codes: [String], _ type: String) -> [[String: Any]] {
            codes.map { ["name": $0, "type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/research-study-objective-type", "code": type]]]] }
        }
        var notes: [[String: Any]] = trial.versions.dropFirst().map { version in
            ["text": "protocol version \(version.version) (block \(version.height)): \(version.reason ?? "amended")"]
        }
        for result in results {
            if let flag = result.flag {
                notes.append(["text": "OUTCOME SWITCHING flagged on results report \(result.index): primary endpoints added \(flag.added.joined(separator: ", ")); dropped \(flag.dropped.joined(separator: ", ")); never pre-registered \(flag.neverRegistered.joined(separator: ", "))"])
            } else {
                notes.append(["text": "results report \(result.index) matches the pre-registered primary endpoints (protocol version \(result.protocolVersion))"])
            }
        }
        var study: [String: Any] = [
            "resourceType": "ResearchStudy",
            "id": prefix + trial.id,
            "identifier": [["system": "urn:careledger:trial", "value": trial.id],
                           ["system": "urn:careledger:protocol-hash", "value": current.protocolHash.hex]],
            "status": "active",
            "sponsor": identity(trial.sponsor),
            "site": current.sites.map { ["identifier": ["system": ClaimMapping.identitySystem, "value": $0.hex]] },
            "objective": objectives(current.primaryEndpoints, "primary") + objectives(current.secondaryEndpoints, "secondary"),
            "period": ["start": FHIRDateTime.instant(ms: trial.versions[0].timeMs)],
        ]
        if !notes.isEmpty { study["note"] = notes }
        return study
    }

    /// A prescription as a MedicationRequest (the prescriber's own MedicationRequest stays off-chain; its hash is an identifier).
    public static func medicationRequest(_ view: PrescriptionView, label: String?) -> [String: Any] {
        let rx = view.prescription
        var medication: [String: Any] = ["coding": [["system": gtinSystem, "code": rx.gtin]]]
        if let label { medication["text"] = label }
        return [
            "resourceType": "MedicationRequest",
            "id": prefix + rx.id.hex.prefix(56),
            "identifier": [["system": "urn:careledger:prescription", "value": rx.id.hex],
                           ["system": "urn:careledger:medication-request-hash", "value": rx.medicationRequestHash.hex]],
            "status": view.status == .active ? "active" : view.status == .completed ? "completed" : "cancelled",
            "intent": "order",
            "medicationCodeableConcept": medication,
            "subject": identity(rx.patient),
            "authoredOn": FHIRDateTime.instant(ms: rx.issuedMs),
            "requester": identity(rx.prescriber),
            "dispenseRequest": [
                "validityPeriod": ["start": FHIRDateTime.instant(ms: rx.issuedMs), "end": FHIRDateTime.instant(ms: rx.expiresMs)],
                "numberOfRepeatsAllowed": NSNumber(value: rx.refills),
                "quantity": ["value": NSNumber(value: rx.quantity), "unit": "unit"],
            ],
            "note": [["text": "fills used \(view.fillsUsed) of \(rx.fillsAllowed)" + view.fills.map { " · fill \($0.number) by \($0.pharmacy.hex.prefix(16))… at block \($0.height)" }.joined()]],
        ]
    }

    /// The FHIR id of fill `number` of a prescription: `ledger-<first 48 hex>-<number>` (ids are at most 64 characters).
    public static func dispenseID(_ prescription: Hash256, _ number: Int64) -> String { prefix + prescription.hex.prefix(48) + "-\(number)" }

    /// One fill of a prescription as a MedicationDispense: the pharmacy, the serialized units (SGTINs) handed over.
    public static func medicationDispense(_ view: PrescriptionView, fill: PrescriptionFill, label: String?) -> [String: Any] {
        let rx = view.prescription
        var medication: [String: Any] = ["coding": [["system": gtinSystem, "code": rx.gtin]]]
        if let label { medication["text"] = label }
        return [
            "resourceType": "MedicationDispense",
            "id": dispenseID(rx.id, fill.number),
            "identifier": fill.units.map { ["system": "urn:careledger:sgtin", "value": "(01)\($0.gtin)(21)\($0.serial)"] },
            "status": "completed",
            "medicationCodeableConcept": medication,
            "subject": identity(rx.patient),
            "performer": [["actor": identity(fill.pharmacy)]],
            "authorizingPrescription": [["reference": "MedicationRequest/\(prefix)\(rx.id.hex.prefix(56))"]],
            "quantity": ["value": NSNumber(value: fill.units.count), "unit": "unit"],
            "whenHandedOver": FHIRDateTime.instant(ms: fill.timeMs),
            "note": [["text": "fill \(fill.number) of \(rx.fillsAllowed), block \(fill.height)"]],
        ]
    }

    /// A telehealth session as a virtual Encounter.
    public static func encounter(_ session: TelehealthSession) -> [String: Any] {
        let status = switch session.status {
        case .opened: "planned"
        case .active: "in-progress"
        case .ended: "finished"
        case .noShow: "cancelled"
        }
        var period: [String: Any] = ["start": FHIRDateTime.instant(ms: session.startMs)]
        if let end = session.endMs { period["end"] = FHIRDateTime.instant(ms: end) }
        var identifiers: [[String: Any]] = [["system": "urn:careledger:telehealth-session", "value": session.id.hex],
                                            ["system": "urn:careledger:session-key-commitment", "value": session.keyCommitment.hex]]
        if let transcript = session.transcriptHash { identifiers.append(["system": "urn:careledger:transcript-hash", "value": transcript.hex]) }
        return [
            "resourceType": "Encounter",
            "id": prefix + session.id.hex.prefix(56),
            "identifier": identifiers,
            "status": status,
            "class": ["system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual"],
            "subject": identity(session.patient),
            "participant": [["individual": identity(session.clinician)]],
            "serviceProvider": identity(session.clinicianOrganization),
            "period": period,
        ]
    }
}
