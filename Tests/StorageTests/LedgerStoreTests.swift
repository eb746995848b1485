import Foundation
import LedgerCore
import Storage
import Testing

/// The ledger store implementations under one behavioural test: SQLite on disk, and in memory
/// (what the simulator runs on). "Reopening" the in-memory store is keeping the same object.
enum LedgerStoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, inMemory

    var testDescription: String { rawValue }

    /// A fresh store, a way to reopen it, and a cleanup.
    func make() throws -> (store: any LedgerStore, reopen: () throws -> any LedgerStore, cleanup: () -> Void) {
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString).sqlite").path
            let cleanup = { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
            return (try SQLiteLedgerStore(path: path), { try SQLiteLedgerStore(path: path) }, cleanup)
        case .inMemory:
            let store = InMemoryLedgerStore()
            return (store, { store }, {})
        }
    }
}

@Suite("Ledger stores: SQLite and in memory")
struct LedgerStoreTests {
    static let orderer = IdentityKeys(seed: Array(repeating: 5, count: 32))

    static func block(height: UInt64, previous: BlockHeader?, frontier: inout MerkleFrontier, count: Int) -> BlockCommit {
        let keys = IdentityKeys(seed: Array(repeating: 6, count: 32))
        let txs = (0..<count).map { index in
            Transaction.sign(TransactionBody(chainId: "s", sender: keys.derivedID, publicKey: keys.signingPublicKey,
                                             sequence: (previous?.logSize ?? 0) + UInt64(index) + 1, contract: "test-contract", method: "test-method",
                                             args: .int(Int64(index))), with: keys)
        }
        let first = frontier.size
        var nodes: [MerkleFrontier.Node] = []
        let leaves = txs.map { MerkleHashing.leafHash($0.bytes) }
        for leaf in leaves { nodes += frontier.append(leafHash: leaf) }
        let results = txs.map { _ in TransactionResult.accepted }
        let writes = WriteSet(["anchor/\(height)": [UInt8(height)], "gone": height == 1 ? nil : [1]])
        let header = BlockHeader(chainId: "s", height: height, previousHash: previous?.hash ?? .zero, timeMs: Int64(height) + 1,
                                 transactionCount: UInt32(count), transactionsRoot: Block.transactionsRoot(txs.map(\.id)),
                                 logSize: frontier.size, logRoot: frontier.root,
                                 resultsRoot: TransactionResult.root(results, transactionIDs: txs.map(\.id)),
                                 stateRoot: writes.stateRoot(after: previous?.stateRoot ?? .zero), ordererKey: orderer.signingPublicKey)
        return BlockCommit(block: Block.seal(header: header, transactions: txs, results: results, ordererKeys: orderer),
                           firstLogIndex: first, leafHashes: leaves, logNodes: nodes, writeSet: writes)
    }

    /// A consortium node's place in the shared log is written with the block that consumed it,
    /// kept across a reopen, and left alone by blocks that carry none.
    @Test(arguments: LedgerStoreKind.allCases)
    func theOrderingPositionIsKeptWithItsBlock(_ kind: LedgerStoreKind) throws {
        let (store, reopen, cleanup) = try kind.make()
        defer { cleanup() }
        var frontier = MerkleFrontier()
        let genesis = Self.block(height: 0, previous: nil, frontier: &frontier, count: 1)
        try store.commit(genesis)
        #expect(try store.orderingPosition() == nil)
        let first = Self.block(height: 1, previous: genesis.block.header, frontier: &frontier, count: 2)
        try store.commit(BlockCommit(block: first.block, firstLogIndex: first.firstLogIndex, leafHashes: first.leafHashes,
                                     logNodes: first.logNodes, writeSet: first.writeSet, orderingPosition: 42))
        try store.commit(Self.block(height: 2, previous: first.block.header, frontier: &frontier, count: 1))
        #expect(try store.orderingPosition() == 42)
        #expect(try reopen().orderingPosition() == 42)
    }

    /// The consortium's once-per-batch question: which of these transaction ids are committed.
    @Test(arguments: LedgerStoreKind.allCases)
    func committedIDsAnswersForABatch(_ kind: LedgerStoreKind) throws {
        let (store, _, cleanup) = try kind.make()
        defer { cleanup() }
        var frontier = MerkleFrontier()
        let genesis = Self.block(height: 0, previous: nil, frontier: &frontier, count: 3)
        try store.commit(genesis)
        let committed = genesis.block.transactions.map(\.id)
        let unknown = [Hash256.sha256(Array("never".utf8)), Hash256.sha256(Array("sent".utf8))]
        #expect(try store.committedIDs(unknown + committed + [committed[0]]) == Set(committed))
        #expect(try store.committedIDs(unknown).isEmpty)
        #expect(try store.committedIDs([]).isEmpty)
        for id in committed + unknown { #expect(try store.committedIDs([id]).isEmpty == (try store.location(of: id) == nil)) }
    }

    @Test(arguments: LedgerStoreKind.allCases)
    func commitReopenAndProve(_ kind: LedgerStoreKind) throws {
        let (store, reopen, cleanup) = try kind.make()
        defer { cleanup() }
        var frontier = MerkleFrontier()
        var previous: BlockHeader?
        var memory = MemoryMerkleTree()
        do {
            #expect(try store.head() == nil)
            for height in 0..<6 {
                let commit = Self.block(height: UInt64(height), previous: previous, frontier: &frontier, count: 1 + height * 3)
                try store.commit(commit)
                for leaf in commit.leafHashes { memory.append(leafHash: leaf) }
                previous = commit.block.header
            }
            // Out-of-order heights are refused and change nothing.
            var scratch = frontier
            #expect(throws: StorageError.self) { try store.commit(Self.block(height: 9, previous: previous, frontier: &scratch, count: 1)) }
        }
        let reopened = try reopen()
        #expect(try reopened.head() == previous)
        #expect(try MerkleFrontier(size: frontier.size, source: reopened) == frontier)
        #expect(try reopened.state("anchor/5") == [5])
        #expect(try reopened.state("gone") == [1])
        let builder = MerkleProofBuilder(source: reopened)
        for index in 0..<frontier.size {
            #expect(try builder.inclusionProof(index: index, size: frontier.size) == memory.proofs.inclusionProof(index: index, size: frontier.size))
        }
        #expect(try builder.consistencyProof(first: 3, second: frontier.size) == memory.proofs.consistencyProof(first: 3, second: frontier.size))
        let raw = try #require(try reopened.rawBlock(height: 3))
        #expect(raw.transactionBytes.count == 10)
    }

    @Test(arguments: LedgerStoreKind.allCases)
    func lookupsScansAndRefusedCommits(_ kind: LedgerStoreKind) throws {
        let (store, _, cleanup) = try kind.make()
        defer { cleanup() }
        var frontier = MerkleFrontier()
        var commits: [BlockCommit] = []
        for height in 0..<4 {
            let commit = Self.block(height: UInt64(height), previous: commits.last?.block.header, frontier: &frontier, count: 2 + height)
            try store.commit(commit)
            commits.append(commit)
        }
        // Transactions by id, by leaf hash and by log index.
        for commit in commits {
            for (offset, tx) in commit.block.transactions.enumerated() {
                let index = commit.firstLogIndex + UInt64(offset)
                #expect(try store.location(of: tx.id) == TransactionLocation(logIndex: index, height: commit.block.header.height, result: .accepted))
                #expect(try store.logIndex(ofLeafHash: commit.leafHashes[offset]) == index)
                #expect(try store.transactionBytes(logIndex: index) == tx.bytes)
            }
        }
        #expect(try store.location(of: .sha256([9])) == nil)
        #expect(try store.logIndex(ofLeafHash: .sha256([9])) == nil)
        #expect(try store.transactionBytes(logIndex: frontier.size) == nil)
        #expect(try store.header(height: 2) == commits[2].block.header)
        #expect(try store.header(height: 4) == nil)
        #expect(try store.rawBlock(height: 4) == nil)
        #expect(throws: StorageError.self) { try store.subtreeHash(level: 40, index: 0) }

        // State: point reads, batch reads, prefix scans in key order, heights of the last write.
        #expect(try store.state("gone") == [1])
        #expect(try store.states(["anchor/0", "missing"]) == ["anchor/0": [0]])
        #expect(try store.states(prefix: "anchor/", after: nil, limit: 10).map(\.key) == ["anchor/0", "anchor/1", "anchor/2", "anchor/3"])
        #expect(try store.states(prefix: "anchor/", after: "anchor/1", limit: 1).map(\.key) == ["anchor/2"])
        #expect(try store.states(prefix: "anchor/", after: "a", limit: 2).map(\.value) == [[0], [1]])
        var state: [(key: String, height: UInt64)] = []
        try store.forEachState { key, _, height in state.append((key, height)) }
        #expect(state.map(\.key) == ["anchor/0", "anchor/1", "anchor/2", "anchor/3", "gone"])
        #expect(state.map(\.height) == [0, 1, 2, 3, 3], "deleted at 1, written again at 2 and 3")

        // Log nodes by level then index; transaction entries in log order.
        var nodes: [MerkleFrontier.Node] = []
        try store.forEachLogNode { nodes.append($0) }
        #expect(nodes == commits.flatMap(\.logNodes).sorted { ($0.level, $0.index) < ($1.level, $1.index) })
        var entries: [(index: UInt64, id: [UInt8], height: UInt64)] = []
        try store.forEachTransactionEntry { index, id, _, height in entries.append((index, id, height)) }
        #expect(entries.map(\.index) == Array(0..<frontier.size))
        #expect(entries.map(\.id) == commits.flatMap { $0.block.transactions.map(\.id.bytes) })
        #expect(entries.map(\.height) == commits.flatMap { commit in commit.block.transactions.map { _ in commit.block.header.height } })

        // A block that repeats a stored transaction is refused whole: no header, state or node of it lands.
        let head = try #require(try store.head())
        var scratch = frontier
        let next = Self.block(height: 4, previous: head, frontier: &scratch, count: 1)
        let repeated = commits[1].block.transactions[0]
        let bad = BlockCommit(block: Block.seal(header: next.block.header, transactions: [repeated], results: [.accepted], ordererKeys: Self.orderer),
                              firstLogIndex: frontier.size, leafHashes: [MerkleHashing.leafHash(repeated.bytes)], logNodes: next.logNodes,
                              writeSet: next.writeSet)
        #expect(throws: StorageError.self) { try store.commit(bad) }
        #expect(try store.head() == head)
        #expect(try store.state("anchor/4") == nil)
        #expect(try store.transactionBytes(logIndex: frontier.size) == nil)
        try store.commit(next)
        #expect(try store.head() == next.block.header)
    }
}
