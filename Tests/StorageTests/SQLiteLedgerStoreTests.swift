import Foundation
import LedgerCore
import Storage
import Testing

@Suite("SQLite ledger store")
struct SQLiteLedgerStoreTests {
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

    @Test func commitReopenAndProve() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        var frontier = MerkleFrontier()
        var previous: BlockHeader?
        var memory = MemoryMerkleTree()
        do {
            let store = try SQLiteLedgerStore(path: path)
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
        let reopened = try SQLiteLedgerStore(path: path)
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
}
