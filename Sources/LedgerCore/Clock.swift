import Foundation
import Synchronization

/// Time, injected so that tests and the simulator control it (TigerBeetle's `Time`: a wall
/// clock and a monotonic clock, kept apart).
///
/// The wall clock (`nowMs`) stamps blocks, consent decisions and audit entries; it may stall or
/// jump, backwards too, and nothing may rely on it for deadlines. Deadlines and timeouts (a
/// batch's cut, a commit wait) use the monotonic clock, which never goes backwards.
public protocol LedgerClock: Sendable {
    /// Wall-clock milliseconds since the Unix epoch.
    func nowMs() -> Int64
    /// Milliseconds on a clock that never goes backwards, from an arbitrary origin.
    func monotonicMs() -> Int64
    /// Suspends until `monotonicMs() >= deadlineMs`; throws `CancellationError` if the task is
    /// cancelled first (so an abandoned timer frees its task at once).
    func sleep(untilMonotonicMs deadlineMs: Int64) async throws
}

extension LedgerClock {
    /// Suspends for `durationMs` of monotonic time.
    public func sleep(ms durationMs: Int64) async throws {
        try await sleep(untilMonotonicMs: monotonicMs() + durationMs)
    }
}

/// The system clock: `Date` for the wall clock, `ContinuousClock` for the monotonic one.
///
/// It lives in LedgerCore, which otherwise reads no clock, because it is the one edge where real
/// time enters: every other type takes a `LedgerClock`, so it can run on a `ManualClock` instead.
public struct SystemClock: LedgerClock {
    private let origin = ContinuousClock.now

    public init() {}

    public func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    public func monotonicMs() -> Int64 {
        let elapsed = origin.duration(to: .now).components
        return elapsed.seconds * 1_000 + elapsed.attoseconds / 1_000_000_000_000_000
    }

    public func sleep(untilMonotonicMs deadlineMs: Int64) async throws {
        try await Task.sleep(until: origin + .milliseconds(deadlineMs), clock: .continuous)
    }
}

/// A clock that moves only when told: for tests and the deterministic simulator. Sleepers wake
/// when an `advance` reaches their deadline, in deadline order, before `advance` returns.
public final class ManualClock: LedgerClock {
    private struct Sleeper {
        let deadlineMs: Int64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var wallMs: Int64
        var monotonicMs: Int64 = 0
        var sleepers: [UInt64: Sleeper] = [:]
        var nextSleeper: UInt64 = 0
    }

    private let state: Mutex<State>

    /// A clock whose wall time starts at `startMs` and whose monotonic time starts at 0.
    public init(startMs: Int64) { state = Mutex(State(wallMs: startMs)) }

    public func nowMs() -> Int64 { state.withLock { $0.wallMs } }

    public func monotonicMs() -> Int64 { state.withLock { $0.monotonicMs } }

    /// Moves both clocks forward by `ms`.
    public func advance(ms: Int64) { advance(monotonicMs: ms, wallMs: ms) }

    /// Moves the monotonic clock forward by `monotonicMs` and the wall clock by `wallMs`, which may
    /// be zero (a stalled wall clock) or negative (a wall clock stepped back); wakes due sleepers.
    public func advance(monotonicMs: Int64, wallMs: Int64) {
        precondition(monotonicMs >= 0, "the monotonic clock never goes backwards")
        let due = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.monotonicMs += monotonicMs
            s.wallMs += wallMs
            let now = s.monotonicMs
            let ready = s.sleepers.filter { $0.value.deadlineMs <= now }.sorted { ($0.value.deadlineMs, $0.key) < ($1.value.deadlineMs, $1.key) }
            for (id, _) in ready { s.sleepers[id] = nil }
            return ready.map(\.value.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    /// Number of tasks sleeping on this clock.
    public var sleepersCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline any sleeper waits for, if one is sleeping.
    public var nextDeadlineMs: Int64? { state.withLock { $0.sleepers.values.map(\.deadlineMs).min() } }

    public func sleep(untilMonotonicMs deadlineMs: Int64) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextSleeper += 1
            return s.nextSleeper
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let immediate: (any Error)?? = state.withLock { s in
                    if Task.isCancelled { return .some(CancellationError()) }
                    if s.monotonicMs >= deadlineMs { return .some(nil) }
                    s.sleepers[id] = Sleeper(deadlineMs: deadlineMs, continuation: continuation)
                    return .none
                }
                switch immediate {
                case .none: break
                case .some(.none): continuation.resume()
                case .some(.some(let error)): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
