public import Contracts
import Crypto
import Foundation
public import LedgerCore
public import Node
public import Storage
import Vault

/// The patient-record workflows shared by the CLI commands and the demo: each one signs what
/// must go on-chain, waits for the commit, and drives the custodian's access service.
extension LocalLedger {
    /// Encrypts a FHIR resource, stores it in the vault, and registers it on-chain. A new record
    /// when `record` is nil, else the next version of `record`.
    public func putRecord(content: [UInt8], patient: IdentityID, category: SensitivityCategory, author: IdentityKeys,
                   record: Hash256? = nil) async throws -> (entry: RecordEntry, receipt: CommitReceipt) {
        guard let authorIdentity = Directory.identity(author.derivedID, in: node.state) else {
            throw ServiceError("the author \(author.derivedID.hex) is not registered")
        }
        let existing = record.flatMap { RecordIndex.current($0, in: node.state) }
        if let record, existing == nil { throw ServiceError.notFound("no record \(record.hex)") }
        let id = record ?? Hash256(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })!
        let version = (existing?.version ?? 0) + 1
        let custodian = existing?.custodian ?? (authorIdentity.kind == .organization ? authorIdentity.id : authorIdentity.organization)
        guard let custodian else { throw ServiceError("the author belongs to no organization") }
        let prepared = try access.prepare(content: content, record: id, version: version, patient: patient, custodian: custodian)
        // Store the ciphertext first (pending): a registered record is never without content, and
        // a refused one leaves nothing behind.
        try access.store(prepared.version)
        let receipt = try await access.registering([prepared.version]) {
            try await commit(sign(author, RecordsContract.Register(
                record: id, patient: patient, resourceType: prepared.resourceType, category: category,
                ciphertextHash: prepared.version.blob.hash, version: Int64(version))))
        }
        return (RecordIndex.current(id, in: node.state)!, receipt)
    }

    /// Reads a record as `requester`; returns the plaintext and the release (decision, audit index).
    public func readRecord(_ record: Hash256, as requester: IdentityKeys, purpose: Purpose,
                    sealedJustification: [UInt8]? = nil) async throws -> (content: [UInt8], release: RecordRelease) {
        let release = try await access.read(AccessRequest(requester: requester.derivedID, record: record, purpose: purpose, action: .read),
                                             sealedJustification: sealedJustification)
        let content = try release.open(as: requester.derivedID, with: requester)
        guard release.blob.hash == release.entry.ciphertextHash else {
            throw AccessError.integrity("the stored ciphertext does not match the hash on the chain")
        }
        return (content, release)
    }

    /// Grants a consent signed by `signer` (the patient or a delegate); returns its id.
    public func grantConsent(signer: IdentityKeys, patient: IdentityID, grantee: Grantee, scope: ConsentScope, purposes: [Purpose],
                      actions: [ConsentAction], endMs: Int64?) async throws -> Hash256 {
        let grant = ConsentContract.Grant(
            patient: patient, grantee: grantee, categories: scope.categories.isEmpty ? nil : scope.categories,
            resourceTypes: scope.resourceTypes.isEmpty ? nil : scope.resourceTypes, records: scope.records.isEmpty ? nil : scope.records,
            purposes: purposes, actions: actions, endMs: endMs)
        let receipt = try await commit(sign(signer, grant))
        return receipt.status.transactionID
    }

    /// Revokes a consent; effective for every decision after its block commits.
    @discardableResult
    public func revokeConsent(signer: IdentityKeys, patient: IdentityID, consent: Hash256) async throws -> CommitReceipt {
        try await commit(sign(signer, ConsentContract.Revoke(patient: patient, consent: consent)))
    }

    /// Break-glass on one record (`LedgerClient.breakGlass`, as the portal asks for it): the
    /// emergency grant on-chain (the patient gets a notice), then the record read with purpose
    /// ETREAT; the free-text justification is sealed to the patient in the audit entry.
    public func breakGlass(_ record: Hash256, as requester: IdentityKeys, reason: BreakGlassReason, justification: String,
                    minutes: Int) async throws -> (content: [UInt8], release: RecordRelease) {
        guard let entry = RecordIndex.current(record, in: node.state) else { throw ServiceError.notFound("no record \(record.hex)") }
        let release = try await client.breakGlass(BreakGlassRequest(patient: entry.patient, scope: record, firstRead: record, reason: reason,
                                                                    justification: justification, minutes: minutes),
                                                  as: requester, access: access)
        let content = try release.open(as: requester.derivedID, with: requester)
        guard release.blob.hash == release.entry.ciphertextHash else {
            throw AccessError.integrity("the stored ciphertext does not match the hash on the chain")
        }
        return (content, release)
    }

    /// Records an erasure on-chain, then destroys the blob, wrapped keys and index entries.
    public func eraseRecord(_ record: Hash256, signer: IdentityKeys) async throws -> (receipt: CommitReceipt, report: ErasureReport) {
        try await client.erase(record, signer: signer, access: access)
    }

    /// Anchors the audit log's current tree head on-chain if it grew; signed by the administrator.
    @discardableResult
    public func anchorAudit() async throws -> AuditContract.Anchor? {
        let administrator = try directory.loadKey(settings.administrator)
        guard try await client.anchorAudit(of: access, anchorer: administrator) else { return nil }
        return AuditContract.head(of: administrator.derivedID, in: node.state)
    }

    /// The identity that anchors this node's audit log.
    public func auditAnchorer() throws -> IdentityID { try directory.loadKey(settings.administrator).derivedID }
}
