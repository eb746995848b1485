public import LedgerCore
import Synchronization

/// Where the nodes of a consortium publish their attestations and read each other's: every node
/// sees every attestation published, whoever published it. The board is only a carrier: a node
/// checks each attestation's signature against the attester's registered key before counting it.
public protocol AttestationBoard: Sendable {
    /// Publishes attestations (in one request where the board can); publishing the same one
    /// again changes nothing.
    func publish(_ attestations: [Attestation]) async throws
    /// Every attestation published for heights from `height` on: those already there, then new
    /// ones as they come, in groups. Ends at `close`.
    func attestations(from height: UInt64) -> AsyncStream<[Attestation]>
    /// Ends every stream.
    func close()
    /// Discards the attestations for heights below `height` (blocks final long since: every node
    /// keeps the attestations it counted, and a later quorum makes every block below it final).
    func retire(below height: UInt64) async throws
}

extension AttestationBoard {
    public func retire(below height: UInt64) async throws {}
}

/// An attestation board inside one process: for the simulator and tests, where several nodes
/// share a process. Each subscriber gets every attestation published after it subscribed, and
/// those before, from the requested height.
public final class LocalAttestationBoard: AttestationBoard {
    private struct State {
        var published: [Attestation] = []
        var keys: Set<[UInt8]> = []
        var subscribers: [Int: (from: UInt64, continuation: AsyncStream<[Attestation]>.Continuation)] = [:]
        var nextToken = 0
        var closed = false
    }
    private let state = Mutex(State())

    public init() {}

    public func publish(_ attestations: [Attestation]) async throws {
        for attestation in attestations {
            let targets = state.withLock { s -> [AsyncStream<[Attestation]>.Continuation] in
                let key = attestation.signedMessage + attestation.signature
                guard !s.closed, s.keys.insert(key).inserted else { return [] }
                s.published.append(attestation)
                return s.subscribers.values.filter { attestation.height >= $0.from }.map(\.continuation)
            }
            for target in targets { target.yield([attestation]) }
        }
    }

    public func attestations(from height: UInt64) -> AsyncStream<[Attestation]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Attestation].self, bufferingPolicy: .unbounded)
        let token: Int? = state.withLock { s in
            guard !s.closed else { return nil }
            let earlier = s.published.filter { $0.height >= height }
            if !earlier.isEmpty { continuation.yield(earlier) }
            s.nextToken += 1
            s.subscribers[s.nextToken] = (height, continuation)
            return s.nextToken
        }
        guard let token else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.subscribers.removeValue(forKey: token) } }
        return stream
    }

    public func close() {
        let subscribers = state.withLock { s in
            s.closed = true
            defer { s.subscribers.removeAll() }
            return s.subscribers.values.map(\.continuation)
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}

/// Where the nodes of a consortium publish their checkpoint statements (`CheckpointStatement`) and a
/// new node reads them all: like the attestation board, only a carrier (the reader checks each
/// signature against the organization's registered key).
public protocol CheckpointBoard: Sendable {
    func publish(_ statements: [CheckpointStatement]) async throws
    /// Every statement on the board (the newest heights' ones, at most `CheckpointBoardLimits.statementsMax`).
    func checkpointStatements() async throws -> [CheckpointStatement]
    /// Deletes every organization's statements for checkpoints below `height`: no node keeps
    /// their snapshots any more, so no new node can join from them. Idempotent; any node may do it.
    func retireStatements(below height: UInt64) async throws
}

extension CheckpointBoard {
    public func retireStatements(below height: UInt64) async throws {}
}

public enum CheckpointBoardLimits {
    /// Most statements a reader takes from the board.
    public static let statementsMax = 1_000
}

/// A checkpoint board inside one process, for the simulator and tests.
public final class LocalCheckpointBoard: CheckpointBoard {
    private let statements = Mutex<[CheckpointStatement]>([])
    public init() {}

    public func publish(_ new: [CheckpointStatement]) async throws {
        statements.withLock { all in for statement in new where !all.contains(statement) { all.append(statement) } }
    }

    public func checkpointStatements() async throws -> [CheckpointStatement] {
        statements.withLock { Array($0.sorted { $0.height > $1.height }.prefix(CheckpointBoardLimits.statementsMax)) }
    }
}
