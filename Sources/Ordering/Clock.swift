import Foundation
import Synchronization

/// Wall-clock milliseconds, injected so tests and simulations control time.
public protocol LedgerClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMs() -> Int64
}

/// The system clock.
public struct SystemClock: LedgerClock {
    public init() {}
    public func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// A clock that moves only when told; for tests.
public final class ManualClock: LedgerClock {
    private let now: Mutex<Int64>
    public init(startMs: Int64) { now = Mutex(startMs) }
    public func nowMs() -> Int64 { now.withLock { $0 } }
    /// Moves time forward.
    public func advance(ms: Int64) { now.withLock { $0 += ms } }
}
