import LedgerCore
import Node
import Storage
import Testing

@Suite("The node keeps time on the injected clock")
struct ClockInjectionTests {
    @Test(.timeLimit(.minutes(3)))
    func aCommitWaitTimesOutOnTheInjectedClock() async throws {
        typealias Chain = StateReadFailureTests
        let store = try Chain.genesis()
        let clock = ManualClock(startMs: Chain.startMs + 1_000)
        var configuration = NodeConfiguration(blockDelayMs: 1_000)
        configuration.cutBlocksWhenIdle = false  // the delay alone cuts the block, on the clock
        let node = try await LedgerNode(store: store, ordererKeys: Chain.nodeKeys, configuration: configuration, clock: clock)
        let id = try await node.submit(Chain.anchor(2))
        let wait = Task { try await node.awaitCommit(id, timeoutMs: 50) }
        // The orderer's batch deadline and the commit wait both sleep on the clock.
        while clock.sleepersCount < 2 { try await Task.sleep(for: .milliseconds(1)) }
        clock.advance(ms: 50)
        await #expect(throws: NodeError.self) { try await wait.value }
        #expect(node.height == 0, "the block is not due before 1,000 ms of clock time")
        clock.advance(ms: 950)
        #expect(try await node.awaitCommit(id).result.isAccepted)
        #expect(try store.header(height: 1)?.timeMs == Chain.startMs + 2_000)
        await node.stop()
        #expect(clock.sleepersCount == 0, "no timer outlives its wait")
    }

    /// An idle node cuts a lone transaction's block at once: the clock never moves here, and the
    /// 60 s delay would otherwise hold every commit.
    @Test(.timeLimit(.minutes(1)))
    func anIdleNodeCommitsALoneTransactionWithoutWaitingOutTheDelay() async throws {
        typealias Chain = StateReadFailureTests
        let store = try Chain.genesis()
        let clock = ManualClock(startMs: Chain.startMs + 1_000)
        let node = try await LedgerNode(store: store, ordererKeys: Chain.nodeKeys, configuration: .init(blockDelayMs: 60_000), clock: clock)
        for sequence in UInt64(2)...4 {
            try await node.submit(Chain.anchor(sequence))
            // Up to 10 s of real time for the block (the clock's delay is 60 s and never runs out).
            let deadline = ContinuousClock.now + .seconds(10)
            while node.height < sequence - 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
            #expect(node.height == sequence - 1, "transaction \(sequence) waited for the delay")
        }
        #expect(node.height == 3 && clock.monotonicMs() == 0)
        await node.stop()
    }
}
