public import LedgerCore

/// A block another node of the consortium committed: its header and its transactions.
public struct PeerBlock: Sendable {
    public let header: BlockHeader
    public let transactions: [Transaction]

    public init(header: BlockHeader, transactions: [Transaction]) { (self.header, self.transactions) = (header, transactions) }
}

/// Blocks a node fetched from a peer, and where the peer stands in the shared log after them.
public struct PeerBlocks: Sendable {
    public let blocks: [PeerBlock]
    /// The peer's ordering position (etcd revision) after the last block, when that block is the
    /// peer's head; nil when more blocks follow.
    public let position: Int64?
    /// Attestations the peer gave with the blocks (unverified: the checker verifies each).
    public let attestations: [Attestation]

    public init(blocks: [PeerBlock], position: Int64?, attestations: [Attestation] = []) {
        (self.blocks, self.position, self.attestations) = (blocks, position, attestations)
    }
}

/// Where a node whose place in the shared log was compacted away gets the blocks it missed: the
/// other organizations' nodes. What a source returns is checked before it is returned (linked by
/// hash from the node's head, each block's transactions the ones its header commits to, the last
/// block attested by a quorum of organizations); the node then executes every block itself and
/// refuses one whose hash differs from the peer's. A peer's state is never taken.
public protocol PeerBlockSource: Sendable {
    /// Up to `limit` checked blocks after `head`; throws when no peer gave any.
    func blocks(after head: BlockHeader, limit: Int) async throws -> PeerBlocks
}
