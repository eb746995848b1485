import Contracts
public import LedgerCore
public import Node
public import Storage

/// Erasure and audit anchoring, once: the CLI's record workflows, the FHIR facade (DELETE, and the
/// rollback of a partly committed transaction) and `careledger node` all call these.
extension LedgerClient {
    /// Records the erasure of `record` on-chain, signed by `signer`, then destroys every version's
    /// ciphertext, wrapped keys and index entries at this custodian (crypto-shredding). A failure to
    /// shred after the erasure committed is reported as such; the record is unreadable either way,
    /// since reads check the on-chain erasure first.
    public func erase(_ record: Hash256, signer: IdentityKeys, access: AccessService) async throws
        -> (receipt: CommitReceipt, report: ErasureReport) {
        let receipt = try await commit(UnsignedCall(signer, call: RecordsContract.Erase(record: record)))
        do {
            return (receipt, try access.shred(record))
        } catch {
            throw ServiceError(.unavailable, "the erasure is committed (block \(receipt.status.height)) but destroying the ciphertext failed: \(error)")
        }
    }

    /// Anchors the audit log's current tree head on-chain, signed by `anchorer`, if the log grew
    /// since its last anchor; returns whether it anchored.
    @discardableResult
    public func anchorAudit(of access: AccessService, anchorer: IdentityKeys) async throws -> Bool {
        guard let pending = try access.pendingAnchor(by: anchorer.derivedID) else { return false }
        try await commit(UnsignedCall(anchorer, call: AuditContract.AnchorLog(size: Int64(pending.size), root: pending.root)))
        return true
    }
}
