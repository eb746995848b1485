import Contracts
import LedgerCore
import Node
import Storage
import Synchronization
import Testing

/// A store whose state reads fail while `readsFail` is set, like a disk returning I/O errors;
/// everything else goes to an in-memory store.
final class ReadFailingStore: LedgerStore {
    let inner: InMemoryLedgerStore
    let readsFail = Atomic<Bool>(false)

    init(_ inner: InMemoryLedgerStore) { self.inner = inner }

    private func checkRead() throws {
        if readsFail.load(ordering: .acquiring) { throw StorageError.database("disk I/O error (injected)") }
    }

    func state(_ key: String) throws -> [UInt8]? {
        try checkRead()
        return try inner.state(key)
    }
    func states(_ keys: [String]) throws -> [String: [UInt8]] {
        try checkRead()
        return try inner.states(keys)
    }
    func commit(_ commit: BlockCommit) throws { try inner.commit(commit) }
    func head() throws -> BlockHeader? { try inner.head() }
    func orderingPosition() throws -> Int64? { try inner.orderingPosition() }
    func rawBlock(height: UInt64) throws -> RawBlock? { try inner.rawBlock(height: height) }
    func header(height: UInt64) throws -> BlockHeader? { try inner.header(height: height) }
    func location(of id: Hash256) throws -> TransactionLocation? { try inner.location(of: id) }
    func logIndex(ofLeafHash leafHash: Hash256) throws -> UInt64? { try inner.logIndex(ofLeafHash: leafHash) }
    func transactionBytes(logIndex: UInt64) throws -> [UInt8]? { try inner.transactionBytes(logIndex: logIndex) }
    func states(prefix: String, after: String?, limit: Int) throws -> [(key: String, value: [UInt8])] {
        try inner.states(prefix: prefix, after: after, limit: limit)
    }
    func forEachState(_ body: (String, [UInt8], UInt64) throws -> Void) throws { try inner.forEachState(body) }
    func forEachLogNode(_ body: (MerkleFrontier.Node) throws -> Void) throws { try inner.forEachLogNode(body) }
    func forEachTransactionEntry(_ body: (UInt64, [UInt8], [UInt8], UInt64) throws -> Void) throws { try inner.forEachTransactionEntry(body) }
    func subtreeHash(level: Int, index: UInt64) throws -> Hash256 { try inner.subtreeHash(level: level, index: index) }
}

/// A failed state read cannot throw through `StateReader` (every contract reads through it): the
/// node records it, commits nothing executed after it, refuses submissions, and says why.
@Suite("A failed state read stops the node before anything rests on it")
struct StateReadFailureTests {
    static let chainId = "read-failure"
    static let nodeKeys = IdentityKeys(seed: Array(repeating: 1, count: 32))
    static let hospital = IdentityKeys(seed: Array(repeating: 2, count: 32))
    static let member = IdentityKeys(seed: Array(repeating: 3, count: 32))
    static let startMs: Int64 = 1_700_000_000_000

    static func genesis() throws -> InMemoryLedgerStore {
        let store = InMemoryLedgerStore()
        try Genesis.create(in: store, chainId: chainId, founders: [Founder(keys: hospital, label: "hospital", type: .hospital)],
                           ordererKeys: nodeKeys, timeMs: startMs)
        return store
    }

    static func sign(_ sequence: UInt64, _ contract: String, _ method: String, _ args: CanonicalMap) -> Transaction {
        Transaction.sign(TransactionBody(chainId: chainId, sender: hospital.derivedID, publicKey: hospital.signingPublicKey, sequence: sequence,
                                         contract: contract, method: method, args: .map(args)), with: hospital)
    }

    static func anchor(_ sequence: UInt64) -> Transaction {
        sign(sequence, "anchor", "put", ["digest": .bytes(Hash256.sha256([UInt8(sequence)]).bytes), "kind": .string("test")])
    }

    static func enroll(_ sequence: UInt64) -> Transaction {
        sign(sequence, "membership", "enroll", [
            "kind": .string("member"), "label": .string("m"), "roles": .list([.string("clinician")]),
            "signingKey": .bytes(member.signingPublicKey.rawValue), "agreementKey": .bytes(member.agreementPublicKey)])
    }

    @Test(.timeLimit(.minutes(3)))
    func aBlockExecutedAfterAFailedReadIsNeverCommitted() async throws {
        let inner = try Self.genesis()
        let store = ReadFailingStore(inner)
        let clock = ManualClock(startMs: Self.startMs + 1_000)
        let node = try await LedgerNode(store: store, ordererKeys: Self.nodeKeys, configuration: .init(blockDelayMs: 5), clock: clock)
        let first = try await node.submit(Self.anchor(2))
        clock.advance(ms: 5)
        #expect(try await node.awaitCommit(first).result.isAccepted)

        // Admitted while the store reads fine; its block is cut only once the clock moves.
        let pending = try await node.submit(Self.anchor(3))
        store.readsFail.store(true, ordering: .releasing)
        #expect(node.state.value(for: "anchor/never-written") == nil, "a failed read answers nil…")
        clock.advance(ms: 5)
        await #expect(throws: NodeError.self, "…and the block executed after it is refused") { try await node.awaitCommit(pending) }
        #expect(try inner.location(of: pending) == nil)
        #expect(try inner.head()?.height == 1)
        let failure = try #require(await node.failureError)
        #expect(failure.description.contains("state read failed for state key anchor/never-written"))
        #expect(await node.submit([Self.anchor(3)])[0].failureCode == "stopping")
        await node.stop()
        guard case .success(let report) = try ChainAudit.run(store: inner) else {
            Issue.record("store does not verify after a failed read")
            return
        }
        #expect(report.height == 1)
    }

    @Test(.timeLimit(.minutes(3)))
    func aSubmissionDryRunOverAFailedReadIsRefused() async throws {
        let inner = try Self.genesis()
        let store = ReadFailingStore(inner)
        let node = try await LedgerNode(store: store, ordererKeys: Self.nodeKeys, configuration: .init(blockDelayMs: 5),
                                        clock: ManualClock(startMs: Self.startMs + 1_000))
        store.readsFail.store(true, ordering: .releasing)
        // Enrolling reads the new member's identity, which no cache holds.
        let results = await node.submit([Self.enroll(2)])
        #expect(results[0].failureCode == "stopping")
        #expect(await node.failureError?.description.contains("state read failed") == true)
        store.readsFail.store(false, ordering: .releasing)
        #expect(await node.submit([Self.enroll(2)])[0].failureCode == "stopping", "the node stays stopped")
        await node.stop()
        #expect(try inner.head()?.height == 0)
    }

    @Test func theDirectWriterRefusesABlockExecutedOverAFailedRead() throws {
        let inner = try Self.genesis()
        let store = ReadFailingStore(inner)
        var writer = try DirectBlockWriter(store: store, ordererKeys: Self.nodeKeys)
        store.readsFail.store(true, ordering: .releasing)
        #expect {
            _ = try writer.commit([try VerifiedTransaction.verify(Self.enroll(2))], timeMs: Self.startMs + 1)
        } throws: { error in
            "\(error)".contains("state read failed")
        }
        #expect(try inner.head()?.height == 0)
    }
}
