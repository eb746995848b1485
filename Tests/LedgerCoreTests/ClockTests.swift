import LedgerCore
import Testing

@Suite("Clocks: a manual clock wakes sleepers when advanced; wall and monotonic time are apart")
struct ClockTests {
    @Test(.timeLimit(.minutes(3)))
    func sleepersWakeWhenTheirDeadlinePasses() async throws {
        let clock = ManualClock(startMs: 5_000)
        let early = Task { try await clock.sleep(untilMonotonicMs: 10) }
        let late = Task { try await clock.sleep(ms: 30) }
        while clock.sleepersCount < 2 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(clock.nextDeadlineMs == 10)
        clock.advance(ms: 10)
        try await early.value
        #expect(clock.sleepersCount == 1, "the later sleeper sleeps on")
        clock.advance(ms: 20)
        try await late.value
        #expect(clock.sleepersCount == 0)
        // A deadline already passed returns at once.
        try await clock.sleep(untilMonotonicMs: 3)
    }

    @Test(.timeLimit(.minutes(3)))
    func cancellingASleeperFreesIt() async throws {
        let clock = ManualClock(startMs: 0)
        let sleeper = Task { try await clock.sleep(untilMonotonicMs: 1_000) }
        while clock.sleepersCount < 1 { try await Task.sleep(for: .milliseconds(1)) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleepersCount == 0)
    }

    @Test func theWallClockStallsAndJumpsWhileMonotonicTimeRunsOn() {
        let clock = ManualClock(startMs: 1_000)
        clock.advance(monotonicMs: 50, wallMs: 0)
        #expect(clock.nowMs() == 1_000 && clock.monotonicMs() == 50)
        clock.advance(monotonicMs: 10, wallMs: -500)
        #expect(clock.nowMs() == 500 && clock.monotonicMs() == 60)
    }

    @Test(.timeLimit(.minutes(3)))
    func theSystemClockSleepsOnMonotonicTime() async throws {
        let clock = SystemClock()
        let before = clock.monotonicMs()
        try await clock.sleep(ms: 20)
        #expect(clock.monotonicMs() - before >= 20)
        #expect(clock.nowMs() > 1_700_000_000_000)
    }
}
