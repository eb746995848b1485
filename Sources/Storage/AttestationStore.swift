public import LedgerCore

/// Where a consortium node keeps the attestations it verified (its own and other organizations')
/// and its final height. Attestations can be fetched again from the consortium, so they are
/// written without an fsync of their own; the final height never runs ahead of them.
public protocol AttestationStore: AnyObject, Sendable {
    /// Stores attestations (one per height and attester: a second one is ignored) and, if given,
    /// the node's new final height, in one transaction.
    func saveAttestations(_ attestations: [Attestation], finalHeight: UInt64?) throws
    /// The stored attestations of one height, by attester.
    func attestations(height: UInt64) throws -> [Attestation]
    /// Up to `limit` stored attestations from `height` on, in height then attester order.
    func attestations(from height: UInt64, limit: Int) throws -> [Attestation]
    /// The last height this node saw attested by a quorum with its own values; nil before any.
    func finalHeight() throws -> UInt64?
}
