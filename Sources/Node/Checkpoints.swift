import Contracts
public import LedgerCore
public import Ordering
public import Storage
import Synchronization

/// A consortium node's checkpoints: every `intervalBlocks` blocks it writes a snapshot of its shared
/// ledger (`SnapshotFrame`) to its archive, signs the snapshot's digest with its organization's key
/// and publishes the statement on the board. A new node joins from a snapshot a quorum of
/// organizations signed (`SnapshotJoin`) instead of replaying the chain from genesis.
public struct CheckpointSettings: Sendable {
    /// Blocks between checkpoints (heights that are multiples of it).
    public var intervalBlocks: UInt64
    public var archive: any SnapshotArchive
    public var board: any CheckpointBoard
    /// The organization(s) that sign (normally the node's own one).
    public var signers: [IdentityKeys]
    /// Snapshots kept besides the one the store was installed from.
    public var keep: Int

    /// The default interval: a snapshot costs a read of the whole state, a new node replays at most this many blocks.
    public static let defaultIntervalBlocks: UInt64 = 1_000

    public init(intervalBlocks: UInt64 = defaultIntervalBlocks, archive: any SnapshotArchive, board: any CheckpointBoard,
                signers: [IdentityKeys], keep: Int = 3) {
        precondition(intervalBlocks >= 1 && keep >= 1)
        (self.intervalBlocks, self.archive, self.board, self.signers, self.keep) = (intervalBlocks, archive, board, signers, keep)
    }
}

/// The checkpoints a node made, for its status.
public struct CheckpointStatus: Sendable, Equatable {
    /// The last snapshot written and published: its height, digest and length.
    public var last: (height: UInt64, digest: Hash256, bytes: UInt64)?
    /// Why the latest one failed, while it does.
    public var error: String?
    /// Checkpoints skipped because the one before was still being written.
    public var skipped = 0
    /// The snapshot the store was installed from, if it was.
    public var base: SnapshotBase?

    public static func == (lhs: CheckpointStatus, rhs: CheckpointStatus) -> Bool {
        lhs.last?.height == rhs.last?.height && lhs.last?.digest == rhs.last?.digest && lhs.error == rhs.error && lhs.skipped == rhs.skipped
            && lhs.base == rhs.base
    }
}

/// Writes checkpoint snapshots off the commit path, one at a time: the commit writer hands it a
/// consistent view of the store taken right after the checkpoint block became durable.
final class CheckpointWriter: Sendable {
    let settings: CheckpointSettings
    let chainId: String
    private let state: Mutex<(busy: Bool, status: CheckpointStatus)>
    private let disk = BlockingIO(label: "careledger.checkpoints")

    init(settings: CheckpointSettings, chainId: String, base: SnapshotBase?) {
        (self.settings, self.chainId) = (settings, chainId)
        state = Mutex((false, CheckpointStatus(base: base)))
    }

    var status: CheckpointStatus { state.withLock { $0.status } }

    /// Whether a block at `height` is a checkpoint.
    func isCheckpoint(_ height: UInt64) -> Bool { height > 0 && height % settings.intervalBlocks == 0 }

    /// Starts writing the snapshot of `view` unless one is being written.
    func start(_ view: any LedgerStoreView) {
        let begin = state.withLock { s -> Bool in
            if s.busy {
                s.status.skipped += 1
                return false
            }
            s.busy = true
            return true
        }
        guard begin else { return }
        Task.detached { [self] in
            let outcome: Result<(UInt64, Hash256, UInt64), any Error>
            do {
                // Reading the whole state and writing the file takes a while: on a thread of its
                // own, not one of the cooperative pool's (a thread per core).
                let (height, header, digest, bytes) = try await disk.run { [settings, chainId] in
                    var header: BlockHeader?
                    guard let height = try view.head()?.height else { throw StorageError.missing("a head block") }
                    let (digest, bytes) = try settings.archive.write(height: height, position: try view.orderingPosition()) { sink in
                        header = try view.writeSnapshot(chainId: chainId, to: sink)
                    }
                    return (height, header, digest, bytes)
                }
                let statements = settings.signers.map { CheckpointStatement.sign(header!, digest: digest, bytes: bytes, attester: $0) }
                try await publish(statements)
                try settings.archive.prune(keep: settings.keep, base: status.base?.height)
                outcome = .success((height, digest, bytes))
            } catch {
                outcome = .failure(error)
            }
            state.withLock { s in
                s.busy = false
                switch outcome {
                case .success(let last):
                    s.status.last = last
                    s.status.error = nil
                case .failure(let error): s.status.error = "\(error)"
                }
            }
        }
    }

    /// Publishes, retried for a while (etcd may be briefly without a quorum).
    private func publish(_ statements: [CheckpointStatement]) async throws {
        var attempt = 0
        while true {
            do { return try await settings.board.publish(statements) } catch {
                attempt += 1
                if attempt >= 10 { throw error }
                try await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }
}

/// Where a joining node gets a snapshot's bytes: from an organization whose node holds it.
public protocol SnapshotSource: Sendable {
    /// Copies the snapshot at `height` (`bytes` long) from `organization`'s node into `archive`;
    /// answers the ordering position that node had with the snapshot's block (a hint, unsigned).
    func fetch(height: UInt64, bytes: UInt64, from organization: IdentityID, into archive: any SnapshotArchive) async throws -> Int64?
}

/// A new node joins from a checkpoint instead of replaying the chain: it reads the checkpoint
/// statements, keeps the claims a quorum of organizations signed (each statement checked with the
/// key its own replica holds for the organization: the genesis block's founders on a new node),
/// fetches the newest one from an organization that signed it, checks the bytes' digest and every
/// frame (`SnapshotChecker`), and installs it. It never takes a snapshot that holds its own
/// organization: an organization admitted before the checkpoint may have private data from before
/// it, which only a replay gives its node.
public enum SnapshotJoin {
    public struct Outcome: Sendable {
        public let base: SnapshotBase
        public let from: IdentityID
        /// Why newer claims or other sources were passed over.
        public let passedOver: [String]
    }

    public enum Refusal: Error, Sendable, CustomStringConvertible {
        case noCertifiedCheckpoint(quorum: Int, statements: Int)
        case noneUsable([String])
        public var description: String {
            switch self {
            case .noCertifiedCheckpoint(let quorum, let statements):
                "no checkpoint is signed by \(quorum) organizations this node knows (\(statements) statements on the board)"
            case .noneUsable(let why): "no certified snapshot could be taken: " + why.joined(separator: "; ")
            }
        }
    }

    /// Installs the newest usable certified snapshot into `store` (which holds only its genesis
    /// block) and answers which; throws when none could be taken, leaving the store as it was.
    public static func join(store: any SnapshotStore, archive: any SnapshotArchive, board: any CheckpointBoard, source: any SnapshotSource,
                            organization: IdentityID) async throws -> Outcome {
        guard let head = try store.head(), head.height == 0 else { throw StorageError.corrupt("a node joins from a snapshot only with the genesis block alone") }
        let quorum = try Genesis.finalityQuorum(in: store)
        let reader = StoreReader(store: store)
        let statements = try await board.checkpointStatements()
        let certified = CheckpointStatement.certified(statements, chainId: head.chainId, quorum: quorum) { id in
            guard let identity = Directory.identity(id, in: reader), identity.kind == .organization, !identity.revoked else { return nil }
            return identity.signingKey
        }
        guard !certified.isEmpty else { throw Refusal.noCertifiedCheckpoint(quorum: quorum, statements: statements.count) }
        let ownKey = Directory.identityKey(organization)
        var passedOver: [String] = []
        // Two different snapshots certified at one height: organizations signed conflicting states there; take neither.
        let heights = Dictionary(grouping: certified, by: \.claim.height)
        for (height, claims) in heights where claims.count > 1 {
            passedOver.append("at height \(height) \(claims.count) different snapshots are each signed by a quorum")
        }
        for (claim, attesters) in certified where heights[claim.height]!.count == 1 {
            var holdsOwn = false
            for attester in attesters where !holdsOwn {
                do {
                    try? archive.remove(height: claim.height)
                    let position = try await source.fetch(height: claim.height, bytes: claim.snapshotBytes, from: attester, into: archive)
                    let held = try archive.digest(height: claim.height)
                    guard held.digest == claim.snapshotDigest, held.bytes == claim.snapshotBytes else {
                        throw SnapshotError.mismatch("its bytes hash to \(held.digest.hex) (\(held.bytes) bytes), the quorum signed \(claim.snapshotDigest.hex)")
                    }
                    // Every frame checked, and its state searched for this node's organization, before anything is written.
                    var checker = SnapshotChecker(chainId: head.chainId, claim: claim)
                    try archive.forEachFrame(height: claim.height) { frame in
                        try checker.check(frame)
                        if case .state(let entries) = frame, entries.contains(where: { $0.key == ownKey }) { holdsOwn = true }
                    }
                    guard checker.finished else { throw SnapshotError.malformed("it ends before its end frame") }
                    if holdsOwn {
                        passedOver.append("the checkpoint at \(claim.height) already holds this node's organization")
                        try? archive.remove(height: claim.height)
                        break
                    }
                    let base = SnapshotBase(height: claim.height, digest: claim.snapshotDigest)
                    try store.install(from: { try archive.forEachFrame(height: claim.height, $0) }, checker: SnapshotChecker(chainId: head.chainId, claim: claim),
                                      digest: claim.snapshotDigest, position: position)
                    return Outcome(base: base, from: attester, passedOver: passedOver)
                } catch {
                    try? archive.remove(height: claim.height)
                    passedOver.append("the snapshot at \(claim.height) from \(attester.hex.prefix(12))…: \(error)")
                }
            }
        }
        throw Refusal.noneUsable(passedOver)
    }

    /// Committed state straight from a store (the joining node has no node yet).
    private struct StoreReader: StateReader {
        let store: any LedgerStore
        func value(for key: String) -> [UInt8]? { try? store.state(key) }
    }
}
