import Contracts
import LedgerCore
import Storage
import Synchronization

/// Committed state as the executor and admission read it: a bounded in-memory cache in front of
/// the store, updated after each durable commit. Reads are thread-safe.
final class StateCache: StateReader, Sendable {
    /// Most entries kept; past this the cache is dropped and refilled from the store.
    static let entriesMax = 2_000_000

    private let store: any LedgerStore
    // Some(nil) caches "absent", which is most lookups for new keys.
    private let entries = Mutex<[String: [UInt8]?]>([:])

    init(store: any LedgerStore) { self.store = store }

    func value(for key: String) -> [UInt8]? {
        if let cached = entries.withLock({ $0[key] }) { return cached }
        let loaded: [UInt8]?
        do { loaded = try store.state(key) } catch {
            // A read failure here means the database is gone; continuing could fork state.
            fatalError("state read failed for \(key): \(error)")
        }
        entries.withLock { cache in
            if cache.count >= Self.entriesMax { cache.removeAll(keepingCapacity: true) }
            cache[key] = .some(loaded)
        }
        return loaded
    }

    /// Loads the keys not cached yet in one store read (a block's or a submission's likely keys).
    func prefetch(_ keys: [String]) {
        let missing = entries.withLock { cache in keys.filter { cache[$0] == nil } }
        guard !missing.isEmpty else { return }
        let found: [String: [UInt8]]
        do { found = try store.states(missing) } catch {
            fatalError("state prefetch failed: \(error)")
        }
        entries.withLock { cache in
            if cache.count + missing.count >= Self.entriesMax { cache.removeAll(keepingCapacity: true) }
            for key in missing where cache[key] == nil { cache[key] = .some(found[key]) }
        }
    }

    /// Applies a write set that has just been committed durably.
    func apply(_ writeSet: WriteSet) {
        entries.withLock { cache in
            if cache.count + writeSet.entries.count >= Self.entriesMax { cache.removeAll(keepingCapacity: true) }
            for entry in writeSet.entries { cache[entry.key] = .some(entry.value) }
        }
    }
}
