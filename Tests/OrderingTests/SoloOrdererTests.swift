import LedgerCore
import Ordering
import Testing

@Suite("SoloOrderer cuts by size and by time, in order, with increasing times")
struct SoloOrdererTests {
    static let keys = IdentityKeys(seed: Array(repeating: 4, count: 32))

    static func transactions(_ count: Int, from start: Int = 0) -> [VerifiedTransaction] {
        (start..<start + count).map { index in
            let body = TransactionBody(chainId: "c", sender: keys.derivedID, publicKey: keys.signingPublicKey, sequence: UInt64(index + 1),
                                       contract: "test-contract", method: "test-method", args: .int(Int64(index)))
            return try! VerifiedTransaction.verify(Transaction.sign(body, with: keys))
        }
    }

    @Test func cutsAtSizeInOrder() async throws {
        let orderer = SoloOrderer(configuration: .init(batchTransactionsMax: 10, batchDelayMs: 10_000), clock: ManualClock(startMs: 1_000), lastTimeMs: 0)
        let txs = Self.transactions(25)
        try orderer.submit(txs)
        let first = try #require(await orderer.nextBatch())
        let second = try #require(await orderer.nextBatch())
        #expect(first.transactions.map(\.id) == txs[0..<10].map(\.id))
        #expect(second.transactions.map(\.id) == txs[10..<20].map(\.id))
        #expect(second.timeMs > first.timeMs, "times strictly increase even when the clock stands still")
        orderer.close()
        let rest = try #require(await orderer.nextBatch())
        #expect(rest.transactions.map(\.id) == txs[20..<25].map(\.id))
        #expect(await orderer.nextBatch() == nil)
        #expect(throws: OrderingError.closed) { try orderer.submit(Self.transactions(1)) }
    }

    @Test func cutsAfterDelay() async throws {
        let orderer = SoloOrderer(configuration: .init(batchTransactionsMax: 1_000, batchDelayMs: 20), clock: SystemClock(), lastTimeMs: 0)
        let waiter = Task { await orderer.nextBatch() }
        try await Task.sleep(for: .milliseconds(5))
        try orderer.submit(Self.transactions(3))
        let batch = try #require(await waiter.value)
        #expect(batch.transactions.count == 3)
        orderer.close()
    }

    /// A lone client waits for its commit before it sends again: with `cutWhenIdle` its next
    /// transaction does not wait out the delay (it did, every time), but while a block is still
    /// being written the next batch fills as before.
    @Test(.timeLimit(.minutes(3)))
    func cutsAtOnceWhenEveryBatchIsCommitted() async throws {
        // A clock that never moves: only the commits can cut a batch before it fills.
        let clock = ManualClock(startMs: 1_000)
        let orderer = SoloOrderer(configuration: .init(batchTransactionsMax: 1_000, batchDelayMs: 60_000, cutWhenIdle: true), clock: clock, lastTimeMs: 0)
        let txs = Self.transactions(3)
        try orderer.submit([txs[0]])
        let first = try #require(await orderer.nextBatch())
        #expect(first.transactions.map(\.id) == [txs[0].id], "idle: the first transaction is cut at once")
        // Not committed yet: the next one fills.
        try orderer.submit([txs[1]])
        let next = Task { await orderer.nextBatch() }
        try await Task.sleep(for: .milliseconds(200))
        try orderer.submit([txs[2]])
        orderer.committed(blocks: 1, through: nil)
        let second = try #require(await next.value)
        #expect(second.transactions.map(\.id) == [txs[1].id, txs[2].id], "once the block is committed, what waited is cut with what came meanwhile")
        #expect(clock.monotonicMs() == 0)
        orderer.close()
    }

    @Test func timeNeverGoesBackwards() async throws {
        let orderer = SoloOrderer(configuration: .init(batchTransactionsMax: 1, batchDelayMs: 1), clock: ManualClock(startMs: 5), lastTimeMs: 1_000)
        try orderer.submit(Self.transactions(3))
        var last: Int64 = 1_000
        for _ in 0..<3 {
            let batch = try #require(await orderer.nextBatch())
            #expect(batch.timeMs > last)
            last = batch.timeMs
        }
        orderer.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func cutsAfterDelayOnTheInjectedClock() async throws {
        let clock = ManualClock(startMs: 1_000)
        let orderer = SoloOrderer(configuration: .init(batchTransactionsMax: 1_000, batchDelayMs: 20), clock: clock, lastTimeMs: 0)
        try orderer.submit(Self.transactions(3))
        let waiter = Task { await orderer.nextBatch() }
        while clock.nextDeadlineMs == nil { try await Task.sleep(for: .milliseconds(1)) }
        #expect(clock.nextDeadlineMs == 20, "the batch waits for its deadline on the injected clock")
        clock.advance(ms: 19)
        #expect(clock.sleepersCount == 1, "not due yet")
        clock.advance(ms: 1)
        let batch = try #require(await waiter.value)
        #expect(batch.transactions.count == 3)
        #expect(batch.timeMs == 1_020, "block time is the wall clock's")
        orderer.close()
        #expect(clock.sleepersCount == 0)
    }
}
