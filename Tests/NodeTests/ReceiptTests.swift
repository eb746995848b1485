import Contracts
import LedgerCore
import Node
import Storage
import Testing

@Suite("Receipts right after commit")
struct ReceiptTests {
    /// A transaction is visible in the store before the node's head moves (waiters are told after
    /// the durable write); its receipt must still carry a proof that verifies. Many clients waiting
    /// at once make that window likely.
    @Test(.timeLimit(.minutes(4)))  // 135 s once on a loaded CI
    func everyReceiptVerifiesUnderConcurrentWaits() async throws {
        let chain = try await TestChain()
        let devices = (0..<4).map { IdentityKeys(seed: Array(repeating: UInt8(40 + $0), count: 32)) }
        for device in devices { _ = try await chain.node.submitAndWait(chain.enroll(device, by: chain.hospital)) }
        let transactions = devices.map { device in (1...40).map { chain.anchor(device, "receipt-\(device.derivedID.hex.prefix(8))-\($0)", sequence: UInt64($0)) } }
        let node = chain.node
        let store = chain.store
        try await withThrowingTaskGroup(of: Void.self) { group in
            for list in transactions {
                group.addTask {
                    for transaction in list {
                        let id = try await node.submit(transaction)
                        // Ask for the receipt the moment the store has the transaction: the node's
                        // head may not have moved yet.
                        while try store.location(of: id) == nil { await Task.yield() }
                        let receipt = try await node.receipt(for: id)
                        try MerkleVerifier.verifyInclusion(leafHash: receipt.leafHash, index: receipt.status.logIndex, size: receipt.treeSize,
                                                           proof: receipt.inclusionProof, root: receipt.rootHash)
                    }
                }
            }
            try await group.waitForAll()
        }
        await chain.close()
    }
}
