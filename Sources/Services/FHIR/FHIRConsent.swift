public import Contracts
public import FHIR
import Foundation
public import LedgerCore
import Node
import Storage

/// FHIR Consent ↔ ledger consent. A Consent the patient (or a delegate) creates through FHIR is
/// signed as `consent.grant` with the patient's key — when this server holds it (patients
/// registered through FHIR) — and enforced from the next block; any other Consent is a record.
/// Ledger consents read back as Consent resources with ids `ledger-<consent id>`.
extension FHIRService {
    public static let roleSystem = "urn:careledger:role"
    public static let consentPrefix = "ledger-"

    /// The ledger patient behind a FHIR Patient id.
    public func ledgerPatient(_ patientID: String) throws(FHIRError) -> IdentityID {
        guard let patient = recordIDs.ledgerPatient(patientID, in: state) else { throw .notFound("Patient/\(patientID) is not known") }
        return patient
    }

    /// The patient's ledger consents as FHIR Consents (the patient and delegates only).
    public func ledgerConsents(patientID: String, requester: Identity) throws(FHIRError) -> [[String: Any]] {
        let patient = try ledgerPatient(patientID)
        guard ReadRules.isPatientSide(patient, requester, state) else { return [] }
        let rows: [(key: String, value: [UInt8])]
        do { rows = try node.store.states(prefix: ConsentIndex.grantPrefix(patient), after: nil, limit: ConsentContract.perPatientMax * 4) } catch {
            throw FHIRError(500, "exception", "\(error)")
        }
        return rows.compactMap { row in
            guard let id = Hash256(hex: String(row.key.dropFirst(ConsentIndex.grantPrefix(patient).count))),
                  let consent = ConsentIndex.decodeConsent(id, row.value) else { return nil }
            return Self.fhirConsent(consent, patientID: patientID)
        }
    }

    /// One ledger consent by FHIR id `ledger-<first 56 hex of the consent id>`, for its patient.
    public func ledgerConsent(id: String, requester: Identity) throws(FHIRError) -> (resource: [String: Any], consent: ConsentEntry) {
        let prefix = String(id.dropFirst(Self.consentPrefix.count))
        guard prefix.count == 56, prefix.allSatisfy(\.isHexDigit) else { throw .notFound("Consent/\(id)") }
        let rows: [(key: String, value: [UInt8])]
        do { rows = try node.store.states(prefix: ConsentIndex.grantPrefix(requester.id) + prefix, after: nil, limit: 2) } catch {
            throw FHIRError(500, "exception", "\(error)")
        }
        guard rows.count == 1, let consentID = Hash256(hex: String(rows[0].key.dropFirst(ConsentIndex.grantPrefix(requester.id).count))),
              let consent = ConsentIndex.decodeConsent(consentID, rows[0].value) else { throw .notFound("Consent/\(id) is not a consent of yours") }
        return (Self.fhirConsent(consent, patientID: nil), consent)
    }

    /// True when a Consent being created is the patient's own (or their delegate's): it then goes to the ledger.
    public func isPatientSide(_ resource: [String: Any], requester: Identity) -> Bool {
        guard let reference = (resource["patient"] as? [String: Any])?["reference"] as? String,
              let parsed = FHIRJSON.parseReference(reference), parsed.type == "Patient",
              let patient = try? ledgerPatient(parsed.id) else { return false }
        return ReadRules.isPatientSide(patient, requester, state)
    }

    /// Grants a ledger consent from a FHIR Consent created by its patient (or a delegate).
    public func grantConsent(_ resource: [String: Any], requester: Identity) async throws(FHIRError) -> [String: Any] {
        try FHIRJSON.validate(resource, expectedType: "Consent")
        try FHIRJSON.conform(resource)
        guard let patientRef = (resource["patient"] as? [String: Any])?["reference"] as? String,
              let parsed = FHIRJSON.parseReference(patientRef), parsed.type == "Patient" else {
            throw .invalid("Consent.patient must reference Patient/id", at: "Consent.patient")
        }
        let patient = try ledgerPatient(parsed.id)
        guard ReadRules.isPatientSide(patient, requester, state) else {
            throw .forbidden("only the patient or a delegate grants consent")
        }
        guard let keys = patientKeys.keys(of: requester.id) else {
            throw .unprocessable("this server does not hold your key: sign consent.grant yourself and POST it to /v1/txs")
        }
        let provision = resource["provision"] as? [String: Any] ?? [:]
        guard (provision["type"] as? String ?? "permit") == "permit" else { throw .notSupported("only permit provisions are enforced") }
        let actors = (provision["actor"] as? [[String: Any]]) ?? []
        guard actors.count == 1, let identifier = (actors[0]["reference"] as? [String: Any])?["identifier"] as? [String: Any],
              let system = identifier["system"] as? String, let value = identifier["value"] as? String else {
            throw .invalid("provision.actor: exactly one actor with reference.identifier (\(Self.identitySystem) or \(Self.roleSystem))",
                           at: "Consent.provision.actor")
        }
        let member: Grantee?
        if system == Self.roleSystem {
            member = nil
        } else if system == Self.identitySystem, let id = Hash256(hex: value), let identity = Directory.identity(id, in: state) {
            member = identity.kind == .organization ? .organization(id) : .member(id)
        } else {
            throw .invalid("provision.actor names no identity on this ledger", at: "Consent.provision.actor")
        }
        let purposes = ((provision["purpose"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String }
        let actionCodes = ((provision["action"] as? [[String: Any]]) ?? []).flatMap { (($0["coding"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String } }
        let actions = actionCodes.map { $0 == "correct" ? "contribute" : $0 == "access" ? "read" : $0 }
        let classes = ((provision["class"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String }
        let labels = ((provision["securityLabel"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String }
        let categories = labels.compactMap { FHIRSensitivity.codes[$0] }
        guard categories.count == labels.count else { throw .invalid("unknown securityLabel code", at: "Consent.provision.securityLabel") }
        let records = ((provision["data"] as? [[String: Any]]) ?? []).compactMap { (($0["reference"] as? [String: Any])?["reference"] as? String).flatMap(FHIRJSON.parseReference) }
        let period = provision["period"] as? [String: Any]
        // The role, purpose and action names are read last, as the contract reads them: a malformed resource is reported first.
        let grantee: Grantee
        if let member { grantee = member } else { grantee = .role(try Self.argumentName(value)) }
        let grant = ConsentContract.Grant(
            patient: patient, grantee: grantee,
            categories: categories.isEmpty ? nil : Array(Set(categories)).sorted { $0.rawValue < $1.rawValue },
            resourceTypes: classes.isEmpty ? nil : classes,
            records: records.isEmpty ? nil : records.map { recordID(type: $0.type, id: $0.id) },
            purposes: try (purposes.isEmpty ? ["TREAT"] : purposes).map { code throws(FHIRError) in try Self.argumentName(code) },
            actions: try (actions.isEmpty ? ["read"] : actions).map { code throws(FHIRError) in try Self.argumentName(code) },
            startMs: (period?["start"] as? String).flatMap(FHIRDateTime.range).map { Self.milliseconds($0.lo) },
            endMs: (period?["end"] as? String).flatMap(FHIRDateTime.range).map { Self.milliseconds($0.lo) })
        let ids = try await submitAndAwait([UnsignedCall(keys, call: grant)])
        // A consent's id is the id of the transaction that granted it.
        guard let id = ids.last, let consent = ConsentIndex.consent(id, patient: patient, in: state) else {
            throw FHIRError(500, "exception", "the committed consent is not in state")
        }
        return Self.fhirConsent(consent, patientID: parsed.id)
    }

    /// Revokes a ledger consent (DELETE Consent/ledger-<hex>) with the patient's held key.
    public func revokeConsent(id: String, requester: Identity) async throws(FHIRError) {
        let (_, consent) = try ledgerConsent(id: id, requester: requester)
        guard !consent.isRevoked else { throw .gone("Consent/\(id) is already revoked") }
        let consentID = consent.id, patient = consent.patient
        guard let keys = patientKeys.keys(of: requester.id) else {
            throw .unprocessable("this server does not hold your key: sign consent.revoke yourself and POST it to /v1/txs")
        }
        try await commit([UnsignedCall(keys, call: ConsentContract.Revoke(patient: patient, consent: consentID))])
    }

    /// A role, purpose or action code read as the contract reads it: an unknown one is the contract's refusal.
    static func argumentName<Name: ArgumentName>(_ code: String) throws(FHIRError) -> Name {
        do { return try Name(argument: code) } catch { throw map(error.code.name, error.message) }
    }

    public static func milliseconds(_ normalized: String) -> Int64 { FHIRDateTime.milliseconds(normalized) ?? 0 }

    public static func fhirConsent(_ consent: ConsentEntry, patientID: String?) -> [String: Any] {
        var actorReference: [String: Any]
        switch consent.grantee {
        case .member(let id), .organization(let id): actorReference = ["identifier": ["system": identitySystem, "value": id.hex]]
        case .role(let role): actorReference = ["identifier": ["system": roleSystem, "value": role.rawValue]]
        }
        var provision: [String: Any] = [
            "type": "permit",
            "actor": [["role": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"]]],
                       "reference": actorReference]],
            "action": consent.actions.map { ["coding": [["system": "http://terminology.hl7.org/CodeSystem/consentaction",
                                                          "code": $0 == .read ? "access" : "correct"]]] },
            "purpose": consent.purposes.map { ["system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": $0.rawValue] },
        ]
        var period: [String: Any] = ["start": FHIRDateTime.instant(ms: consent.startMs)]
        if let end = consent.endMs { period["end"] = FHIRDateTime.instant(ms: end) }
        provision["period"] = period
        if !consent.scope.resourceTypes.isEmpty {
            provision["class"] = consent.scope.resourceTypes.map { ["system": "http://hl7.org/fhir/resource-types", "code": $0] }
        }
        if !consent.scope.categories.isEmpty {
            provision["securityLabel"] = consent.scope.categories.compactMap { FHIRSensitivity.label(for: $0) }
        }
        if !consent.scope.records.isEmpty {
            provision["data"] = consent.scope.records.map { ["meaning": "instance", "reference": ["identifier": ["system": recordSystem, "value": $0.hex]]] }
        }
        if (provision["securityLabel"] as? [Any])?.isEmpty == true { provision["securityLabel"] = nil }
        var patient: [String: Any] = ["identifier": ["system": identitySystem, "value": consent.patient.hex]]
        if let patientID { patient["reference"] = "Patient/\(patientID)" }
        return [
            "resourceType": "Consent",
            "id": consentPrefix + consent.id.hex.prefix(56),
            "status": consent.isRevoked ? "inactive" : "active",
            "scope": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"]]],
            "category": [["coding": [["system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"]]]],
            "patient": patient,
            "performer": [["identifier": ["system": identitySystem, "value": consent.grantor.hex]]],
            "policyRule": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"]]],
            "provision": provision,
        ]
    }
}
