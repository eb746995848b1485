public import Contracts
public import LedgerCore
import Ordering
import Storage
import Synchronization

/// Where a consortium node fetches a private payload it is entitled to but does not hold: the
/// node of one of the organizations the payload names. The bytes are checked by the node against
/// the commitment on its own chain; a source need not be trusted.
public protocol PrivateDataSource: Sendable {
    /// The payload's bytes as `organization`'s node answers them, or nil if it did not answer with any.
    func fetch(_ id: Hash256, from organization: IdentityID) async -> [UInt8]?
}

/// Counts of the private payloads a node fetched and refused.
public struct PrivateDataStatus: Sendable, Equatable {
    /// Payloads fetched from peers and kept.
    public var fetched = 0
    /// Answers from peers that did not match the commitment on the chain (or did not decode).
    public var refused = 0
    /// The transaction whose payload the node is waiting for before it executes its block, if any.
    public var waitingFor: Hash256?
}

extension LedgerNode {
    /// Whether this node holds the payloads of `envelope`'s collection: one of the organizations
    /// it names is this node's (a single node, `organizations` nil, holds every collection).
    public nonisolated func holds(_ envelope: PrivateEnvelope) -> Bool {
        guard let own = configuration.organizations else { return true }
        return envelope.organizations.contains(where: own.contains)
    }

    /// The envelope of a private call (nil for a clear one).
    public nonisolated func privateEnvelope(_ transaction: Transaction) -> PrivateEnvelope? {
        executor.privateEnvelope(VerifiedTransaction(uncheckedFromTrustedStore: transaction))
    }

    /// The private payloads of a submission, checked: each private call has its payload, matching
    /// its commitment, for a collection this node holds. Clear calls must come without one.
    nonisolated func checkedPayloads(_ transactions: [VerifiedTransaction], _ payloads: [Hash256: [UInt8]])
        -> [Hash256: Result<PrivatePayload, AdmissionError>] {
        var checked: [Hash256: Result<PrivatePayload, AdmissionError>] = [:]
        for tx in transactions {
            guard let envelope = executor.privateEnvelope(tx) else {
                if payloads[tx.id] != nil { checked[tx.id] = .failure(.privatePayload("\(tx.id.hex) is not a private call; it takes no payload")) }
                continue
            }
            guard holds(envelope) else {
                checked[tx.id] = .failure(.privatePayload("none of the organizations \(tx.id.hex) names is this node's; submit it through theirs"))
                continue
            }
            guard let bytes = payloads[tx.id] else {
                checked[tx.id] = .failure(.privatePayload("\(tx.id.hex) is a private call; its payload must come with it"))
                continue
            }
            do { checked[tx.id] = .success(try envelope.open(bytes)) } catch {
                checked[tx.id] = .failure(.privatePayload("\(tx.id.hex): \(error)"))
            }
        }
        return checked
    }

    /// The payloads this node holds or must hold for a block's private calls. Stored ones come from
    /// the store; a missing one is fetched from the other organizations' nodes, checked against the
    /// commitment and stored, retrying (and holding the block back) until one answers with it or the
    /// node stops. Without a source, a missing payload fails the node: it cannot build its share.
    nonisolated func privatePayloads(for transactions: [VerifiedTransaction]) async throws -> [Hash256: PrivatePayload] {
        let wanted = transactions.compactMap { tx in executor.privateEnvelope(tx).flatMap { holds($0) ? (tx.id, $0) : nil } }
        guard !wanted.isEmpty else { return [:] }
        guard let payloadStore = store as? any PrivatePayloadStore else {
            throw NodeError.failed("the store keeps no private payloads, and block transactions need them")
        }
        let stored = try payloadStore.privatePayloads(wanted.map(\.0))
        var payloads: [Hash256: PrivatePayload] = [:]
        for (id, envelope) in wanted {
            if let bytes = stored[id], let payload = try? envelope.open(bytes) {
                payloads[id] = payload
                continue
            }
            payloads[id] = try await fetch(id, envelope, into: payloadStore)
        }
        return payloads
    }

    /// Longest pause between two rounds of asking peers for a payload.
    static let privateFetchBackoffMaxMs: Int64 = 2_000

    private nonisolated func fetch(_ id: Hash256, _ envelope: PrivateEnvelope, into payloadStore: any PrivatePayloadStore) async throws
        -> PrivatePayload {
        guard let source = configuration.privateDataSource else {
            throw NodeError.failed("the private payload of \(id.hex) is missing from the store and there is no peer to fetch it from")
        }
        let peers = envelope.organizations.filter { !(configuration.organizations?.contains($0) ?? true) }
        privateStatus.withLock { $0.waitingFor = id }
        defer { privateStatus.withLock { $0.waitingFor = nil } }
        var pauseMs: Int64 = 50
        while !stopRequested.withLock({ $0 }) {
            for peer in peers {
                guard let bytes = await source.fetch(id, from: peer) else { continue }
                guard let payload = try? envelope.open(bytes) else {
                    privateStatus.withLock { $0.refused += 1 }
                    continue
                }
                try payloadStore.savePrivatePayloads([(id, payload.encoded)])
                privateStatus.withLock { $0.fetched += 1 }
                return payload
            }
            try? await clock.sleep(untilMonotonicMs: clock.monotonicMs() + pauseMs)
            pauseMs = min(pauseMs * 2, Self.privateFetchBackoffMaxMs)
        }
        throw NodeError.stopped
    }

    /// What this node fetched and refused, and what it waits for.
    public nonisolated var privateDataStatus: PrivateDataStatus { privateStatus.withLock { $0 } }

    /// Blocks this node took from peers past the shared log's compaction (since it started), and
    /// why the latest attempt failed while one is failing.
    public nonisolated var catchUpStatus: (blocks: UInt64, error: String?) { orderer.catchUpStatus }

    /// A transaction's result as this node knows it: for a private call whose payload this node
    /// holds, its private part's result; otherwise the block's.
    nonisolated func effectiveResult(_ id: Hash256, logIndex: UInt64, shared: TransactionResult) -> TransactionResult {
        // Without private state there is no private result: no read of the transaction.
        guard shared.isAccepted, cache.holdsPrivateState, let bytes = try? store.transactionBytes(logIndex: logIndex),
              let tx = try? Transaction(decoding: bytes), let envelope = executor.privateEnvelope(VerifiedTransaction(uncheckedFromTrustedStore: tx)),
              let stored = cache.value(for: envelope.keyNamespace + BlockExecutor.privateResultKey(id)),
              let result = try? TransactionResult(decoding: stored) else { return shared }
        return result
    }
}

/// State as this node's services read it: shared state, then the private state of each collection
/// this node holds (a key missing from shared state is looked up in each, prefix stripped). The
/// executor never reads through this: a private call sees only its own collection.
final class VisibleState: StateReader, Sendable {
    private let cache: StateCache
    private let store: any LedgerStore

    init(cache: StateCache, store: any LedgerStore) { (self.cache, self.store) = (cache, store) }

    func value(for key: String) -> [UInt8]? {
        if let value = cache.value(for: key) { return value }
        for namespace in cache.namespaces { if let value = cache.value(for: namespace + key) { return value } }
        return nil
    }

    func decoded<T: Sendable>(_ key: String, _ decode: ([UInt8]) -> T?) -> T? {
        if cache.value(for: key) != nil { return cache.decoded(key, decode) }
        for namespace in cache.namespaces where cache.value(for: namespace + key) != nil { return cache.decoded(namespace + key, decode) }
        return nil
    }

    /// The store's rows under `prefix`, shared and private together (private keys without their
    /// namespace), in key order, at most `limit`.
    func states(prefix: String, after: String?, limit: Int) throws -> [(key: String, value: [UInt8])] {
        var rows = try store.states(prefix: prefix, after: after, limit: limit)
        let namespaces = cache.namespaces
        guard !namespaces.isEmpty else { return rows }
        for namespace in namespaces {
            rows += try store.states(prefix: namespace + prefix, after: after.map { namespace + $0 }, limit: limit)
                .map { (key: String($0.key.dropFirst(namespace.count)), value: $0.value) }
        }
        return Array(rows.sorted { String.utf8Order($0.key, $1.key) < 0 }.prefix(limit))
    }
}

extension LedgerNode {
    /// Committed state rows under `prefix` this node can show: shared ones and those of the private
    /// collections it holds (keys without their namespace), in key order, at most `limit`.
    public nonisolated func visibleStates(prefix: String, after: String?, limit: Int) throws -> [(key: String, value: [UInt8])] {
        try visible.states(prefix: prefix, after: after, limit: limit)
    }
}

extension LedgerNode {
    /// Simulates an endorsed call against this node's committed state: as of the next block
    /// (`at` nil: this node proposes it), or as of the height and time another node proposed.
    /// `draft` is the call with its envelope's arguments; the payload must match the envelope and
    /// name this node's organization.
    public func simulate(_ draft: Transaction, envelope: PrivateEnvelope, payload: PrivatePayload, at: (height: UInt64, timeMs: Int64)? = nil)
        -> Result<Proposal, Rejection> {
        guard holds(envelope) else {
            return .failure(Rejection(.badCollection, "none of the organizations the call names is this node's; simulate it at theirs"))
        }
        let (height, timeMs) = at ?? (headHeader.height + 1, nextBlockTimeMs)
        return executor.simulate(VerifiedTransaction(uncheckedFromTrustedStore: draft), envelope: envelope, payload: payload, state: cache,
                                 height: height, timeMs: timeMs)
    }
}
