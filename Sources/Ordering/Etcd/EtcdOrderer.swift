public import LedgerCore
import Synchronization

/// The consortium's orderer: every node submits its admitted transactions to one etcd cluster (a
/// Raft-replicated log) and every node reads the same batches back in etcd's revision order.
///
/// Submitted transactions are cut into batches and each batch is one put under
/// `careledger/CHAIN/log/NODE/SEQUENCE`. A batch goes at once when the node is idle (every batch it
/// put is committed, or its last put is `batchDelayMs` old); otherwise it fills until one of those
/// holds or it has `batchTransactionsMax` transactions. etcd gives every
/// put a revision, and the revisions are the block order. A watch of the log prefix from a
/// position hands every batch to `nextBatch` in revision order, on every node alike: its
/// transactions checked again (a batch another node wrote is not trusted: bytes that do not decode
/// or whose signature fails are dropped, the same on every node), a transaction already ordered
/// earlier in the log dropped (one sent through two nodes is ordered once), and its time forced
/// strictly above the previous batch's. "Earlier in the log" is the same question on every node,
/// wherever it started reading: the ids of the batches this orderer read are remembered for
/// `dedupBatches` batches, and older ones are answered by `alreadyOrdered` — the node's committed
/// transaction index, which holds everything up to the position it resumed after. `OrderedBatch.position` is the batch's
/// revision: a node that stores it resumes after it. If etcd compacted the revisions a node needs,
/// the orderer catches up from its peers (`PeerBlockSource`): once the node has applied every batch
/// handed out, it takes the blocks after the node's head from another organization's node, checks
/// their signatures, hands each out as a batch that must produce exactly that block, and goes back
/// to watching etcd after the peer's position. Without peers, `nextBatch` ends and `failure` says so.
public final class EtcdOrderer: Orderer {
    public struct Configuration: Sendable {
        public var chainId: String
        /// This node's name in its log keys (unique per node).
        public var nodeName: String
        public var batchTransactionsMax: Int
        public var batchDelayMs: Int
        /// Transactions ordered in this many earlier batches are not ordered again.
        public var dedupBatches: Int

        public init(chainId: String, nodeName: String, batchTransactionsMax: Int = 2_000, batchDelayMs: Int = 10, dedupBatches: Int = 10_000) {
            precondition((1...Limits.blockTransactionsMax).contains(batchTransactionsMax), "batch size must be 1…\(Limits.blockTransactionsMax)")
            precondition(batchDelayMs >= 1 && dedupBatches >= 1)
            (self.chainId, self.nodeName, self.batchTransactionsMax, self.batchDelayMs, self.dedupBatches) =
                (chainId, nodeName, batchTransactionsMax, batchDelayMs, dedupBatches)
        }

        /// The prefix every node's batches are put under.
        var logPrefix: [UInt8] { Array("careledger/\(chainId)/log/".utf8) }
    }

    private struct Outbox {
        var pending: [VerifiedTransaction] = []
        var closed = false
        /// Since when (monotonic ms) etcd has refused or not answered the batch being sent; nil while it takes them.
        var failingSinceMs: Int64?
        var lastError: String?
        var waiter: CheckedContinuation<Void, Never>?
        var sequence: UInt64
        /// The position of the last batch this node put, and how far the node has committed.
        var lastPut: Int64 = 0
        var committed: Int64
        /// The send loop, waiting for the node to commit its last batch.
        var idleWaiter: CheckedContinuation<Void, Never>?
        var isIdle: Bool { committed >= lastPut }
    }

    private struct Reading {
        var lastTimeMs: Int64
        var position: Int64
        /// Transaction ids of the last `dedupBatches` batches, oldest batch first.
        var recent: [[Hash256]] = []
        var seen: Set<Hash256> = []
        var failure: EtcdError?
        /// Batches handed out since the start (each becomes one block).
        var delivered: UInt64 = 0
        /// Why catching up from peers has not succeeded yet, while it is being tried.
        var catchUpError: String?
        /// Blocks taken from peers.
        var caughtUp: UInt64 = 0
    }

    public let configuration: Configuration
    private let client: EtcdClient
    private let clock: any LedgerClock
    private let outbox: Mutex<Outbox>
    private let reading: Mutex<Reading>
    private let batches: AsyncStream<OrderedBatch>
    private let tasks: Mutex<[Task<Void, Never>]> = Mutex([])
    private let alreadyOrdered: @Sendable ([Hash256]) -> Set<Hash256>
    private let peers: (any PeerBlockSource)?
    /// The node's committed head, and the height it had when this orderer started.
    private let committedHead: @Sendable () -> BlockHeader?
    private let startHeight: UInt64
    /// Transactions this node submitted, verified at admission: when their batch comes back from
    /// the log their signatures are not checked a second time.
    private let ownVerified: Mutex<[Hash256: VerifiedTransaction]> = Mutex([:])

    /// How long etcd may fail to take a batch before `submit` refuses new transactions.
    public static let unavailableAfterMs: Int64 = 1_000

    /// Most bytes one batch may hold in etcd (its default request limit is 1.5 MiB).
    public static let batchBytesMax = 1_400_000

    /// - Parameters:
    ///   - after: the position (etcd revision) of the last batch the node has applied; 0 for none.
    ///   - lastTimeMs: that block's time, so block times keep increasing.
    ///   - alreadyOrdered: which of a batch's transaction ids the node committed (ordered before), asked
    ///     once per batch.
    ///   - peers: where to catch up from past compaction; `committedHead` is the node's head and
    ///     `height` its height at the start (the node has applied every batch handed out when its head
    ///     is `height` + the batches handed out).
    public init(client: EtcdClient, configuration: Configuration, clock: any LedgerClock, after position: Int64, lastTimeMs: Int64,
                alreadyOrdered: @escaping @Sendable ([Hash256]) -> Set<Hash256> = { _ in [] },
                peers: (any PeerBlockSource)? = nil, height: UInt64 = 0, committedHead: @escaping @Sendable () -> BlockHeader? = { nil }) {
        self.client = client
        self.alreadyOrdered = alreadyOrdered
        (self.peers, self.startHeight, self.committedHead) = (peers, height, committedHead)
        self.configuration = configuration
        self.clock = clock
        // A node's sequence continues where its earlier runs left off only by time: the key just
        // has to be unique, and a restarted node starts a new run.
        outbox = Mutex(Outbox(sequence: UInt64(max(0, clock.nowMs())) << 20, committed: position))
        reading = Mutex(Reading(lastTimeMs: lastTimeMs, position: position))
        let (stream, continuation) = AsyncStream.makeStream(of: OrderedBatch.self, bufferingPolicy: .unbounded)
        batches = stream
        // The loops hold the orderer until `close` cancels them.
        let sender = Task { [weak self] in
            guard let self else { return }
            await self.sendLoop()
        }
        let receiver = Task { [weak self] in
            guard let self else { return continuation.finish() }
            await self.receiveLoop(from: position + 1) { continuation.yield($0) }
            continuation.finish()
        }
        tasks.withLock { $0 = [sender, receiver] }
    }

    /// Why the log stopped before `close` (revisions compacted away, or the chain's log unreadable).
    public var failure: EtcdError? { reading.withLock { $0.failure } }

    public var failureDescription: String? {
        failure.map { failure in
            if case .compacted(let oldest) = failure {
                return "etcd compacted the ordered log past this node's position \(position) (it keeps revisions from \(oldest) on); "
                    + "this node must catch up from a peer"
            }
            return "the ordered log cannot be read: \(failure)"
        }
    }

    /// The position (etcd revision) of the last batch read from the log.
    public var position: Int64 { reading.withLock { $0.position } }

    /// Blocks taken from peers so far, and why the latest attempt failed (while one is failing).
    public var catchUpStatus: (blocks: UInt64, error: String?) { reading.withLock { ($0.caughtUp, $0.catchUpError) } }

    public func submit(_ transactions: [VerifiedTransaction]) throws(OrderingError) {
        guard !transactions.isEmpty else { return }
        let waiter = try outbox.withLock { (o: inout Outbox) throws(OrderingError) -> CheckedContinuation<Void, Never>? in
            guard !o.closed else { throw OrderingError.closed }
            if let since = o.failingSinceMs, clock.monotonicMs() - since >= Self.unavailableAfterMs {
                throw OrderingError.unavailable(o.lastError ?? "etcd does not answer")
            }
            o.pending.append(contentsOf: transactions)
            ownVerified.withLock { own in for tx in transactions { own[tx.id] = tx } }
            defer { o.waiter = nil }
            return o.waiter
        }
        waiter?.resume()
    }

    public func nextBatch() async -> OrderedBatch? {
        var iterator = batches.makeAsyncIterator()
        return await iterator.next()
    }

    public func close() {
        let waiter = outbox.withLock { o -> CheckedContinuation<Void, Never>? in
            o.closed = true
            defer { o.waiter = nil }
            return o.waiter
        }
        waiter?.resume()
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }

    // MARK: retiring the log

    /// Deletes every log key put at or before `position` and compacts etcd's history up to there,
    /// so etcd holds a window of the log rather than all of it. Every key, not only this node's: a
    /// removed organization's batches and keys no node wrote (forged) go too, and the compaction
    /// takes that history from a lagging node anyway. Several nodes doing it at once is harmless.
    /// Deletions are not watched (`NODELETE`); a node whose place is compacted away catches up
    /// from its peers.
    public func retire(through position: Int64) async throws {
        while true {
            let stale = try await client.keys(prefix: configuration.logPrefix, modifiedThrough: position, limit: Self.retireGroup)
            for start in stride(from: 0, to: stale.count, by: 100) {
                try await client.delete(stale[start..<min(start + 100, stale.count)].map(\.key))
            }
            if stale.count < Self.retireGroup { break }
        }
        do { try await client.compact(revision: position) } catch {
            // Another node compacted as far already: nothing to do.
            guard case .refused(_, let message) = error, message.contains("compacted") else { throw error }
        }
    }

    /// Keys read per round while retiring.
    static let retireGroup = 1_000

    // MARK: sending

    private func sendLoop() async {
        // Each batch is a block on every node, with its own costs (execution, fsync, attestations):
        // fewer, fuller blocks under load, and no wait when there is no load. Like Nagle's rule, a
        // batch goes at once while this node has committed every batch it put (a lone client's
        // transaction does not wait out a delay); otherwise it fills until the node commits its last
        // batch or `batchDelayMs` after the last put started (the time etcd took counts toward it).
        var lastPutMs = Int64.min / 2
        while !Task.isCancelled {
            await waitForPending()
            let fillUntil = max(clock.monotonicMs(), lastPutMs + Int64(configuration.batchDelayMs))
            if outbox.withLock({ $0.pending.count < configuration.batchTransactionsMax && !$0.closed && !$0.isIdle }),
               fillUntil > clock.monotonicMs() {
                await fill(untilMonotonicMs: fillUntil)
            }
            lastPutMs = clock.monotonicMs()
            let (batch, sequence) = outbox.withLock { o -> ([VerifiedTransaction], UInt64) in
                var bytes = 0
                var count = 0
                for transaction in o.pending.prefix(configuration.batchTransactionsMax) {
                    bytes += transaction.transaction.bytes.count + 16
                    if count > 0, bytes > Self.batchBytesMax { break }
                    count += 1
                }
                let batch = Array(o.pending.prefix(count))
                o.pending.removeFirst(count)
                o.sequence += 1
                return (batch, o.sequence)
            }
            guard !batch.isEmpty else {
                if outbox.withLock({ $0.closed }) { return }
                continue
            }
            let key = configuration.logPrefix + Array("\(configuration.nodeName)/\(String(sequence, radix: 16))".utf8)
            let value = Self.encode(batch, timeMs: clock.nowMs(), origin: configuration.nodeName)
            // Retried until etcd takes it: the transactions were admitted and must be ordered.
            var backoffMs: Int64 = 50
            while !Task.isCancelled {
                do {
                    let revision = try await client.putIfAbsent(key, value).revision
                    outbox.withLock { o in
                        o.failingSinceMs = nil
                        o.lastPut = max(o.lastPut, revision)
                    }
                    break
                } catch {
                    outbox.withLock { o in
                        if o.failingSinceMs == nil { o.failingSinceMs = clock.monotonicMs() }
                        o.lastError = "\(error)"
                    }
                    try? await clock.sleep(untilMonotonicMs: clock.monotonicMs() + backoffMs)
                    backoffMs = min(backoffMs * 2, 2_000)
                }
            }
        }
    }

    /// The node made its blocks through `position` durable; the send loop, if it waits for that, goes on.
    public func committed(blocks: Int, through position: Int64?) {
        guard let position else { return }
        let waiter = outbox.withLock { o -> CheckedContinuation<Void, Never>? in
            o.committed = max(o.committed, position)
            guard o.isIdle else { return nil }
            defer { o.idleWaiter = nil }
            return o.idleWaiter
        }
        waiter?.resume()
    }

    /// Waits until `deadlineMs`, or until the node committed the last batch it put if that is sooner.
    private func fill(untilMonotonicMs deadlineMs: Int64) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [clock] in try? await clock.sleep(untilMonotonicMs: deadlineMs) }
            group.addTask { await self.waitForIdle() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForIdle() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = outbox.withLock { o -> Bool in
                    if o.isIdle || o.closed || Task.isCancelled { return true }
                    o.idleWaiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            outbox.withLock { o -> CheckedContinuation<Void, Never>? in
                defer { o.idleWaiter = nil }
                return o.idleWaiter
            }?.resume()
        }
    }

    private func waitForPending() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = outbox.withLock { o -> Bool in
                if !o.pending.isEmpty || o.closed { return true }
                o.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    // MARK: receiving

    private func receiveLoop(from start: Int64, _ deliver: (OrderedBatch) -> Void) async {
        var next = start
        var backoffMs: Int64 = 50
        while !Task.isCancelled {
            do {
                for try await watched in client.watch(prefix: configuration.logPrefix, from: next) {
                    for value in watched.values where value.modRevision >= next {
                        next = value.modRevision + 1
                        if let batch = await admit(value) { deliver(batch) }
                    }
                    backoffMs = 50
                }
            } catch let error as EtcdError {
                if case .compacted(let oldest) = error {
                    guard peers != nil else {
                        reading.withLock { $0.failure = error }
                        return
                    }
                    guard let resume = await catchUp(until: oldest, deliver) else { return }
                    next = resume
                    continue
                }
            } catch {}
            // The connection dropped or every member is down: resume after the last batch seen.
            try? await clock.sleep(untilMonotonicMs: clock.monotonicMs() + backoffMs)
            backoffMs = min(backoffMs * 2, 2_000)
        }
    }

    /// Most blocks asked of a peer at once.
    static let catchUpBlocksMax = 256

    /// Takes the blocks the node missed from its peers until a peer's head at or past `oldest` (the
    /// first revision etcd still keeps), then answers the revision to watch etcd from (nil once
    /// closed). Each block's transactions are checked like a batch's; a block with one that fails
    /// is refused and asked again (of whichever peer answers). A peer behind the compaction itself
    /// is asked again later.
    private func catchUp(until oldest: Int64, _ deliver: (OrderedBatch) -> Void) async -> Int64? {
        guard let peers else { return nil }
        var backoffMs: Int64 = 100
        func pause(_ why: String) async {
            reading.withLock { $0.catchUpError = why }
            try? await clock.sleep(untilMonotonicMs: clock.monotonicMs() + backoffMs)
            backoffMs = min(backoffMs * 2, 2_000)
        }
        while !Task.isCancelled {
            // The peer's blocks follow the node's head: wait until it has applied every batch handed out.
            let delivered = reading.withLock { $0.delivered }
            guard let head = committedHead(), head.height == startHeight + delivered else {
                try? await clock.sleep(untilMonotonicMs: clock.monotonicMs() + 20)
                continue
            }
            let fetched: PeerBlocks
            do { fetched = try await peers.blocks(after: head, limit: Self.catchUpBlocksMax) } catch {
                await pause("\(error)")
                continue
            }
            var refused: String?
            for (index, block) in fetched.blocks.enumerated() {
                let verified = await verify(block.transactions.map(\.bytes))
                let transactions = verified.compactMap { $0 }
                guard transactions.count == verified.count, transactions.allSatisfy({ $0.body.chainId == configuration.chainId }) else {
                    refused = "a peer's block \(block.header.height) holds a transaction whose signature does not verify"
                    break
                }
                let last = index == fetched.blocks.count - 1
                let batch = reading.withLock { r -> OrderedBatch in
                    for tx in transactions { r.seen.insert(tx.id) }
                    r.recent.append(transactions.map(\.id))
                    if r.recent.count > configuration.dedupBatches { r.seen.subtract(r.recent.removeFirst()) }
                    r.lastTimeMs = block.header.timeMs
                    r.delivered += 1
                    r.caughtUp += 1
                    // Until the peer's head, the store keeps its old position: a node that stops
                    // midway finds it compacted again and asks its peers again.
                    let position = last ? fetched.position : nil
                    if let position { r.position = position }
                    return OrderedBatch(transactions: transactions, timeMs: block.header.timeMs, position: position,
                                        expectedHash: block.header.hash)
                }
                deliver(batch)
            }
            if let refused {
                await pause(refused)
                continue
            }
            if let position = fetched.position {
                if position + 1 >= oldest {
                    reading.withLock { $0.catchUpError = nil }
                    return position + 1
                }
                if fetched.blocks.isEmpty { await pause("the peer that answered is itself behind etcd's compaction (at revision \(position))") }
            } else {
                reading.withLock { $0.catchUpError = nil }
                backoffMs = 100
            }
        }
        return nil
    }

    /// The batch one log entry holds, checked as every node checks it; nil if nothing in it is new.
    private func admit(_ value: EtcdKeyValue) async -> OrderedBatch? {
        let decoded = Self.decode(value.value)
        let verified = await verify(decoded?.transactions ?? [])
        // One committed-index query per batch, outside the lock (ids in the window are caught by `seen`).
        let committed = alreadyOrdered(verified.compactMap { $0?.id })
        return reading.withLock { r -> OrderedBatch? in
            r.position = value.modRevision
            var ids: [Hash256] = []
            var transactions: [VerifiedTransaction] = []
            for verified in verified {
                guard let verified, verified.transaction.body.chainId == configuration.chainId, !r.seen.contains(verified.id),
                      !committed.contains(verified.id) else { continue }
                r.seen.insert(verified.id)
                ids.append(verified.id)
                transactions.append(verified)
            }
            r.recent.append(ids)
            if r.recent.count > configuration.dedupBatches { r.seen.subtract(r.recent.removeFirst()) }
            guard !transactions.isEmpty else { return nil }
            let timeMs = max(decoded?.timeMs ?? 0, r.lastTimeMs + 1)
            r.lastTimeMs = timeMs
            r.delivered += 1
            return OrderedBatch(transactions: transactions, timeMs: timeMs, position: value.modRevision)
        }
    }

    /// Decodes and verifies a batch's transactions on all cores (nil: undecodable or a bad
    /// signature); this node's own submissions are taken as verified at admission.
    private func verify(_ batch: [[UInt8]]) async -> [VerifiedTransaction?] {
        let decoded = batch.map { try? Transaction(decoding: $0) }
        let own = ownVerified.withLock { own in decoded.map { tx in tx.flatMap { own.removeValue(forKey: $0.id) } } }
        let others = decoded.indices.filter { own[$0] == nil && decoded[$0] != nil }.map { decoded[$0]! }
        var checked = await ParallelVerifier.verify(others).makeIterator()
        return decoded.indices.map { index in
            if let mine = own[index] { return mine }
            guard decoded[index] != nil else { return nil }
            return try? checked.next()!.get()
        }
    }

    // MARK: batch format

    /// A batch as it is put: canonical `{v: 1, timeMs, origin, transactions: [bytes]}`.
    static func encode(_ transactions: [VerifiedTransaction], timeMs: Int64, origin: String) -> [UInt8] {
        CanonicalValue.map(["v": .int(1), "timeMs": .int(timeMs), "origin": .string(origin),
                            "transactions": .list(transactions.map { .bytes($0.transaction.bytes) })]).encoded
    }

    static func decode(_ bytes: [UInt8]) -> (timeMs: Int64, transactions: [[UInt8]])? {
        guard let value = try? CanonicalValue(decoding: bytes), value["v"]?.intValue == 1, let timeMs = value["timeMs"]?.intValue,
              case .list(let items)? = value["transactions"] else { return nil }
        return (timeMs, items.compactMap(\.bytesValue))
    }
}
