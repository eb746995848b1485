public import LedgerCore
public import Ordering
import Synchronization

/// A consortium node's attestation settings: the board the nodes share and the keys of the
/// organization(s) this node attests for (normally its own one).
public struct AttestationSettings: Sendable {
    public var board: any AttestationBoard
    public var attesters: [IdentityKeys]

    public init(board: any AttestationBoard, attesters: [IdentityKeys]) { (self.board, self.attesters) = (board, attesters) }
}

/// Values another organization attested for a height that differ from this node's.
public struct Disagreement: Sendable, Equatable, CustomStringConvertible {
    public let height: UInt64
    public let ours: Attestation.Values
    public let theirs: Attestation.Values
    /// The organizations that attested `theirs`.
    public let attesters: [IdentityID]

    public var description: String {
        let who = attesters.map { String($0.hex.prefix(12)) }.joined(separator: ", ")
        return "at height \(height) this node has \(ours); \(attesters.count) organization(s) (\(who)) attested \(theirs)"
    }
}

/// Where the consortium stands on this node's blocks.
public struct FinalityStatus: Sendable {
    /// Organizations that must attest the same values.
    public let quorum: Int
    /// The last height a quorum attested with this node's values (the committed height on a single node).
    public let finalHeight: UInt64
    /// Set when a quorum attested values other than this node's: the node halted its writes.
    public let divergence: Disagreement?
    /// Recent heights where some organization, short of a quorum, attested other values.
    public let disagreements: [Disagreement]
    /// Attestations refused: unknown or revoked attester, bad signature, other chain.
    public let refusedAttestations: Int
}

/// Counts attestations per height and decides finality: pure, so the simulator and tests drive it.
/// A height is final once `quorum` organizations attested this node's own values for it (and so,
/// the blocks being hash-linked, every height below). A node the quorum contradicts has diverged.
struct FinalityTracker {
    let quorum: Int
    private(set) var finalHeight: UInt64
    /// This node's values for heights it committed, kept a while below the final height too, so a
    /// late attestation that contradicts a final block is still noticed.
    private var ours: [UInt64: Attestation.Values] = [:]
    private var votes: [UInt64: [IdentityID: Attestation.Values]] = [:]
    private var reported: Set<[UInt8]> = []

    /// Heights kept below the final height.
    static let window: UInt64 = 256
    /// Heights ahead of this node's head whose attestations are kept (a node that lags further
    /// still reaches finality through a later height).
    static let aheadMax: UInt64 = 10_000

    enum Outcome: Equatable {
        case final(UInt64)
        case disagreement(Disagreement)
        case diverged(Disagreement)
    }

    init(quorum: Int, finalHeight: UInt64) {
        precondition(quorum >= 1)
        (self.quorum, self.finalHeight) = (quorum, finalHeight)
    }

    mutating func committed(height: UInt64, values: Attestation.Values) -> [Outcome] {
        ours[height] = values
        return evaluate(height)
    }

    /// Counts a verified attestation; the first of an attester for a height counts.
    mutating func add(_ attestation: Attestation, head: UInt64) -> [Outcome] {
        let height = attestation.height
        guard height + Self.window > finalHeight, height <= head + Self.aheadMax else { return [] }
        guard votes[height]?[attestation.attester] == nil else { return [] }
        votes[height, default: [:]][attestation.attester] = attestation.values
        return evaluate(height)
    }

    private mutating func evaluate(_ height: UInt64) -> [Outcome] {
        guard let mine = ours[height], let cast = votes[height] else { return [] }
        var outcomes: [Outcome] = []
        var byValues: [Attestation.Values: [IdentityID]] = [:]
        for (attester, values) in cast { byValues[values, default: []].append(attester) }
        for (values, attesters) in byValues where values != mine {
            let sorted = attesters.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
            let disagreement = Disagreement(height: height, ours: mine, theirs: values, attesters: sorted)
            if attesters.count >= quorum {
                outcomes.append(.diverged(disagreement))
            } else {
                let key = withUnsafeBytes(of: height) { Array($0) } + sorted.flatMap(\.bytes)
                if reported.insert(key).inserted { outcomes.append(.disagreement(disagreement)) }
            }
        }
        if (byValues[mine]?.count ?? 0) >= quorum, height > finalHeight {
            finalHeight = height
            outcomes.append(.final(height))
            let floor = height > Self.window ? height - Self.window : 0
            ours = ours.filter { $0.key > floor }
            votes = votes.filter { $0.key > floor }
            if reported.count > 10_000 { reported.removeAll() }
        }
        return outcomes
    }
}

/// A node's own attestations waiting for the board (shared with the publisher task).
final class AttestationOutbox: Sendable {
    private let pending = Mutex<[Attestation]>([])

    func add(_ attestations: [Attestation]) { pending.withLock { $0 += attestations } }

    /// The newest waiting attestation of each attester, and the rest dropped: a quorum on a height
    /// makes every height below it final too (the blocks are hash-linked), so under load a node
    /// publishes one attestation per group of blocks rather than one per block.
    func take() -> [Attestation] {
        pending.withLock { all in
            defer { all.removeAll() }
            var newest: [IdentityID: Attestation] = [:]
            for attestation in all where attestation.height >= (newest[attestation.attester]?.height ?? 0) { newest[attestation.attester] = attestation }
            return newest.values.sorted { $0.attester.bytes.lexicographicallyPrecedes($1.attester.bytes) }
        }
    }
}
