public import LedgerCore
import Synchronization

/// The single-node orderer of the embedded mode. A batch is cut when it holds
/// `batchTransactionsMax` transactions, or `batchDelayMs` after its first transaction arrived,
/// whichever comes first; a committer that falls behind gets full batches at once. With
/// `cutWhenIdle`, a batch is also cut at once while the node has committed every batch handed out
/// (Nagle's rule: a lone client's transaction does not wait out the delay; under load one is always
/// being written, and batches fill). The delay runs on the injected clock's monotonic time, so a
/// simulation (`cutWhenIdle` off) cuts batches when it says so.
public final class SoloOrderer: Orderer {
    /// Cutting rules.
    public struct Configuration: Sendable {
        /// Cut as soon as this many transactions are pending.
        public var batchTransactionsMax: Int
        /// Cut this long after the first pending transaction arrived.
        public var batchDelayMs: Int
        /// Cut at once while every batch handed out is committed (`committed(blocks:through:)`).
        public var cutWhenIdle: Bool

        public init(batchTransactionsMax: Int = 2_000, batchDelayMs: Int = 10, cutWhenIdle: Bool = false) {
            precondition((1...Limits.blockTransactionsMax).contains(batchTransactionsMax),
                         "batch size must be 1…\(Limits.blockTransactionsMax)")
            precondition(batchDelayMs >= 1, "batch delay must be at least 1 ms")
            self.batchTransactionsMax = batchTransactionsMax
            self.batchDelayMs = batchDelayMs
            self.cutWhenIdle = cutWhenIdle
        }
    }

    private struct State {
        var pending: [VerifiedTransaction] = []
        /// Monotonic time the oldest pending transaction arrived.
        var firstArrivalMs: Int64?
        var lastTimeMs: Int64
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
        var waiterToken: UInt64 = 0
        /// Sleeps until the current batch deadline; cancelled once its wait is over.
        var timer: Task<Void, Never>?
        /// Batches handed out, and how many of them the node committed.
        var handedOut: UInt64 = 0
        var committed: UInt64 = 0
        var isIdle: Bool { committed >= handedOut }
    }

    private enum Step {
        case batch(OrderedBatch)
        case finished
        case wait(untilMs: Int64?)
    }

    public let configuration: Configuration
    private let clock: any LedgerClock
    private let state: Mutex<State>

    /// - Parameter lastTimeMs: time of the chain head, so block times keep increasing across restarts.
    public init(configuration: Configuration = .init(), clock: any LedgerClock, lastTimeMs: Int64) {
        self.configuration = configuration
        self.clock = clock
        self.state = Mutex(State(lastTimeMs: lastTimeMs))
    }

    public func submit(_ transactions: [VerifiedTransaction]) throws(OrderingError) {
        guard !transactions.isEmpty else { return }
        let waiter = try state.withLock { (s: inout State) throws(OrderingError) -> CheckedContinuation<Void, Never>? in
            guard !s.closed else { throw OrderingError.closed }
            if s.pending.isEmpty { s.firstArrivalMs = clock.monotonicMs() }
            s.pending.append(contentsOf: transactions)
            // Wake the committer: it decides whether to cut now or sleep until the deadline.
            return Self.takeWaiter(&s)
        }
        waiter?.resume()
    }

    public func nextBatch() async -> OrderedBatch? {
        while true {
            let step = state.withLock { s -> Step in
                if s.pending.count >= configuration.batchTransactionsMax { return .batch(cut(&s)) }
                if s.pending.isEmpty { return s.closed ? .finished : .wait(untilMs: nil) }
                if s.closed || (configuration.cutWhenIdle && s.isIdle) { return .batch(cut(&s)) }
                let dueMs = s.firstArrivalMs! + Int64(configuration.batchDelayMs)
                return clock.monotonicMs() >= dueMs ? .batch(cut(&s)) : .wait(untilMs: dueMs)
            }
            switch step {
            case .batch(let batch): return batch
            case .finished: return nil
            case .wait(let deadlineMs): await waitForWork(untilMs: deadlineMs)
            }
        }
    }

    public func close() {
        let (waiter, timer) = state.withLock { s in
            s.closed = true
            defer { s.timer = nil }
            return (Self.takeWaiter(&s), s.timer)
        }
        timer?.cancel()
        waiter?.resume()
    }

    public func committed(blocks: Int, through position: Int64?) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.committed += UInt64(blocks)
            // A committer waiting out the delay with transactions pending cuts them now.
            guard configuration.cutWhenIdle, s.isIdle, !s.pending.isEmpty else { return nil }
            return Self.takeWaiter(&s)
        }
        waiter?.resume()
    }

    /// Takes up to `batchTransactionsMax` pending transactions as the next batch.
    private func cut(_ s: inout State) -> OrderedBatch {
        let timeMs = max(clock.nowMs(), s.lastTimeMs + 1)
        s.lastTimeMs = timeMs
        let count = min(s.pending.count, configuration.batchTransactionsMax)
        let batch = Array(s.pending.prefix(count))
        s.pending.removeFirst(count)
        s.handedOut += 1
        s.firstArrivalMs = s.pending.isEmpty ? nil : clock.monotonicMs()
        return OrderedBatch(transactions: batch, timeMs: timeMs)
    }

    private static func takeWaiter(_ s: inout State) -> CheckedContinuation<Void, Never>? {
        defer { s.waiter = nil }
        return s.waiter
    }

    /// Sleeps until a submit or close wakes us, or until the deadline (monotonic ms).
    private func waitForWork(untilMs deadlineMs: Int64?) async {
        let token: UInt64 = state.withLock { s in
            s.waiterToken &+= 1
            return s.waiterToken
        }
        let timer = deadlineMs.map { deadlineMs in
            Task { [weak self, clock] in
                do { try await clock.sleep(untilMonotonicMs: deadlineMs) } catch { return }
                self?.wake(token: token)
            }
        }
        state.withLock { s in s.timer = timer }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                // Work may have arrived between deciding to wait and getting here.
                if s.closed || s.pending.count >= configuration.batchTransactionsMax || s.waiterToken != token { return true }
                if let deadlineMs, clock.monotonicMs() >= deadlineMs { return true }
                if deadlineMs == nil && !s.pending.isEmpty { return true }
                if configuration.cutWhenIdle && s.isIdle && !s.pending.isEmpty { return true }
                s.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        // Woken by a submit or a close, the timer is moot: free its task (and a simulated clock's sleeper).
        timer?.cancel()
    }

    private func wake(token: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.waiterToken == token else { return nil }
            return Self.takeWaiter(&s)
        }
        waiter?.resume()
    }
}
