import Contracts
public import LedgerCore
import Ordering
public import Storage

/// What a committed block means to the node's waiters and subscribers.
public struct CommittedBlock: Sendable {
    public let header: BlockHeader
    public let hash: Hash256
    public let firstLogIndex: UInt64
    public let transactionIDs: [Hash256]
    public let senders: [IdentityID]
    public let results: [TransactionResult]
    /// The private parts' results of the block's private calls this node executed, by id.
    public let privateResults: [Hash256: TransactionResult]
    /// Where its batch is in the shared log (a consortium node's block), as `OrderedBatch.position`.
    public let position: Int64?
}

/// Turns ordered batches into durable blocks: execute, build the Merkle log nodes and roots,
/// sign, write in one database transaction, then update the state cache. Owned by one task.
struct CommitPipeline: Sendable {
    let store: any LedgerStore
    let cache: StateCache
    let executor: BlockExecutor
    let ordererKeys: IdentityKeys
    private(set) var head: BlockHeader
    private(set) var frontier: MerkleFrontier

    init(store: any LedgerStore, cache: StateCache, executor: BlockExecutor, ordererKeys: IdentityKeys,
         head: BlockHeader, frontier: MerkleFrontier) {
        precondition(frontier.size == head.logSize, "frontier must match the head")
        self.store = store
        self.cache = cache
        self.executor = executor
        self.ordererKeys = ordererKeys
        self.head = head
        self.frontier = frontier
    }

    /// A block that is executed and signed but not yet written.
    struct Prepared: Sendable {
        let commit: BlockCommit
        let committed: CommittedBlock
        /// A state read that failed before the block's execution ended: the block may rest on it.
        let readFailure: StateReadFailure?
        /// For a block taken from a peer, why this node's execution of it is not the peer's block.
        let mismatch: String?
    }

    /// Executes the next batch and signs its block; its writes become visible to later blocks
    /// (and to admission) at once, durable only after `write`.
    mutating func prepare(_ batch: OrderedBatch, payloads: [Hash256: PrivatePayload] = [:]) -> Prepared {
        let height = head.height + 1
        cache.prefetch(executor.likelyKeys(batch.transactions))
        let execution = executor.execute(height: height, timeMs: batch.timeMs, transactions: batch.transactions, state: cache,
                                         payloads: payloads)
        let (block, commit, nextFrontier) = Self.assemble(
            chainId: executor.chainId, height: height, previous: head, timeMs: batch.timeMs,
            transactions: batch.transactions.map(\.transaction), execution: execution,
            frontier: frontier, ordererKeys: ordererKeys, orderingPosition: batch.position)
        // Read after executing: a failure during (or before) the execution is seen here.
        let readFailure = cache.readFailure
        let mismatch = batch.expectedHash.flatMap { expected in
            block.hash == expected ? nil
                : "executing the block a peer gave for height \(height) gives block \(block.hash.hex), state root \(block.header.stateRoot.hex); "
                + "the peer's block is \(expected.hex): nothing from it is written"
        }
        cache.applyExecuted(commit.writeSet, height: height)
        head = block.header
        frontier = nextFrontier
        return Prepared(commit: commit, committed: CommittedBlock(
            header: block.header, hash: block.hash, firstLogIndex: commit.firstLogIndex,
            transactionIDs: block.transactions.map(\.id), senders: block.transactions.map(\.body.sender),
            results: execution.results, privateResults: execution.privateResults, position: batch.position), readFailure: readFailure, mismatch: mismatch)
    }

    /// Writes prepared blocks, in order, in one durable database transaction (group commit: one
    /// fsync for all). Refuses, writing none of them, if one was executed over a failed state read
    /// or is a peer's block this node's execution does not reproduce.
    func write(_ group: [Prepared]) throws {
        for prepared in group {
            if let failure = prepared.readFailure { throw failure }
            if let mismatch = prepared.mismatch { throw PeerBlockMismatch(description: mismatch) }
        }
        try store.commit(group.map(\.commit))
        for prepared in group { cache.applyDurable(prepared.commit.writeSet, height: prepared.commit.block.header.height) }
    }

    /// Prepares and writes one block; returns only after the commit is durable.
    mutating func commit(_ batch: OrderedBatch) throws -> CommittedBlock {
        let prepared = prepare(batch)
        try write([prepared])
        return prepared.committed
    }

    /// Computes the roots, signs the header and prepares the store write for one block.
    static func assemble(chainId: String, height: UInt64, previous: BlockHeader?, timeMs: Int64, transactions: [Transaction],
                         execution: BlockExecution, frontier: MerkleFrontier, ordererKeys: IdentityKeys, orderingPosition: Int64? = nil)
        -> (Block, BlockCommit, MerkleFrontier) {
        var log = frontier
        let firstLogIndex = log.size
        var leafHashes: [Hash256] = []
        var nodes: [MerkleFrontier.Node] = []
        leafHashes.reserveCapacity(transactions.count)
        for tx in transactions {
            let leaf = MerkleHashing.leafHash(tx.bytes)
            leafHashes.append(leaf)
            nodes.append(contentsOf: log.append(leafHash: leaf))
        }
        let ids = transactions.map(\.id)
        let header = BlockHeader(
            chainId: chainId, height: height, previousHash: previous?.hash ?? .zero, timeMs: timeMs,
            transactionCount: UInt32(transactions.count), transactionsRoot: Block.transactionsRoot(ids),
            logSize: log.size, logRoot: log.root,
            resultsRoot: TransactionResult.root(execution.results, transactionIDs: ids),
            stateRoot: execution.writeSet.stateRoot(after: previous?.stateRoot ?? .zero),
            ordererKey: ordererKeys.signingPublicKey)
        let block = Block.seal(header: header, transactions: transactions, results: execution.results, ordererKeys: ordererKeys)
        let commit = BlockCommit(block: block, firstLogIndex: firstLogIndex, leafHashes: leafHashes, logNodes: nodes,
                                 writeSet: execution.storedWrites, orderingPosition: orderingPosition)
        return (block, commit, log)
    }
}

/// Commits already-verified transactions straight into a store, bypassing the mempool and the
/// orderer. For bulk loading and benchmarks on a store no node is running on.
public struct DirectBlockWriter: Sendable {
    private var pipeline: CommitPipeline

    /// Opens a writer at the store's head.
    public init(store: any LedgerStore, ordererKeys: IdentityKeys) throws {
        guard let head = try store.head() else { throw NodeError.storeHasNoGenesis }
        let frontier = try MerkleFrontier(size: head.logSize, source: store)
        pipeline = CommitPipeline(store: store, cache: StateCache(store: store), executor: .standard(chainId: head.chainId),
                                  ordererKeys: ordererKeys, head: head, frontier: frontier)
    }

    /// The last committed header.
    public var head: BlockHeader { pipeline.head }

    /// Executes and durably commits one block.
    public mutating func commit(_ transactions: [VerifiedTransaction], timeMs: Int64) throws -> CommittedBlock {
        try pipeline.commit(OrderedBatch(transactions: transactions, timeMs: max(timeMs, pipeline.head.timeMs + 1)))
    }
}

/// A block taken from a peer that this node's own execution does not reproduce.
struct PeerBlockMismatch: Error, CustomStringConvertible {
    let description: String
}
