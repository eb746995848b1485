import Dispatch

/// A thread of its own for work that blocks on the disk (an fsync'd SQLite commit, or a wait for
/// the writer's lock while another commit syncs). On Linux both the cooperative pool and
/// Dispatch's global queues are as wide as the machine has cores, so a thread blocked in
/// `fdatasync` is a core lost to every other task: `bench import` kept 1.35 of 2 cores busy. A
/// serial queue with no target runs on Dispatch's overcommitting pool, which adds a thread for it.
/// One per store: the work on it runs in order, one piece at a time.
public final class BlockingIO: Sendable {
    private let queue: DispatchQueue

    public init(label: String) { queue = DispatchQueue(label: label, qos: .userInitiated) }

    public func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(E) in try body() }) }
        }
        return try result.get()
    }
}
