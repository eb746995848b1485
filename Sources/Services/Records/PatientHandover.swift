public import Contracts
import Crypto
import Foundation
import Storage
public import LedgerCore
import Node
public import Vault

/// The keys a custodian's node generated for a patient registered over FHIR, handed to her: a
/// `handover` key file (`PatientKeyFile`, the format the portal's browser code opens) sealed under
/// a one-time code the desk tells her in person. With it her browser signs `membership.rotateKey`
/// to keys only it holds; once that commits, the node forgets its copy (`forgetSupersededKeys`).
public struct PatientHandover: Sendable {
    public let patient: IdentityID
    /// Five groups of four Crockford base-32 characters (100 bits), e.g. `7KQ2-M0XD-…`.
    public let code: String
    public let file: PatientKeyFile
}

extension FHIRService {
    /// Who may hand a patient's keys over: the custodian organization itself, or its admins.
    public static func mayHandOverKeys(_ requester: Identity, custodians: Set<IdentityID>, _ state: some StateReader) -> Bool {
        guard ReadRules.isCustodianStaff(requester, custodians: custodians) else { return false }
        return requester.kind == .organization || Directory.effectiveRoles(of: requester, in: state).contains(.admin)
    }

    /// Seals the held keys of the patient `reference` (a FHIR Patient id, or a 64-hex ledger id)
    /// into a handover file under a fresh one-time code. Refused: a requester who is not the
    /// custodian or one of its admins; a patient this node holds no keys for; a patient whose
    /// registered key is no longer the held one (she already took control).
    public func handOver(patient reference: String, requester: Identity) throws(ServiceError) -> PatientHandover {
        guard Self.mayHandOverKeys(requester, custodians: Set(access.custodianIDs), state) else {
            throw .forbidden("only a custodian organization held by this node, or its admins, hand a patient's keys over")
        }
        let text = reference.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.utf8.count <= 128 else { throw ServiceError("give the patient's FHIR id or ledger id (at most 128 characters)") }
        let patient: IdentityID
        if text.utf8.count == 64, let id = Hash256(hex: text.lowercased()) {
            patient = id
        } else {
            do { patient = try ledgerPatient(text) } catch { throw .notFound("no patient Patient/\(text) at this node") }
        }
        guard let identity = Directory.identity(patient, in: state), identity.kind == .patient else {
            throw .notFound("\(patient.hex.prefix(16))… is not a patient on this ledger")
        }
        // Her custodian: the organization whose Patient resource registered her here (its write made
        // her keys), not any custodian this node serves.
        guard let organization = ReadRules.organization(of: requester), holdsPatientResource(of: patient, custodian: organization) else {
            throw .forbidden("only her custodian (the organization that registered her Patient resource on this node), or its admins, hand her keys over")
        }
        guard let keys = patientKeys.keys(of: patient) else {
            throw ServiceError(.conflict, "this node holds no keys for that patient: she registered with keys of her own, or already took control")
        }
        guard identity.signingKey == keys.signingPublicKey else {
            throw ServiceError(.conflict, "that patient already rotated to keys of her own; the node's copy no longer signs for her")
        }
        let code = Self.handoverCode()
        do {
            return PatientHandover(patient: patient, code: code,
                                   file: try PatientKeyFile.seal(.init(kind: .handover, keys: keys), id: patient, passphrase: code))
        } catch {
            throw ServiceError(.unavailable, "the handover file could not be sealed: \(error)")
        }
    }

    /// Whether `custodian` holds a Patient resource of `patient` on this node.
    func holdsPatientResource(of patient: IdentityID, custodian: IdentityID) -> Bool {
        guard let records = try? access.vault.records(patient: patient, limit: 10_000) else { return false }
        return records.contains { record in
            RecordIndex.current(record, in: state).map { $0.resourceType == "Patient" && $0.custodian == custodian && !$0.isErased } ?? false
        }
    }

    /// Forgets the held keys of every patient in `senders` who rotated to keys of her own (her
    /// registered key is no longer the held one). The node runs it on every committed block; the
    /// count forgotten.
    @discardableResult
    public func forgetSupersededKeys(of senders: some Sequence<IdentityID>) throws -> Int {
        var forgotten = 0
        for sender in Set(senders) where patientKeys.holds(sender) {
            guard let identity = Directory.identity(sender, in: state), identity.kind == .patient, identity.keyVersion > 1,
                  let held = patientKeys.keys(of: sender), held.signingPublicKey != identity.signingKey else { continue }
            try patientKeys.forget(sender)
            forgotten += 1
        }
        return forgotten
    }

    /// 100 random bits as five dash-separated groups of four Crockford base-32 characters.
    static func handoverCode() -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        let bytes = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        var bits = bytes.reduce(into: [Bool]()) { out, byte in for shift in (0..<8).reversed() { out.append(byte >> shift & 1 == 1) } }
        bits = Array(bits.prefix(100))
        let characters = stride(from: 0, to: 100, by: 5).map { start in
            alphabet[bits[start..<start + 5].reduce(0) { $0 << 1 | ($1 ? 1 : 0) }]
        }
        return stride(from: 0, to: 20, by: 4).map { String(characters[$0..<$0 + 4]) }.joined(separator: "-")
    }
}
