import Contracts
public import LedgerCore
public import Node
import Storage

/// What a node knows of its consortium from its own replica, for an auditor: its head, the final
/// height and quorum, any divergence, catch-up and private-data progress, and each organization's
/// newest attestation among the recent blocks, with whether it agrees with this node's values.
/// It asks no other node: it reads this node's chain and attestation store only.
public struct NetworkStatus: Sendable {
    /// One attesting organization as this node has heard from it.
    public struct Attester: Sendable {
        public let id: IdentityID
        /// The organization's name on the chain (its membership label), empty when unknown.
        public let label: String
        /// The newest height it attested among the heights read.
        public let height: UInt64
        /// Its attestation at `height` has this node's values (block hash, state root, log root).
        public let agrees: Bool
    }

    public let chainId: String
    public let height: UInt64
    public let timeMs: Int64
    /// False on a single node: it needs no one's attestation, its committed height is final.
    public let consortium: Bool
    public let finalHeight: UInt64
    public let quorum: Int
    /// Why the node halted its writes, if it did (a diverged state root, a failed store …).
    public let failure: String?
    public let divergence: String?
    public let disagreements: [String]
    public let refusedAttestations: Int
    public let caughtUpBlocks: UInt64
    public let catchUpError: String?
    public let privatePayloadsFetched: Int
    public let privatePayloadsRefused: Int
    /// Attesting organizations, newest attested height first.
    public let attesters: [Attester]
    /// True when more attestations lay in the heights read than were read.
    public let truncated: Bool

    /// Heights read back from the head for attestations.
    public static let recentHeights: UInt64 = 256
    /// Most attestations read.
    public static let attestationsReadMax = 4_096

    /// This node's view of the network now.
    public static func of(_ node: LedgerNode) async throws(ServiceError) -> NetworkStatus {
        let head = await node.headHeader
        let finality = await node.finalityStatus
        let failure = await node.failureError.map { "\($0)" }
        let catchUp = node.catchUpStatus, privateData = node.privateDataStatus
        var latest: [IdentityID: Attestation] = [:]
        var truncated = false
        if node.isAttesting, let store = node.store as? any AttestationStore {
            let from = head.height > recentHeights ? head.height - recentHeights : 0
            do {
                let read = try store.attestations(from: from, limit: attestationsReadMax)
                truncated = read.count == attestationsReadMax
                for attestation in read where attestation.height <= head.height {
                    if let seen = latest[attestation.attester], seen.height >= attestation.height { continue }
                    latest[attestation.attester] = attestation
                }
            } catch { throw ServiceError(.unavailable, "the attestation store cannot be read: \(error)") }
        }
        var attesters: [Attester] = []
        for (id, attestation) in latest {
            let ours: Attestation.Values?
            do { ours = try node.store.header(height: attestation.height).map(Attestation.Values.init) } catch {
                throw ServiceError(.unavailable, "the ledger store cannot be read: \(error)")
            }
            attesters.append(Attester(id: id, label: Directory.identity(id, in: node.state)?.label ?? "", height: attestation.height,
                                      agrees: ours == attestation.values))
        }
        attesters.sort { ($0.height, $1.label) > ($1.height, $0.label) }
        return NetworkStatus(
            chainId: head.chainId, height: head.height, timeMs: head.timeMs, consortium: node.isAttesting, finalHeight: finality.finalHeight,
            quorum: finality.quorum, failure: failure, divergence: finality.divergence.map { "\($0)" },
            disagreements: finality.disagreements.map(\.description), refusedAttestations: finality.refusedAttestations,
            caughtUpBlocks: catchUp.blocks, catchUpError: catchUp.error, privatePayloadsFetched: privateData.fetched,
            privatePayloadsRefused: privateData.refused, attesters: attesters, truncated: truncated)
    }
}
