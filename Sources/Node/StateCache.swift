import Contracts
import LedgerCore
import Storage
import Synchronization

/// Committed state as the executor and admission read it: a bounded in-memory cache in front of
/// the store, plus an overlay of blocks that are executed but still being written. Reads are
/// thread-safe. The overlay is what lets block N+1 execute while block N is being made durable.
///
/// `StateReader` cannot throw (every contract reads through it), so a failed store read answers
/// nil and is recorded in `readFailure`, which stays set: the commit pipeline refuses to write
/// any block executed after it, admission refuses submissions, and the access service releases
/// nothing, so no decision taken over a failed read takes effect.
final class StateCache: StateReader, Sendable {
    /// Most durable entries kept; past this they are dropped and refilled from the store.
    static let entriesMax = 2_000_000

    private struct Entries {
        /// Durable values; Some(nil) caches "absent", which is most lookups of new keys.
        var durable: [String: [UInt8]?] = [:]
        /// Writes of executed blocks not yet durable, with the height that wrote them.
        var overlay: [String: (value: [UInt8]?, height: UInt64)] = [:]

        func lookup(_ key: String) -> [UInt8]?? {
            if let pending = overlay[key] { return .some(pending.value) }
            return durable[key]
        }

        /// Drops the durable cache if `count` more entries would pass `entriesMax`.
        mutating func makeRoom(for count: Int) {
            if durable.count + count >= StateCache.entriesMax { durable.removeAll(keepingCapacity: true) }
        }
    }

    private let store: any LedgerStore
    private let entries = Mutex(Entries())
    /// Most decoded values remembered; past this the memo starts over.
    static let decodedMax = 200_000
    /// Decoded values with the bytes they came from: a changed value is never served stale, and
    /// an unchanged one (the same array the cache holds) is recognized in O(1).
    private let decodedMemo = Mutex<[String: (bytes: [UInt8], value: any Sendable)]>([:])

    /// The first store read that failed, if any; once set, never cleared.
    private let firstReadFailure = Mutex<StateReadFailure?>(nil)

    /// The private collections' key namespaces ("private/<collection>/") this node's state holds.
    private let namespaceSet = Mutex<Set<String>>([])

    init(store: any LedgerStore) { self.store = store }

    /// Finds the collections the store holds state of.
    func loadNamespaces() throws {
        let found = try store.privateNamespaces()
        namespaceSet.withLock { $0 = found }
    }

    /// The private namespaces held, sorted.
    var namespaces: [String] { namespaceSet.withLock { $0.sorted() } }

    /// Whether this node holds any private state.
    var holdsPrivateState: Bool { namespaceSet.withLock { !$0.isEmpty } }

    /// The first failed store read, if any: whatever was executed or decided since may rest on a
    /// value that was not there.
    var readFailure: StateReadFailure? { firstReadFailure.withLock { $0 } }

    private func recordFailure(_ what: String, _ error: any Error) {
        firstReadFailure.withLock { failure in
            if failure == nil { failure = StateReadFailure(what: what, reason: "\(error)") }
        }
    }

    func value(for key: String) -> [UInt8]? {
        if let cached = entries.withLock({ $0.lookup(key) }) { return cached }
        let loaded: [UInt8]?
        do { loaded = try store.state(key) } catch {
            // Nothing is cached: the value is unknown, not absent.
            recordFailure("state key \(key)", error)
            return nil
        }
        entries.withLock { e in
            e.makeRoom(for: 1)
            // The overlay may have gained the key meanwhile; it wins in lookups anyway.
            e.durable[key] = .some(loaded)
        }
        return loaded
    }

    /// Decodes once per stored value: consent decisions re-read the same consents, records and
    /// identities, and decoding them costs more than the cached read.
    func decoded<T: Sendable>(_ key: String, _ decode: ([UInt8]) -> T?) -> T? {
        guard let bytes = value(for: key) else { return nil }
        if let hit = decodedMemo.withLock({ $0[key] }), hit.bytes == bytes, let value = hit.value as? T { return value }
        guard let value = decode(bytes) else { return nil }
        decodedMemo.withLock { memo in
            if memo.count >= Self.decodedMax { memo.removeAll(keepingCapacity: true) }
            memo[key] = (bytes, value)
        }
        return value
    }

    /// Loads the keys not cached yet in one store read (a block's or a submission's likely keys).
    func prefetch(_ keys: [String]) {
        let missing = entries.withLock { e in keys.filter { e.lookup($0) == nil } }
        guard !missing.isEmpty else { return }
        let found: [String: [UInt8]]
        do { found = try store.states(missing) } catch {
            recordFailure("a prefetch of \(missing.count) state keys", error)
            return
        }
        entries.withLock { e in
            e.makeRoom(for: missing.count)
            for key in missing where e.durable[key] == nil { e.durable[key] = .some(found[key]) }
        }
    }

    /// Makes an executed block's writes visible before they are durable.
    func applyExecuted(_ writeSet: WriteSet, height: UInt64) {
        entries.withLock { e in
            for entry in writeSet.entries { e.overlay[entry.key] = (entry.value, height) }
        }
        let added = writeSet.entries.compactMap { PrivateEnvelope.namespace(ofKey: $0.key) }
        if !added.isEmpty { namespaceSet.withLock { $0.formUnion(added) } }
    }

    /// Moves a block's writes from the overlay to the durable cache once the store has them.
    func applyDurable(_ writeSet: WriteSet, height: UInt64) {
        entries.withLock { e in
            e.makeRoom(for: writeSet.entries.count)
            for entry in writeSet.entries {
                e.durable[entry.key] = .some(entry.value)
                if e.overlay[entry.key]?.height == height { e.overlay[entry.key] = nil }
            }
        }
    }
}

/// A store read the state cache could not make (state keys are ids and contract names, never
/// patient data, so the key may be named).
struct StateReadFailure: Error, Sendable, CustomStringConvertible {
    let what: String
    let reason: String

    var description: String { "state read failed for \(what): \(reason); nothing executed or decided over it is committed" }
}
