public import LedgerCore

/// Read access to committed state: a flat key-value space where each contract owns the prefix
/// "<contract>/". Values are canonical bytes.
public protocol StateReader {
    /// The committed value, or nil if absent.
    func value(for key: String) -> [UInt8]?
    /// The value under `key` decoded by `decode` (nil if absent or undecodable). A reader may
    /// remember decoded values while the stored bytes are unchanged; `decode` must depend only on
    /// the bytes and the key.
    func decoded<T: Sendable>(_ key: String, _ decode: ([UInt8]) -> T?) -> T?
}

extension StateReader {
    /// Decodes on every call.
    public func decoded<T: Sendable>(_ key: String, _ decode: ([UInt8]) -> T?) -> T? { value(for: key).flatMap(decode) }
}

/// In-memory state, for replay (verify), tests and the simulation.
public struct MemoryState: StateReader, Sendable {
    public private(set) var values: [String: [UInt8]] = [:]

    public init(_ values: [String: [UInt8]] = [:]) { self.values = values }

    public func value(for key: String) -> [UInt8]? { values[key] }

    /// Applies a block's write set.
    public mutating func apply(_ writeSet: WriteSet) {
        for entry in writeSet.entries { values[entry.key] = entry.value }
    }
}

/// What a contract sees while executing: committed state, overlaid by the block's earlier writes
/// and the current transaction's writes. A rejected transaction's writes are discarded.
public struct StateView {
    private let base: any StateReader
    private var blockWrites: [String: [UInt8]?] = [:]
    private var transactionWrites: [String: [UInt8]?] = [:]
    /// Decoded identities by state key, valid while the stored bytes are unchanged. Identities are
    /// read twice per transaction (envelope, then contract), so decoding once per block pays.
    let identityMemo: IdentityMemo

    /// A view over `base`; `identityMemo` may be shared by views used one after another on the
    /// same thread (the node's admission step), so decoded identities are reused across them.
    public init(base: any StateReader, identityMemo: IdentityMemo = IdentityMemo()) {
        self.base = base
        self.identityMemo = identityMemo
    }

    /// While set (the private part of a private call), reads look under this prefix first and then
    /// in shared state, and every write goes under it: a collection's private state, kept apart
    /// from the shared state root and from every other collection.
    var namespace: String? {
        didSet { sharedWriteAttempt = nil }
    }
    /// A key the private part tried to write that exists in shared state: a private call never
    /// changes (or shadows) a shared record, and is refused if it tries (`BlockExecutor`).
    private(set) var sharedWriteAttempt: String?

    /// While set (the private part of an endorsed call), keys under these prefixes are the
    /// collection's, under `namespace`, and every other key is shared: reads and writes go to one
    /// or the other, never both.
    var privatePrefixes: [String]?
    /// While set (an endorsed call's simulation and re-execution), what the transaction read
    /// before writing it (a reference, so reads through copies of the view count too).
    var recorder: ReadRecorder?

    /// The full key `key` names in an endorsed call's private part, and whether it is private.
    private func route(_ key: String) -> (key: String, isPrivate: Bool)? {
        guard let namespace, let prefixes = privatePrefixes else { return nil }
        return prefixes.contains(where: key.hasPrefix) ? (namespace + key, true) : (key, false)
    }

    /// The committed-or-block value of a full key (ignoring the current transaction's writes).
    private func blockValue(_ key: String) -> [UInt8]? { blockWrites[key] ?? base.value(for: key) }

    /// What a read of full key `key` records: its name and the digest every node can compute.
    func readEntry(_ key: String, isPrivate: Bool) -> (name: String, digest: Hash256?) {
        guard isPrivate else { return (key, blockValue(key).map { Hash256.sha256($0) }) }
        let hashed = Hash256.sha256(Array(key.utf8))
        return (Proposal.privateReadPrefix + hashed.hex, blockValue(EndorsedCall.versionKey(hashed)).flatMap(Hash256.init(bytes:)))
    }

    /// Reads the latest value visible to the current transaction.
    public func get(_ key: String) -> [UInt8]? {
        if let (full, isPrivate) = route(key) {
            if let recorder, transactionWrites[full] == nil { recorder.note(readEntry(full, isPrivate: isPrivate)) }
            return written(full) ?? base.value(for: full)
        }
        if let namespace, let value = written(namespace + key) ?? base.value(for: namespace + key).map(Optional.some) { return value }
        return written(key) ?? base.value(for: key)
    }

    /// A value this block wrote (`.some(nil)`: deleted), or nil if it wrote none.
    private func written(_ key: String) -> [UInt8]?? {
        if let pending = transactionWrites[key] { return pending }
        if let written = blockWrites[key] { return written }
        return nil
    }

    /// Reads and decodes a value the committed-state reader may have decoded before (and keeps
    /// decoded while its bytes are unchanged); values written in this block are decoded afresh.
    public func decoded<T: Sendable>(_ key: String, _ decode: ([UInt8]) -> T?) -> T? {
        if privatePrefixes != nil { return get(key).flatMap(decode) }
        if let namespace {
            if let value = written(namespace + key) { return value.flatMap(decode) }
            if base.value(for: namespace + key) != nil { return base.decoded(namespace + key, decode) }
        }
        if let value = written(key) { return value.flatMap(decode) }
        return base.decoded(key, decode)
    }

    /// Reads and decodes a canonical value; nil if absent. Stored values are canonical by construction.
    public func getValue(_ key: String) -> CanonicalValue? {
        guard let bytes = get(key) else { return nil }
        guard let value = try? CanonicalValue(decoding: bytes) else {
            preconditionFailure("state value under \(key) is not canonical")
        }
        return value
    }

    /// Writes a value (visible to later reads in this transaction).
    public mutating func set(_ key: String, _ value: [UInt8]) {
        if let (full, _) = route(key) { transactionWrites[full] = .some(value); return }
        noteSharedWrite(key)
        transactionWrites[(namespace ?? "") + key] = .some(value)
    }

    private mutating func noteSharedWrite(_ key: String) {
        guard namespace != nil, sharedWriteAttempt == nil, (written(key) ?? base.value(for: key)) != nil else { return }
        sharedWriteAttempt = key
    }

    /// Writes a canonical value.
    public mutating func set(_ key: String, _ value: CanonicalValue) { set(key, value.encoded) }

    /// Deletes a key.
    public mutating func delete(_ key: String) {
        if let (full, _) = route(key) { transactionWrites[full] = .some(nil); return }
        noteSharedWrite(key)
        transactionWrites[(namespace ?? "") + key] = .some(nil)
    }

    /// Keeps the current transaction's writes.
    public mutating func commitTransaction() {
        for (key, value) in transactionWrites { blockWrites[key] = value }
        transactionWrites.removeAll(keepingCapacity: true)
    }

    /// The current transaction's writes so far (full keys; nil value: deleted).
    var pendingWrites: [(key: String, value: [UInt8]?)] { transactionWrites.map { (key: $0.key, value: $0.value) } }

    /// Drops the current transaction's writes.
    public mutating func discardTransaction() { transactionWrites.removeAll(keepingCapacity: true) }

    /// The block's write set: shared keys and private ones (under `PrivateEnvelope.keyPrefix`).
    public var writeSet: WriteSet { WriteSet(blockWrites) }
}

/// The reads of one endorsed call's execution, first read of each name only.
final class ReadRecorder {
    private(set) var reads: [String: Hash256?] = [:]

    func note(_ entry: (name: String, digest: Hash256?)) {
        if reads[entry.name] == nil { reads[entry.name] = .some(entry.digest) }
    }

    var entries: [Proposal.Read] { reads.map { Proposal.Read(name: $0.key, digest: $0.value) } }
}

/// Remembers decoded identities together with the bytes they came from, so a changed identity
/// is never served stale. Not thread-safe: one owner at a time.
public final class IdentityMemo {
    /// Most identities remembered; past this the memo starts over.
    public static let entriesMax = 100_000
    private var entries: [String: (bytes: [UInt8], value: Identity)] = [:]

    public init() {}

    /// The identity for `key` if `bytes` are what it was decoded from; otherwise decodes and remembers.
    func value(for key: String, bytes: [UInt8], decode: ([UInt8]) -> Identity?) -> Identity? {
        if let entry = entries[key], entry.bytes == bytes { return entry.value }
        guard let value = decode(bytes) else { return nil }
        if entries.count >= Self.entriesMax { entries.removeAll(keepingCapacity: true) }
        entries[key] = (bytes, value)
        return value
    }
}
