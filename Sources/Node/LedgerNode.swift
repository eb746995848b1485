public import Contracts
public import LedgerCore
public import Ordering
public import Storage
import Synchronization

/// Tunables of a node, each a limit with its unit.
public struct NodeConfiguration: Sendable {
    /// Most transactions per block.
    public var blockTransactionsMax: Int
    /// Longest a transaction waits for its block to be cut.
    public var blockDelayMs: Int
    /// A single node's orderer cuts a block at once when every block before it is durable (a lone
    /// client does not wait out `blockDelayMs`); false cuts only by size and delay, so a simulation
    /// that moves the clock decides every block.
    public var cutBlocksWhenIdle = true
    /// Most transactions admitted but not yet committed.
    public var mempoolTransactionsMax: Int
    /// Default wait for `awaitCommit`.
    public var commitWaitMs: Int
    /// The orderer of a node in a consortium (`EtcdOrderer`), made from the head block, the
    /// position in the shared log its store committed last (0: none) and the node's clock; nil is
    /// the single node's `SoloOrderer`.
    public var makeOrderer: MakeOrderer?
    public typealias MakeOrderer = @Sendable (_ head: BlockHeader, _ position: Int64, _ clock: any LedgerClock) -> any Orderer
    /// A consortium node's attestations (`Finality.swift`); nil on a single node, whose blocks are
    /// final once committed.
    public var attesting: AttestationSettings?
    /// The organizations whose private payloads this node holds (a consortium node: its own
    /// organization's); nil holds every collection (a single node serves every organization).
    public var organizations: Set<IdentityID>?
    /// Where this node fetches a payload it is entitled to but lacks (a consortium node's peers).
    public var privateDataSource: (any PrivateDataSource)?
    /// A consortium node's checkpoint snapshots (`Checkpoints.swift`); nil makes none.
    public var checkpoints: CheckpointSettings?
    /// Blocks a consortium node leaves in the shared log behind the final height: older batches,
    /// attestations and checkpoint statements are deleted from the ordering service and its
    /// history compacted (`Orderer.retire`), so the log stays a window. Nil: never retired.
    public var logRetentionBlocks: UInt64?

    public init(blockTransactionsMax: Int = 2_000, blockDelayMs: Int = 10, mempoolTransactionsMax: Int = 100_000,
                commitWaitMs: Int = 30_000, attesting: AttestationSettings? = nil, makeOrderer: MakeOrderer? = nil,
                organizations: Set<IdentityID>? = nil, privateDataSource: (any PrivateDataSource)? = nil) {
        (self.blockTransactionsMax, self.blockDelayMs, self.mempoolTransactionsMax, self.commitWaitMs, self.attesting, self.makeOrderer) =
            (blockTransactionsMax, blockDelayMs, mempoolTransactionsMax, commitWaitMs, attesting, makeOrderer)
        (self.organizations, self.privateDataSource) = (organizations, privateDataSource)
    }
}

/// Where and how a transaction was committed.
public struct CommitStatus: Sendable, Equatable {
    public let transactionID: Hash256
    public let height: UInt64
    public let logIndex: UInt64
    public let result: TransactionResult
}

/// A commit status plus the proof that the transaction is in the log under the latest tree head.
public struct CommitReceipt: Sendable {
    public let status: CommitStatus
    /// Leaf hash of the transaction (RFC 9162 leaf of its canonical bytes).
    public let leafHash: Hash256
    /// Tree size and root the proof is for (the head block's log).
    public let treeSize: UInt64
    public let rootHash: Hash256
    /// Inclusion proof, leaf side first.
    public let inclusionProof: [Hash256]
    /// Height of the block whose header signs `rootHash`.
    public let treeHeadHeight: UInt64
}

/// Failures of the node's own operations (not admission).
public enum NodeError: Error, Sendable, CustomStringConvertible {
    case unknownTransaction(Hash256)
    case timedOut(Hash256, ms: Int)
    case stopped
    case failed(String)
    case storeHasNoGenesis
    case inconsistentStore(String)
    case notFinal(Hash256, height: UInt64, ms: Int)

    public var description: String {
        switch self {
        case .unknownTransaction(let id): "transaction \(id.hex) is neither pending nor committed"
        case .timedOut(let id, let ms): "transaction \(id.hex) was not committed within \(ms) ms"
        case .stopped: "the node stopped"
        case .failed(let why): "the node failed and stopped committing: \(why)"
        case .storeHasNoGenesis: "the store has no genesis block; run `careledger init` first"
        case .inconsistentStore(let why): "the store is inconsistent: \(why)"
        case .notFinal(let id, let height, let ms):
            "transaction \(id.hex) was committed at height \(height) but not attested by a quorum of organizations within \(ms) ms"
        }
    }
}

/// The embedded node: admits transactions (parallel signature checks, then sequence, expiry and a
/// dry run of the contract), orders them with the SoloOrderer, and commits blocks durably.
public actor LedgerNode {
    public nonisolated let chainId: String
    public nonisolated let store: any LedgerStore
    public nonisolated let configuration: NodeConfiguration
    let executor: BlockExecutor
    let cache: StateCache
    let orderer: any Orderer
    let clock: any LedgerClock
    /// Private payloads fetched and refused (`PrivateData.swift`).
    let privateStatus = Mutex(PrivateDataStatus())
    /// Set by `stop`: a wait for a private payload gives up.
    let stopRequested = Mutex(false)
    /// What services read (`VisibleState`).
    let visible: VisibleState
    /// Writes checkpoint snapshots (a consortium node with `checkpoints` set).
    let checkpointWriter: CheckpointWriter?

    private var head: BlockHeader {
        didSet { committedHeight.withLock { $0 = head.height } }
    }
    /// The last committed height, readable without a hop onto the actor (consent decisions on
    /// the read path need only this).
    private let committedHeight = Mutex<UInt64>(0)

    /// Height of the last committed block (nonisolated).
    public nonisolated var height: UInt64 { committedHeight.withLock { $0 } }
    private var pendingIDs: Set<Hash256> = []
    /// Next sequence and number of pending transactions per sender with anything pending.
    private var pendingBySender: [IdentityID: (next: UInt64, count: Int)] = [:]
    /// Callers waiting for a commit, each with the timer that expires its wait.
    private var waiters: [Hash256: [CommitWaiter]] = [:]
    /// Callers waiting for a height (`waitForHeight`), each with its timer.
    private var heightWaiters: [HeightWaiter] = []
    private var nextToken: UInt64 = 0
    private var subscribers: [UInt64: AsyncStream<CommittedBlock>.Continuation] = [:]
    private var commitTask: Task<Void, Never>?
    private var failure: String?
    /// Decoded identities reused across admission dry runs (actor-confined).
    private let admissionMemo = IdentityMemo()
    private var stopping = false

    // Finality (a consortium node only).
    private var finality: FinalityTracker?
    private let attestationStore: (any AttestationStore)?
    /// Writes attestations and final heights off the actor (`AttestationSaver`).
    private var attestationSaver: AttestationSaver?
    private let finalHeightValue = Mutex<UInt64>(0)
    private nonisolated let attests: Bool
    private var divergence: Disagreement?
    /// A divergence was found; it is reported once the attestations behind it are stored.
    private var divergenceFound = false
    private var disagreements: [Disagreement] = []
    private var refusedAttestations = 0
    /// Attestations by organizations this node does not know yet (admitted in a block ahead of it).
    private var unverified: [Attestation] = []
    private var finalWaiters: [UInt64: (height: UInt64, status: CommitStatus, waiter: CommitWaiter)] = [:]
    private var attestationTasks: [Task<Void, Never>] = []
    /// Own attestations waiting for the board, and the signal that wakes the publisher.
    private let outbox = AttestationOutbox()
    private var outgoing: AsyncStream<Void>.Continuation?
    /// Committed blocks' places in the shared log, one every `logRetentionBlocks / 4` heights, oldest first:
    /// the log is retired through one once it is `logRetentionBlocks` below the final height.
    private var logMarks: [(height: UInt64, position: Int64)] = []
    private var retiring = false
    /// Below which height the shared log was last retired, and why the latest attempt failed.
    private var logRetired: (height: UInt64, error: String?) = (0, nil)

    /// Opens a node over a store that already holds a genesis block, and starts committing.
    public init(store: any LedgerStore, ordererKeys: IdentityKeys, configuration: NodeConfiguration = .init(),
                clock: any LedgerClock = SystemClock()) async throws {
        guard let head = try store.head() else { throw NodeError.storeHasNoGenesis }
        let frontier = try MerkleFrontier(size: head.logSize, source: store)
        guard frontier.root == head.logRoot else {
            throw NodeError.inconsistentStore("stored log nodes give root \(frontier.root.hex), head block says \(head.logRoot.hex)")
        }
        self.chainId = head.chainId
        self.store = store
        self.configuration = configuration
        self.executor = .standard(chainId: head.chainId)
        self.cache = StateCache(store: store)
        try cache.loadNamespaces()
        self.visible = VisibleState(cache: cache, store: store)
        self.clock = clock
        self.head = head
        committedHeight.withLock { $0 = head.height }
        self.orderer = try configuration.makeOrderer.map { make in make(head, try store.orderingPosition() ?? 0, clock) } ?? SoloOrderer(
            configuration: .init(batchTransactionsMax: configuration.blockTransactionsMax, batchDelayMs: configuration.blockDelayMs,
                                 cutWhenIdle: configuration.cutBlocksWhenIdle),
            clock: clock, lastTimeMs: head.timeMs)
        self.attests = configuration.attesting != nil
        self.checkpointWriter = try configuration.checkpoints.map { settings in
            CheckpointWriter(settings: settings, chainId: head.chainId, base: try (store as? any SnapshotStore)?.snapshotBase())
        }
        self.attestationStore = store as? any AttestationStore
        var ownValues: [BlockHeader] = []
        if configuration.attesting != nil {
            let stored = min(try attestationStore?.finalHeight() ?? 0, head.height)
            finality = FinalityTracker(quorum: try Genesis.finalityQuorum(in: store), finalHeight: stored)
            finalHeightValue.withLock { $0 = stored }
            // This node's values for the heights not final yet (attested again: the node may have
            // stopped before publishing them).
            let from = max(stored + 1, head.height > Self.reattestMax ? head.height - Self.reattestMax : 0)
            if from <= head.height {
                for height in from...head.height { if let header = try store.header(height: height) { ownValues.append(header) } }
            }
        }
        // A restarted node retires the log it read before as soon as its head is far enough behind.
        if configuration.logRetentionBlocks != nil, let position = try store.orderingPosition(), position > 0 {
            logMarks = [(head.height, position)]
        }
        let pipeline = CommitPipeline(store: store, cache: cache, executor: executor, ordererKeys: ordererKeys,
                                      head: head, frontier: frontier)
        startCommitting(pipeline)
        if let attesting = configuration.attesting { startAttesting(attesting, ownValues: ownValues) }
    }

    /// Least time between two publications of this node's attestations (each is one etcd request,
    /// and every node watches them all).
    static let attestationIntervalMs: Int64 = 20

    /// Most recent blocks a restarted node attests again.
    static let reattestMax: UInt64 = 1_024

    /// Blocks executed ahead of the one being written. On a single node one is enough to overlap
    /// execution of block N+1 with the write and fsync of block N, and the orderer cuts bigger
    /// blocks while the writer is busy. A consortium node's blocks are the shared log's batches,
    /// small ones under a steady load: it executes further ahead, and the writer makes every block
    /// waiting durable in one transaction (group commit: one fsync, each page written once).
    static let blocksAheadMax = 2
    static let sharedLogBlocksAheadMax = 8

    /// Two stages: the executor prepares blocks (execute, Merkle, sign) while the writer makes the
    /// previous ones durable; waiters are told only after their block is durable.
    private func startCommitting(_ pipeline: CommitPipeline) {
        let orderer = self.orderer
        let prepared = PreparedBlocks()
        let slots = BlockSlots(count: configuration.makeOrderer == nil ? Self.blocksAheadMax : Self.sharedLogBlocksAheadMax)
        let checkpoints = checkpointWriter, snapshotStore = store as? any SnapshotStore
        // The write waits for the disk (fdatasync) on a thread of its own, not one of the
        // cooperative pool's, which has a thread per core: execution, the orderer, admission and
        // (in one process) other nodes go on meanwhile.
        let disk = BlockingIO(label: "careledger.block-writes")
        let writerTask = Task.detached { [weak self] in
            while let waiting = await prepared.takeAll() {
                var rest = waiting[...]
                while !rest.isEmpty {
                    // A checkpoint's view is taken before the next block is written (it is of exactly
                    // that block): a group ends at a checkpoint's block.
                    let end = rest.firstIndex { checkpoints?.isCheckpoint($0.committed.header.height) == true }.map { $0 + 1 } ?? rest.endIndex
                    let group = Array(rest[..<end])
                    rest = rest[end...]
                    do {
                        try await disk.run { try pipeline.write(group) }
                        if let checkpoints, let snapshotStore, let last = group.last, checkpoints.isCheckpoint(last.committed.header.height) {
                            checkpoints.start(try snapshotStore.view())
                        }
                    } catch {
                        slots.fail()
                        await self?.didFail("\(error)")
                        return
                    }
                    orderer.committed(blocks: group.count, through: group.last { $0.committed.position != nil }?.committed.position)
                    // A slot is free once its block is durable; telling waiters can trail behind.
                    for block in group {
                        slots.release()
                        await self?.didCommit(block.committed)
                    }
                }
            }
        }
        commitTask = Task.detached { [weak self] in
            var pipeline = pipeline
            // Take a slot before cutting the batch, so transactions keep piling up in the
            // orderer while the writer is busy: bigger blocks, fewer fsyncs (group commit).
            while await slots.acquire(), let batch = await orderer.nextBatch() {
                let payloads: [Hash256: PrivatePayload]
                do {
                    payloads = try await self?.privatePayloads(for: batch.transactions) ?? [:]
                } catch {
                    slots.fail()
                    if case NodeError.stopped = error {} else { await self?.didFail("\(error)") }
                    break
                }
                prepared.push(pipeline.prepare(batch, payloads: payloads))
            }
            prepared.finish()
            await writerTask.value
            // The orderer ended on its own (not at `stop`): the node can commit nothing more.
            if let why = orderer.failureDescription { await self?.didFail(why) }
        }
    }

    /// The last committed block's header.
    public var headHeader: BlockHeader { head }

    /// The ledger's "now": the time the next block will carry (the node's clock, never below the
    /// head's time + 1). Services stamp times a contract checks (a session's start, an expiry) with it.
    public var nextBlockTimeMs: Int64 { max(clock.nowMs(), head.timeMs + 1) }

    /// Why the node stopped committing, once a store write or read failed; nil while healthy. A
    /// failed state read counts at once, though the node notices it at its next block or submission.
    public var failureError: NodeError? { (failure ?? cache.readFailure.map { "\($0)" }).map { .failed($0) } }

    /// This node's checkpoint snapshots; nil when it makes none.
    public nonisolated var checkpointStatus: CheckpointStatus? { checkpointWriter?.status }

    /// Waits until this node has committed block `height` (true), or `timeoutMs` passed (false).
    /// Polls every 5 ms, counted in steps rather than by a clock (a simulated clock need not move).
    public func waitForHeight(_ height: UInt64, timeoutMs: Int) async -> Bool {
        if head.height >= height { return true }
        guard failure == nil, !stopping, timeoutMs > 0 else { return false }
        nextToken += 1
        let token = nextToken
        let deadlineMs = clock.monotonicMs() + Int64(timeoutMs)
        return await withCheckedContinuation { continuation in
            let timer = Task { [weak self, clock] in
                do { try await clock.sleep(untilMonotonicMs: deadlineMs) } catch { return }
                await self?.expireHeightWaiter(token)
            }
            heightWaiters.append(HeightWaiter(height: height, token: token, continuation: continuation, timer: timer))
        }
    }

    private func expireHeightWaiter(_ token: UInt64) {
        guard let index = heightWaiters.firstIndex(where: { $0.token == token }) else { return }
        heightWaiters.remove(at: index).resume(false)
    }

    /// Tells the height waiters whose height is reached (all of them, `false`, when `reached` is nil).
    private func releaseHeightWaiters(reached: UInt64?) {
        guard !heightWaiters.isEmpty else { return }
        var kept: [HeightWaiter] = []
        for waiter in heightWaiters {
            if let reached, waiter.height > reached { kept.append(waiter) } else { waiter.resume(reached != nil) }
        }
        heightWaiters = kept
    }

    /// Number of transactions admitted and not yet committed.
    public var pendingCount: Int { pendingIDs.count }

    /// Committed state (through the cache), for read-only queries: shared state and the private
    /// state of the collections this node holds.
    public nonisolated var state: any StateReader { visible }

    /// Loads the committed values of `keys` not cached yet in one store read, for a caller about
    /// to read many of them (a FHIR transaction's records). Only a cache fill: reads answer the same.
    public nonisolated func prefetch(_ keys: [String]) { cache.prefetch(keys) }

    /// The first store read under `state` that failed, if any: a decision taken over `state`
    /// since then may rest on a missing value and must not take effect.
    nonisolated var stateReadFailure: StateReadFailure? { cache.readFailure }

    // MARK: admission

    /// Admits transactions given as canonical bytes.
    /// `payloads`, when given, holds each one's private payload (nil for a clear call), by position.
    public func submit(bytes: [[UInt8]], payloads: [[UInt8]?] = []) async -> [Result<Hash256, AdmissionError>] {
        var decoded: [Transaction] = []
        var byID: [Hash256: [UInt8]] = [:]
        var errors: [Int: AdmissionError] = [:]
        for (index, raw) in bytes.enumerated() {
            do {
                let tx = try Transaction(decoding: raw)
                decoded.append(tx)
                if index < payloads.count, let payload = payloads[index] { byID[tx.id] = payload }
            } catch { errors[index] = .invalid(error) }
        }
        var results = await submit(decoded, payloads: byID).makeIterator()
        return bytes.indices.map { index in errors[index].map { .failure($0) } ?? results.next()! }
    }

    /// Admits one transaction; returns its id once it is in the order (not yet committed).
    @discardableResult
    public func submit(_ transaction: Transaction) async throws(AdmissionError) -> Hash256 {
        try await submit([transaction])[0].get()
    }

    /// Admits transactions; results are in input order. Accepted ones are handed to the orderer
    /// in input order, so one sender's consecutive sequence numbers may be submitted together.
    public func submit(_ transactions: [Transaction], payloads: [Hash256: [UInt8]] = [:]) async -> [Result<Hash256, AdmissionError>] {
        let checked = await ParallelVerifier.verify(transactions)
        let privateChecks = checkedPayloads(checked.compactMap { try? $0.get() }, payloads)
        var admittedPayloads: [(id: Hash256, bytes: [UInt8])] = []
        // Back on the actor: everything below is synchronous, so sequence order is preserved.
        var results: [Result<Hash256, AdmissionError>] = []
        results.reserveCapacity(checked.count)
        var accepted: [VerifiedTransaction] = []
        // The dry run uses the time the next block will carry: the orderer never goes below the head's time + 1.
        let nowMs = nextBlockTimeMs
        cache.prefetch(executor.likelyKeys(checked.compactMap { try? $0.get() }))
        // One view for the whole submission: a transaction may depend on an earlier one of it.
        var view = StateView(base: cache, identityMemo: admissionMemo)
        for outcome in checked {
            switch outcome {
            case .failure(let error): results.append(.failure(.invalid(error)))
            case .success(let tx):
                var payload: PrivatePayload?
                switch privateChecks[tx.id] {
                case .failure(let error): results.append(.failure(error)); continue
                case .success(let checked): payload = checked
                case nil: payload = nil
                }
                if let error = admit(tx, nowMs: nowMs, view: &view, payload: payload) {
                    results.append(.failure(error))
                } else {
                    accepted.append(tx)
                    results.append(.success(tx.id))
                    if let payload { admittedPayloads.append((tx.id, payload.encoded)) }
                }
            }
        }
        // A dry run over a failed store read proves nothing: refuse it all and stop.
        if let readFailure = cache.readFailure {
            for tx in accepted { release(tx.id, sender: tx.body.sender) }
            didFail("\(readFailure)")
            return results.map { result in
                if case .failure(.invalid) = result { return result }
                return .failure(.stopping)
            }
        }
        // A payload is durable before its transaction is ordered: no node waits for one that is gone.
        if !admittedPayloads.isEmpty {
            do { try (store as? any PrivatePayloadStore)?.savePrivatePayloads(admittedPayloads) } catch {
                for tx in accepted { release(tx.id, sender: tx.body.sender) }
                didFail("\(error)")
                return results.map { result in result.flatMap { _ in .failure(.stopping) } }
            }
        }
        if !accepted.isEmpty {
            do { try orderer.submit(accepted) } catch {
                for tx in accepted { release(tx.id, sender: tx.body.sender) }
                let refusal: AdmissionError = if case .unavailable(let why) = error { .orderingUnavailable(why) } else { .stopping }
                return results.map { result in result.flatMap { _ in .failure(refusal) } }
            }
        }
        return results
    }

    private func admit(_ tx: VerifiedTransaction, nowMs: Int64, view: inout StateView, payload: PrivatePayload?) -> AdmissionError? {
        if stopping || failure != nil { return .stopping }
        if pendingIDs.contains(tx.id) { return .duplicate(tx.id) }
        if pendingIDs.count >= configuration.mempoolTransactionsMax { return .mempoolFull(limit: configuration.mempoolTransactionsMax) }
        let sender = tx.body.sender
        let expected = pendingBySender[sender]?.next ?? BlockExecutor.lastSequence(of: sender, in: cache) + 1
        if let rejection = executor.admit(tx, view: &view, nextHeight: head.height + 1, timeMs: nowMs, expectedSequence: expected,
                                          payload: payload) {
            return .rejected(rejection)
        }
        pendingIDs.insert(tx.id)
        pendingBySender[sender] = (tx.body.sequence + 1, (pendingBySender[sender]?.count ?? 0) + 1)
        return nil
    }

    private func release(_ id: Hash256, sender: IdentityID) {
        guard pendingIDs.remove(id) != nil, let entry = pendingBySender[sender] else { return }
        // Once nothing is pending for a sender, committed state is the truth again (a transaction
        // refused in its block does not consume its sequence number).
        pendingBySender[sender] = entry.count <= 1 ? nil : (entry.next, entry.count - 1)
    }

    // MARK: commits

    private func didCommit(_ block: CommittedBlock) {
        head = block.header
        if let retention = configuration.logRetentionBlocks, let position = block.position,
           block.header.height % max(1, retention / 4) == 0 {
            logMarks.append((block.header.height, position))
            // Retiring through a later mark covers every earlier one.
            if logMarks.count > Self.logMarksMax { logMarks.removeFirst() }
        }
        if attests { attest(block.header) }
        for (offset, id) in block.transactionIDs.enumerated() {
            release(id, sender: block.senders[offset])
            if let list = waiters.removeValue(forKey: id) {
                let status = CommitStatus(transactionID: id, height: block.header.height,
                                          logIndex: block.firstLogIndex + UInt64(offset), result: block.privateResults[id] ?? block.results[offset])
                for waiter in list { waiter.resume(returning: status) }
            }
        }
        for subscriber in subscribers.values { subscriber.yield(block) }
        releaseHeightWaiters(reached: block.header.height)
    }

    /// Stops committing for good: the first reason is kept, waiters are told, the orderer closes
    /// (a block executed over a failed read is refused by the writer, so nothing after commits).
    private func didFail(_ reason: String) {
        if failure == nil { failure = reason }
        orderer.close()
        failAllWaiters(NodeError.failed(failure ?? reason))
    }

    private func failAllWaiters(_ error: NodeError) {
        for list in waiters.values { for waiter in list { waiter.resume(throwing: error) } }
        waiters.removeAll()
        for entry in finalWaiters.values { entry.waiter.resume(throwing: error) }
        finalWaiters.removeAll()
        releaseHeightWaiters(reached: nil)
        for subscriber in subscribers.values { subscriber.finish() }
        subscribers.removeAll()
    }

    /// Waits until the transaction is committed (durably) and returns where, with its result.
    /// Answers only once this node has applied the block, so that what the caller reads next
    /// (`height`, `state`) includes it: the store holds a block a moment before the node applies it.
    public func awaitCommit(_ id: Hash256, timeoutMs: Int? = nil) async throws -> CommitStatus {
        let location = try store.location(of: id)
        if let location, location.height <= head.height {
            return CommitStatus(transactionID: id, height: location.height, logIndex: location.logIndex,
                                result: effectiveResult(id, logIndex: location.logIndex, shared: location.result))
        }
        if let failure { throw NodeError.failed(failure) }
        guard location != nil || pendingIDs.contains(id) else { throw NodeError.unknownTransaction(id) }
        let timeout = timeoutMs ?? configuration.commitWaitMs
        nextToken += 1
        let token = nextToken
        let deadlineMs = clock.monotonicMs() + Int64(timeout)
        return try await withCheckedThrowingContinuation { continuation in
            let timer = Task { [weak self, clock] in
                do { try await clock.sleep(untilMonotonicMs: deadlineMs) } catch { return }
                await self?.expire(id, token: token, timeoutMs: timeout)
            }
            waiters[id, default: []].append(CommitWaiter(token: token, continuation: continuation, timer: timer))
        }
    }

    private func expire(_ id: Hash256, token: UInt64, timeoutMs: Int) {
        guard var list = waiters[id], let index = list.firstIndex(where: { $0.token == token }) else { return }
        let waiter = list.remove(at: index)
        waiters[id] = list.isEmpty ? nil : list
        waiter.resume(throwing: NodeError.timedOut(id, ms: timeoutMs))
    }

    /// Submits one transaction and waits for its commit; returns the receipt with inclusion proof.
    public func submitAndWait(_ transaction: Transaction, timeoutMs: Int? = nil) async throws -> CommitReceipt {
        let id = try await submit(transaction)
        _ = try await awaitCommit(id, timeoutMs: timeoutMs)
        return try receipt(for: id)
    }

    /// The commit status of a transaction with an inclusion proof against the head's tree.
    public func receipt(for id: Hash256) throws -> CommitReceipt {
        guard let location = try store.location(of: id) else { throw NodeError.unknownTransaction(id) }
        // The block may be durable before `didCommit` has moved `head` (waiters are told after the
        // write); then the store's head, which includes it, is the tree to prove against.
        var head = self.head
        if location.logIndex >= head.logSize, let stored = try store.head(), stored.logSize > location.logIndex { head = stored }
        let proof = try MerkleProofBuilder(source: store).inclusionProof(index: location.logIndex, size: head.logSize)
        let leaf = try store.subtreeHash(level: 0, index: location.logIndex)
        do {
            try MerkleVerifier.verifyInclusion(leafHash: leaf, index: location.logIndex, size: head.logSize, proof: proof, root: head.logRoot)
        } catch {
            throw NodeError.inconsistentStore("inclusion proof for \(id.hex) does not verify: \(error)")
        }
        return CommitReceipt(
            status: CommitStatus(transactionID: id, height: location.height, logIndex: location.logIndex,
                                 result: effectiveResult(id, logIndex: location.logIndex, shared: location.result)),
            leafHash: leaf, treeSize: head.logSize, rootHash: head.logRoot, inclusionProof: proof, treeHeadHeight: head.height)
    }

    /// A stream of every block committed from now on.
    public func commits() -> AsyncStream<CommittedBlock> {
        let (stream, continuation) = AsyncStream.makeStream(of: CommittedBlock.self, bufferingPolicy: .unbounded)
        nextToken += 1
        let token = nextToken
        subscribers[token] = continuation
        continuation.onTermination = { [weak self] _ in Task { await self?.unsubscribe(token) } }
        return stream
    }

    private func unsubscribe(_ token: UInt64) { subscribers[token] = nil }

    /// Stops admitting, commits everything already admitted, then stops.
    public func stop() async {
        stopping = true
        stopRequested.withLock { $0 = true }
        orderer.close()
        await commitTask?.value
        outgoing?.finish()
        for task in attestationTasks { task.cancel() }
        for task in attestationTasks { await task.value }
        await attestationSaver?.flush()
        failAllWaiters(.stopped)
    }
}

// MARK: finality

extension LedgerNode {
    /// The last height attested by a quorum of organizations with this node's values; on a single
    /// node (no attestations) the committed height.
    public nonisolated var finalHeight: UInt64 { attests ? finalHeightValue.withLock { $0 } : height }

    /// True on a consortium node: it attests its blocks and counts the other organizations' attestations.
    public nonisolated var isAttesting: Bool { attests }

    /// Where the consortium stands on this node's blocks.
    public var finalityStatus: FinalityStatus {
        FinalityStatus(quorum: finality?.quorum ?? 1, finalHeight: finalHeight, divergence: divergence,
                       disagreements: disagreements, refusedAttestations: refusedAttestations)
    }

    /// Waits until the transaction is committed and its block final; the commit status.
    public func awaitFinal(_ id: Hash256, timeoutMs: Int? = nil) async throws -> CommitStatus {
        let timeout = timeoutMs ?? configuration.commitWaitMs
        let deadlineMs = clock.monotonicMs() + Int64(timeout)
        let status = try await awaitCommit(id, timeoutMs: timeout)
        if finalHeight >= status.height { return status }
        if let failure { throw NodeError.failed(failure) }
        nextToken += 1
        let token = nextToken
        return try await withCheckedThrowingContinuation { continuation in
            let timer = Task { [weak self, clock] in
                do { try await clock.sleep(untilMonotonicMs: deadlineMs) } catch { return }
                await self?.expireFinal(token, timeoutMs: timeout)
            }
            finalWaiters[token] = (status.height, status, CommitWaiter(token: token, continuation: continuation, timer: timer))
        }
    }

    private func expireFinal(_ token: UInt64, timeoutMs: Int) {
        guard let entry = finalWaiters.removeValue(forKey: token) else { return }
        entry.waiter.resume(throwing: NodeError.notFinal(entry.status.transactionID, height: entry.height, ms: timeoutMs))
    }

    /// Subscribes to the board from the first height not final and starts the publisher; attests
    /// the recent heights not final again.
    fileprivate func startAttesting(_ settings: AttestationSettings, ownValues: [BlockHeader]) {
        if let attestationStore {
            attestationSaver = AttestationSaver(store: attestationStore, saved: { [weak self] final in
                guard let final else { return }
                Task { await self?.finalized(through: final) }
            }, failed: { [weak self] why in
                Task { await self?.didFail(why) }
            })
        }
        let (ticks, sink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        outgoing = sink
        let board = settings.board
        let clock = self.clock
        let outbox = self.outbox
        // One publisher: whatever piled up goes in one request, retried until the board takes it
        // or the node stops.
        attestationTasks.append(Task.detached {
            for await _ in ticks {
                let group = outbox.take()
                var backoffMs: Int64 = 50
                while !group.isEmpty, !Task.isCancelled {
                    do {
                        try await board.publish(group)
                        break
                    } catch {
                        try? await clock.sleep(untilMonotonicMs: clock.monotonicMs() + backoffMs)
                        backoffMs = min(backoffMs * 2, 2_000)
                    }
                }
                // Blocks committed meanwhile go in the next publication, as one attestation.
                try? await clock.sleep(untilMonotonicMs: clock.monotonicMs() + Self.attestationIntervalMs)
            }
        })
        let from = finalHeightValue.withLock { $0 } + 1
        attestationTasks.append(Task.detached { [weak self] in
            for await group in board.attestations(from: from) {
                guard let self else { return }
                await self.received(group)
            }
        })
        for header in ownValues { attest(header) }
    }

    /// Signs this node's values for a block it committed, counts them and queues them for the board.
    fileprivate func attest(_ header: BlockHeader) {
        guard var tracker = finality, let settings = configuration.attesting else { return }
        var outcomes = tracker.committed(height: header.height, values: Attestation.Values(header))
        let own = settings.attesters.map { Attestation.sign(header, attester: $0) }
        for attestation in own { outcomes += tracker.add(attestation, head: head.height) }
        outbox.add(own)
        outgoing?.yield()
        finality = tracker
        // Attestations of organizations admitted in this block can be checked now.
        let waiting = unverified.filter { $0.height <= header.height }
        if !waiting.isEmpty {
            unverified.removeAll { $0.height <= header.height }
            received(waiting)
        }
        apply(outcomes, saving: own)
    }

    /// Checks attestations from the board against the attesters' registered keys and counts them.
    fileprivate func received(_ group: [Attestation]) {
        guard var tracker = finality else { return }
        var valid: [Attestation] = []
        var outcomes: [FinalityTracker.Outcome] = []
        for attestation in group {
            guard attestation.chainId == chainId else {
                refusedAttestations += 1
                continue
            }
            guard let identity = Directory.identity(attestation.attester, in: cache) else {
                if attestation.height > head.height, unverified.count < Self.unverifiedMax { unverified.append(attestation) } else { refusedAttestations += 1 }
                continue
            }
            guard identity.kind == .organization, !identity.revoked, attestation.isSigned(by: identity.signingKey) else {
                refusedAttestations += 1
                continue
            }
            valid.append(attestation)
            outcomes += tracker.add(attestation, head: head.height)
        }
        finality = tracker
        apply(outcomes, saving: valid)
    }

    /// Most attestations kept while their attester is unknown.
    static let unverifiedMax = 10_000
    /// Most disagreements short of a quorum kept for the status.
    static let disagreementsKept = 32

    private func apply(_ outcomes: [FinalityTracker.Outcome], saving attestations: [Attestation]) {
        var newFinal: UInt64?
        var diverged: Disagreement?
        for outcome in outcomes {
            switch outcome {
            case .final(let height): newFinal = max(newFinal ?? 0, height)
            case .disagreement(let disagreement):
                disagreements.append(disagreement)
                if disagreements.count > Self.disagreementsKept { disagreements.removeFirst() }
            case .diverged(let disagreement):
                guard !divergenceFound else { continue }
                divergenceFound = true
                diverged = disagreement
                // No block more: the node halts its writes now, and says why once the evidence is stored.
                orderer.close()
            }
        }
        // Stored first (off the actor); the new final height, or the divergence, counts once it is.
        guard let attestationSaver else {
            if let diverged { halt(diverged) }
            if let newFinal { finalized(through: newFinal) }
            return
        }
        if !attestations.isEmpty || newFinal != nil { attestationSaver.save(attestations, finalHeight: newFinal) }
        if let diverged {
            Task {
                await attestationSaver.flush()
                halt(diverged)
            }
        }
    }

    /// The quorum attested other values than this node's: it stops, with both values as the reason
    /// (`careledger verify` explains it from the stored attestations).
    private func halt(_ disagreement: Disagreement) {
        divergence = disagreement
        didFail("this node diverged from the consortium: \(disagreement)")
    }

    /// The attestations behind `newFinal` are stored: it is the final height, its waiters are told.
    private func finalized(through newFinal: UInt64) {
        guard failure == nil else { return }
        finalHeightValue.withLock { $0 = max($0, newFinal) }
        for (token, entry) in finalWaiters where entry.height <= newFinal {
            finalWaiters[token] = nil
            entry.waiter.resume(returning: entry.status)
        }
        if !stopping { retireLog(final: newFinal) }
    }

    /// Most marks kept (finality stalled); the newest cover the oldest.
    static let logMarksMax = 1_024

    /// Retires the shared log through the newest mark `logRetentionBlocks` below `final`, one
    /// retirement at a time, off the actor; and the checkpoint statements `keep` intervals further
    /// back, whose snapshots no node keeps any more.
    private func retireLog(final: UInt64) {
        guard let retention = configuration.logRetentionBlocks, !retiring, let board = configuration.attesting?.board else { return }
        var due: (height: UInt64, position: Int64)?
        while let first = logMarks.first, first.height + retention <= final { due = logMarks.removeFirst() }
        guard let due else { return }
        retiring = true
        let orderer = self.orderer
        let checkpoints = checkpointWriter?.settings
        Task.detached { [weak self] in
            var failure: String?
            do {
                try await orderer.retire(through: due.position)
                try await board.retire(below: due.height)
                if let checkpoints {
                    let kept = UInt64(checkpoints.keep) * checkpoints.intervalBlocks
                    if due.height > kept { try await checkpoints.board.retireStatements(below: due.height - kept) }
                }
            } catch { failure = "\(error)" }
            await self?.retired(below: due.height, failure: failure)
        }
    }

    private func retired(below height: UInt64, failure: String?) {
        retiring = false
        logRetired = (failure == nil ? height : logRetired.height, failure)
        retireLog(final: finalHeight)
    }

    /// Below which height this node last retired the shared log (0: not yet), and why the latest
    /// attempt failed while it fails.
    public var logRetirement: (height: UInt64, error: String?) { logRetired }
}

/// A caller of `awaitCommit`, and the timer that ends its wait; the timer is cancelled once the
/// wait is answered, so no sleeping task outlives it.
/// A caller of `waitForHeight`: told `true` when the height is committed, `false` on its timeout
/// or when the node stops.
private struct HeightWaiter {
    let height: UInt64
    let token: UInt64
    let continuation: CheckedContinuation<Bool, Never>
    let timer: Task<Void, Never>

    func resume(_ reached: Bool) {
        timer.cancel()
        continuation.resume(returning: reached)
    }
}

private struct CommitWaiter {
    let token: UInt64
    let continuation: CheckedContinuation<CommitStatus, any Error>
    let timer: Task<Void, Never>

    func resume(returning status: CommitStatus) {
        timer.cancel()
        continuation.resume(returning: status)
    }

    func resume(throwing error: any Error) {
        timer.cancel()
        continuation.resume(throwing: error)
    }
}

/// Blocks the executor prepared, for the writer, which takes every one waiting at once.
final class PreparedBlocks: Sendable {
    private struct State {
        var blocks: [CommitPipeline.Prepared] = []
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func push(_ block: CommitPipeline.Prepared) {
        state.withLock { s in
            s.blocks.append(block)
            defer { s.waiter = nil }
            return s.waiter
        }?.resume()
    }

    /// No more blocks come; the writer takes what is left and then ends.
    func finish() {
        state.withLock { s in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }?.resume()
    }

    /// Every block waiting, oldest first, once there is one; nil once finished and drained.
    func takeAll() async -> [CommitPipeline.Prepared]? {
        while true {
            let taken: [CommitPipeline.Prepared]?? = state.withLock { s in
                if !s.blocks.isEmpty {
                    defer { s.blocks.removeAll() }
                    return .some(s.blocks)
                }
                return s.finished ? .some(nil) : .none
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if !s.blocks.isEmpty || s.finished { return true }
                    s.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}

/// Counts blocks executed but not yet durable; the executor waits when all slots are taken.
final class BlockSlots: Sendable {
    private struct State {
        var free: Int
        var failed = false
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(free: count)) }

    /// Takes a slot; false once the writer failed.
    func acquire() async -> Bool {
        await withCheckedContinuation { continuation in
            let immediate: Bool? = state.withLock { s in
                if s.failed { return false }
                if s.free > 0 {
                    s.free -= 1
                    return true
                }
                s.waiters.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Returns a slot, handing it straight to a waiting executor if there is one.
    func release() {
        let waiter: CheckedContinuation<Bool, Never>? = state.withLock { s in
            if s.waiters.isEmpty {
                s.free += 1
                return nil
            }
            return s.waiters.removeFirst()
        }
        waiter?.resume(returning: true)
    }

    /// Wakes every waiter with false: nothing more will be written.
    func fail() {
        let waiters = state.withLock { s in
            s.failed = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: false) }
    }
}
