import Dispatch

/// Runs work that blocks on the disk (an fsync'd SQLite write, or a wait for the writer's lock
/// while another one syncs) on a thread of its own. On Linux both the cooperative pool and
/// Dispatch's global queues are as wide as the machine has cores, so a thread blocked in
/// `fdatasync` is a core lost to every other task: `bench import` kept 1.35 of 2 cores busy. A
/// serial queue with no target runs on Dispatch's overcommitting pool, which adds a thread for it.
public enum BlockingIO {
    static let queue = DispatchQueue(label: "careledger.blocking-io", qos: .userInitiated)

    public static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(E) in try body() }) }
        }
        return try result.get()
    }
}
