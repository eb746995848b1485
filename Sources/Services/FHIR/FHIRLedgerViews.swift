public import Contracts
public import FHIR
import Foundation
public import LedgerCore
public import Node
import Storage

/// The ledger's own objects seen as FHIR resources: the access log as IHE BALP AuditEvents, and
/// each on-chain record version as a Provenance (who wrote it, when, in which block, with which
/// signature).
extension FHIRService {
    public static let identitySystem = ClaimMapping.identitySystem
    public static let recordSystem = ClaimMapping.recordSystem
    public static let blockExtension = "https://careledger.org/fhir/StructureDefinition/ledger-block"
    public static let transactionExtension = "https://careledger.org/fhir/StructureDefinition/ledger-transaction"

    /// The organization operating this server (the audit source).
    public var observerID: IdentityID { access.custodianIDs.first ?? .zero }

    /// May `requester` read the access log of `patient`? The patient, or the staff of a
    /// custodian held here with the auditor or admin role (or the organization itself).
    public func mayReadAuditLog(of patient: IdentityID, requester: Identity) -> Bool {
        ReadRules.mayReadAccessLog(of: patient, requester, custodians: Set(access.custodianIDs), state)
    }

    /// The access log of a FHIR patient as BALP AuditEvents, oldest first, one page.
    public func auditEvents(patientID: String, requester: Identity, offset: Int, count: Int) throws(FHIRError) -> (total: Int, events: [[String: Any]]) {
        // Who may not read the log hears what they would hear of a Patient that does not exist (finding 12).
        guard let patient = RecordIndex.current(recordID(type: "Patient", id: patientID), in: state), patient.resourceType == "Patient",
              mayReadAuditLog(of: patient.patient, requester: requester) else {
            throw .notFound("Patient/\(patientID) is not known here, or you do not read its access log (the patient and the custodian's auditors do)")
        }
        let entries: [(index: UInt64, entry: AuditEntry)]
        do { entries = try access.accessLog(patient: patient.patient, readBy: requester, limit: 100_000) } catch {
            throw FHIRError(500, "exception", "\(error)")
        }
        let page = entries.dropFirst(offset).prefix(count)
        return (entries.count, page.map { Self.auditEvent(index: $0.index, entry: $0.entry, patientID: patientID, node: observerID) })
    }

    /// One ledger audit entry by id `audit-N`.
    public func auditEvent(id: String, requester: Identity) throws(FHIRError) -> [String: Any] {
        guard id.hasPrefix("audit-"), let index = UInt64(id.dropFirst(6)) else { throw .notFound("AuditEvent/\(id) is not known") }
        let stored: StoredAuditEntry?
        do { stored = try access.vault.auditEntry(index) } catch { throw FHIRError(500, "exception", "\(error)") }
        guard let stored, let entry = AuditEntry(decoding: stored.bytes) else { throw .notFound("AuditEvent/\(id) is not known") }
        guard mayReadAuditLog(of: entry.patient, requester: requester),
              ReadRules.mayReadAccessLogEntry(about: entry.record, of: entry.patient, requester, state) else {
            throw .forbidden("only the patient or the custodian's auditors read this access log")
        }
        return Self.auditEvent(index: index, entry: entry, patientID: nil, node: observerID)
    }

    /// BALP (IHE Basic Audit Log Patterns) PatientRead for one decision.
    public static func auditEvent(index: UInt64, entry: AuditEntry, patientID: String?, node: IdentityID) -> [String: Any] {
        var patientEntity: [String: Any] = [
            "type": ["system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"],
            "role": ["system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"],
        ]
        if let patientID { patientEntity["what"] = ["reference": "Patient/\(patientID)"] } else {
            patientEntity["what"] = ["identifier": ["system": identitySystem, "value": entry.patient.hex]]
        }
        var event: [String: Any] = [
            "resourceType": "AuditEvent",
            "id": "audit-\(index)",
            "meta": ["profile": ["https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"]],
            "type": ["system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "Restful Operation"],
            "subtype": [["system": "http://hl7.org/fhir/restful-interaction", "code": "read", "display": "read"]],
            "action": "R",
            "recorded": FHIRDateTime.instant(ms: entry.timeMs),
            "outcome": entry.outcome == .deny ? "4" : "0",
            "outcomeDesc": "\(entry.outcome.rawValue): \(entry.reason.text) (\(entry.reason.rawValue))",
            "purposeOfEvent": [["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": entry.purpose.rawValue]]]],
            "agent": [
                ["type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP",
                                      "display": "information recipient"]]],
                 "who": ["identifier": ["system": identitySystem, "value": entry.requester.hex]], "requestor": true],
                ["type": ["coding": [["system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110153", "display": "Source Role ID"]]],
                 "who": ["identifier": ["system": identitySystem, "value": node.hex]], "requestor": false],
            ],
            "source": ["observer": ["identifier": ["system": identitySystem, "value": node.hex]],
                       "type": [["system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"]]],
            "entity": [
                patientEntity,
                ["what": ["identifier": ["system": recordSystem, "value": entry.record.hex]],
                 "type": ["system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"],
                 "role": ["system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4", "display": "Domain Resource"]],
            ],
        ]
        if entry.outcome == .breakGlass {
            event["purposeOfEvent"] = [["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"]]],
                                       ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG", "display": "break the glass"]]]]
        }
        return event
    }

    /// Provenance of every version of a resource the requester may read (read and logged like
    /// any read): the author and custodian, the block time and height, the ledger transaction and
    /// its Ed25519 signature.
    public func provenance(type: String, id: String, requester: Identity, purpose: Purpose) async throws(FHIRError) -> [[String: Any]] {
        let versions = try await history(type: type, id: id, query: HistoryQuery(count: .max), requester: requester, purpose: purpose).versions
        var out: [[String: Any]] = []
        for version in versions {
            let entry = version.entry
            var provenance: [String: Any] = [
                "resourceType": "Provenance",
                "id": "\(entry.record.hex.prefix(40))-\(entry.version)",
                "target": [["reference": "\(type)/\(id)/_history/\(entry.version)"]],
                "recorded": FHIRDateTime.instant(ms: entry.timeMs),
                "activity": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                         "code": entry.version == 1 ? "CREATE" : "UPDATE"]]],
                "agent": [
                    ["type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author"]]],
                     "who": ["identifier": ["system": Self.identitySystem, "value": entry.author.hex]]],
                    ["type": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "custodian"]]],
                     "who": ["identifier": ["system": Self.identitySystem, "value": entry.custodian.hex]]],
                ],
                "extension": [["url": Self.blockExtension, "valueUnsignedInt": Int(entry.height)]],
            ]
            if let transaction = try? registration(of: entry) {
                provenance["extension"] = [["url": Self.blockExtension, "valueUnsignedInt": Int(entry.height)],
                                           ["url": Self.transactionExtension, "valueString": transaction.id.hex]]
                provenance["signature"] = [[
                    "type": [["system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1", "display": "Author's Signature"]],
                    "when": FHIRDateTime.instant(ms: entry.timeMs),
                    "who": ["identifier": ["system": Self.identitySystem, "value": transaction.body.sender.hex]],
                    "sigFormat": "application/octet-stream",
                    "data": Data(transaction.signature).base64EncodedString(),
                ]]
            }
            out.append(provenance)
        }
        return out
    }

    /// The ledger transaction that registered a record version (found in its block).
    public func registration(of entry: RecordEntry) throws -> Transaction? {
        guard let block = try node.store.rawBlock(height: entry.height) else { return nil }
        for bytes in block.transactionBytes {
            let transaction = try Transaction(decoding: bytes)
            guard transaction.body.contract == RecordsContract.Method.contract else { continue }
            // A private registration (a consortium node's): its shared writes name the version.
            if let endorsed = EndorsedCall(args: transaction.body.args) {
                if RecordIndex.registers(entry.record, version: entry.version, in: endorsed.proposal.writes) { return transaction }
                continue
            }
            let registrations: [RecordsContract.Register]
            switch RecordsContract.Method(rawValue: transaction.body.method) {
            case .registerMany?: registrations = (try? RecordsContract.RegisterMany(args: transaction.body.args))?.entries ?? []
            case .register?: registrations = (try? RecordsContract.Register(args: transaction.body.args)).map { [$0] } ?? []
            default: registrations = []
            }
            for item in registrations where item.record == entry.record && item.version == Int64(entry.version) {
                return transaction
            }
        }
        return nil
    }
}
