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
        let node = try await LedgerNode(store: store, ordererKeys: Chain.nodeKeys, configuration: .init(blockDelayMs: 1_000), clock: clock)
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
}
