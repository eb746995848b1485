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

    /// An idle node cuts a lone transaction's block at once. The clock never moves here, so the
    /// 60 s delay never runs out and neither does the commit wait's timeout: were the block held for
    /// the delay, `awaitCommit` would never return and the time limit would fail the test. (No
    /// real-time bound per transaction: a loaded CI machine once took over 10 s for the first one.)
    @Test(.timeLimit(.minutes(5)))
    func anIdleNodeCommitsALoneTransactionWithoutWaitingOutTheDelay() async throws {
        typealias Chain = StateReadFailureTests
        let store = try Chain.genesis()
        let clock = ManualClock(startMs: Chain.startMs + 1_000)
        let node = try await LedgerNode(store: store, ordererKeys: Chain.nodeKeys, configuration: .init(blockDelayMs: 60_000), clock: clock)
        for sequence in UInt64(2)...4 {
            let id = try await node.submit(Chain.anchor(sequence))
            let status = try await node.awaitCommit(id)
            #expect(status.height == sequence - 1 && status.result.isAccepted, "transaction \(sequence) has a block of its own")
        }
        #expect(node.height == 3 && clock.monotonicMs() == 0)
        await node.stop()
    }
}
