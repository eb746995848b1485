import Foundation
import LedgerCore
import Node
import Ordering
import Storage
import Synchronization
import Testing

/// A store that fails every block after the first `commitsAllowed`, like a full disk (a group
/// with one too many writes none of it); each successful write can linger `lingerMs` after it, as
/// if the disk were slow.
final class FailingStore: LedgerStore {
    let inner: SQLiteLedgerStore
    private let remaining: Mutex<Int>
    private let lingerMs: Int
    let attestationLingerMs: Int
    /// Blocks written so far.
    let written = Atomic<Int>(0)
    /// How many blocks each write held, in order.
    let groups = Mutex<[Int]>([])

    init(_ inner: SQLiteLedgerStore, commitsAllowed: Int, lingerMs: Int = 0, attestationLingerMs: Int = 0) {
        self.inner = inner
        remaining = Mutex(commitsAllowed)
        self.lingerMs = lingerMs
        self.attestationLingerMs = attestationLingerMs
    }

    func commit(_ commit: BlockCommit) throws { try self.commit([commit]) }

    func commit(_ commits: [BlockCommit]) throws {
        let allowed = remaining.withLock { value -> Bool in
            value -= commits.count
            return value >= 0
        }
        guard allowed else { throw StorageError.database("disk full (injected)") }
        try inner.commit(commits)
        groups.withLock { $0.append(commits.count) }
        written.add(commits.count, ordering: .releasing)
        if lingerMs > 0 { usleep(useconds_t(lingerMs * 1_000)) }
    }

    func head() throws -> BlockHeader? { try inner.head() }
    func orderingPosition() throws -> Int64? { try inner.orderingPosition() }
    func rawBlock(height: UInt64) throws -> RawBlock? { try inner.rawBlock(height: height) }
    func header(height: UInt64) throws -> BlockHeader? { try inner.header(height: height) }
    func location(of id: Hash256) throws -> TransactionLocation? { try inner.location(of: id) }
    func logIndex(ofLeafHash leafHash: Hash256) throws -> UInt64? { try inner.logIndex(ofLeafHash: leafHash) }
    func transactionBytes(logIndex: UInt64) throws -> [UInt8]? { try inner.transactionBytes(logIndex: logIndex) }
    func state(_ key: String) throws -> [UInt8]? { try inner.state(key) }
    func states(_ keys: [String]) throws -> [String: [UInt8]] { try inner.states(keys) }
    func states(prefix: String, after: String?, limit: Int) throws -> [(key: String, value: [UInt8])] {
        try inner.states(prefix: prefix, after: after, limit: limit)
    }
    func forEachState(_ body: (String, [UInt8], UInt64) throws -> Void) throws { try inner.forEachState(body) }
    func forEachLogNode(_ body: (MerkleFrontier.Node) throws -> Void) throws { try inner.forEachLogNode(body) }
    func forEachTransactionEntry(_ body: (UInt64, [UInt8], [UInt8], UInt64) throws -> Void) throws { try inner.forEachTransactionEntry(body) }
    func subtreeHash(level: Int, index: UInt64) throws -> Hash256 { try inner.subtreeHash(level: level, index: index) }
}

/// Attestations go to the SQLite store, each save `attestationLingerMs` late, as on a busy disk.
extension FailingStore: AttestationStore {
    func saveAttestations(_ attestations: [Attestation], finalHeight: UInt64?) throws {
        if attestationLingerMs > 0 { usleep(useconds_t(attestationLingerMs * 1_000)) }
        try inner.saveAttestations(attestations, finalHeight: finalHeight)
    }
    func attestations(height: UInt64) throws -> [Attestation] { try inner.attestations(height: height) }
    func attestations(from height: UInt64, limit: Int) throws -> [Attestation] { try inner.attestations(from: height, limit: limit) }
    func finalHeight() throws -> UInt64? { try inner.finalHeight() }
}

@Suite("A failing store never acknowledges and stays consistent")
struct StoreFailureTests {
    /// A block is durable in the store a moment before the node applies it; a commit is
    /// acknowledged only after that, so the caller's next read of height or state includes it.
    @Test(.timeLimit(.minutes(3)))
    func acknowledgedOnlyOnceTheNodeAppliedTheBlock() async throws {
        let chain = try await TestChain()
        await chain.node.stop()
        let store = FailingStore(chain.store, commitsAllowed: .max, lingerMs: 300)
        let node = try await LedgerNode(store: store, ordererKeys: chain.nodeKeys, configuration: .init(blockDelayMs: 2))
        let before = store.written.load(ordering: .acquiring)
        let id = try await node.submit(chain.anchor(chain.hospital, "doc-linger"))
        while store.written.load(ordering: .acquiring) == before { try await Task.sleep(for: .milliseconds(1)) }
        #expect(try store.location(of: id) != nil, "durable in the store")
        let status = try await node.awaitCommit(id, timeoutMs: 60_000)
        #expect(node.height >= status.height, "acknowledged at height \(status.height) while the node was at \(node.height)")
        await node.stop()
    }

    /// A consortium node does not choose its blocks (each is a batch of the shared log), so while
    /// the disk is busy with one it executes the next ones and then writes all that are waiting in
    /// one transaction. Each is acknowledged once durable, in order, and the chain verifies.
    @Test(.timeLimit(.minutes(3)))
    func blocksWaitingForTheDiskAreWrittenTogether() async throws {
        let chain = try await TestChain()
        await chain.node.stop()
        let store = FailingStore(chain.store, commitsAllowed: .max, lingerMs: 150)
        // One transaction a batch, as small batches from a shared log are.
        var configuration = NodeConfiguration(blockDelayMs: 1)
        configuration.makeOrderer = { head, _, clock in
            SoloOrderer(configuration: .init(batchTransactionsMax: 1, batchDelayMs: 1), clock: clock, lastTimeMs: head.timeMs)
        }
        let node = try await LedgerNode(store: store, ordererKeys: chain.nodeKeys, configuration: configuration)
        let transactions = (0..<12).map { chain.anchor(chain.hospital, "group-\($0)") }
        var ids: [Hash256] = []
        for result in await node.submit(transactions) { ids.append(try result.get()) }
        var heights: [UInt64] = []
        for id in ids { heights.append(try await node.awaitCommit(id, timeoutMs: 20_000).height) }
        await node.stop()
        let groups = store.groups.withLock { $0 }
        #expect(groups.reduce(0, +) == 12 && groups.contains { $0 > 1 }, "blocks per write: \(groups)")
        #expect(heights == heights.sorted() && Set(heights).count == 12, "\(heights)")
        guard case .success(let report) = try ChainAudit.run(store: chain.store) else {
            Issue.record("the store does not verify after group commits")
            return
        }
        #expect(report.height == heights.last)
        await chain.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func commitFailureStopsTheNodeWithoutAcknowledging() async throws {
        let chain = try await TestChain()
        await chain.node.stop()
        let failing = FailingStore(chain.store, commitsAllowed: 2)
        let node = try await LedgerNode(store: failing, ordererKeys: chain.nodeKeys, configuration: .init(blockTransactionsMax: 5, blockDelayMs: 2))
        var acknowledged: [Hash256] = []
        var refused = 0
        for index in 0..<20 {
            let tx = chain.anchor(chain.hospital, "doc-\(index)")
            do {
                let id = try await node.submit(tx)
                _ = try await node.awaitCommit(id, timeoutMs: 60_000)
                acknowledged.append(id)
            } catch {
                refused += 1
                chain.rewind(chain.hospital)
            }
        }
        #expect(acknowledged.count == 2, "exactly the blocks the store accepted are acknowledged")
        #expect(refused == 18)
        // After the failure the node refuses new work with a clear reason.
        let late = await node.submit([chain.anchor(chain.hospital, "late")])[0]
        #expect(late.failureCode == "stopping")
        await node.stop()
        // Everything acknowledged is in the store, and the store verifies.
        for id in acknowledged { #expect(try chain.store.location(of: id) != nil) }
        guard case .success(let report) = try ChainAudit.run(store: chain.store) else {
            Issue.record("store does not verify after a failed commit")
            return
        }
        #expect(report.height == 2)
        await chain.close()
    }
}
