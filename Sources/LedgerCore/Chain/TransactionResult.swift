/// The outcome of one transaction in a block: a stable numeric code (0 = accepted) and a message.
public struct TransactionResult: Sendable, Hashable {
    /// Result code; 0 means accepted. Codes are defined by the executor and never renumbered.
    public let code: UInt16
    /// Human-readable reason (empty when accepted). Never contains PHI.
    public let message: String

    public init(code: UInt16, message: String) { (self.code, self.message) = (code, message) }

    /// The accepted result.
    public static let accepted = TransactionResult(code: 0, message: "")
    /// True when the transaction's writes were applied.
    public var isAccepted: Bool { code == 0 }

    /// Canonical bytes: [code, message].
    public var encoded: [UInt8] {
        var writer = CanonicalWriter(capacity: 8 + message.utf8.count)
        writer.write(int: Int64(code))
        writer.write(string: message)
        return writer.bytes
    }

    /// Decodes canonical result bytes.
    public init(decoding bytes: [UInt8]) throws(CanonicalError) {
        var reader = CanonicalReader(bytes)
        let start = reader.offset
        let code = try reader.readInt()
        guard (0...Int64(UInt16.max)).contains(code) else { throw .unexpected(offset: start, expected: "16-bit result code") }
        let message = try reader.readString()
        try reader.finish()
        self.init(code: UInt16(code), message: message)
    }

    /// Leaf input of the results tree: tx id ‖ encoded result, binding each result to its transaction.
    public func leafInput(for transactionID: Hash256) -> [UInt8] { transactionID.bytes + encoded }

    /// RFC 9162 root over the results of a block, in transaction order.
    public static func root(_ results: [TransactionResult], transactionIDs: [Hash256]) -> Hash256 {
        precondition(results.count == transactionIDs.count, "one result per transaction")
        var frontier = MerkleFrontier()
        for (result, id) in zip(results, transactionIDs) {
            frontier.append(leafHash: MerkleHashing.leafHash(result.leafInput(for: id)))
        }
        return frontier.root
    }
}

/// The set of state keys a block wrote, with new values (nil = deleted), and its digests.
public struct WriteSet: Sendable, Equatable {
    /// Writes sorted by key bytes; each key at most once.
    public let entries: [(key: String, value: [UInt8]?)]

    public init(_ writes: [String: [UInt8]?]) {
        entries = writes.map { (key: $0.key, value: $0.value) }
            .sorted { String.utf8Order($0.key, $1.key) < 0 }
    }

    private init(sorted entries: [(key: String, value: [UInt8]?)]) { self.entries = entries }

    /// The shared writes (every node's, under the state root) and the private ones (a collection's,
    /// under `PrivateEnvelope.keyPrefix`, only on its organizations' nodes and outside the root).
    public var partitioned: (shared: WriteSet, private: WriteSet) {
        let isPrivate = { (entry: (key: String, value: [UInt8]?)) in entry.key.hasPrefix(PrivateEnvelope.keyPrefix) }
        guard entries.contains(where: isPrivate) else { return (self, WriteSet(sorted: [])) }
        return (WriteSet(sorted: entries.filter { !isPrivate($0) }), WriteSet(sorted: entries.filter(isPrivate)))
    }

    /// Both sets of writes in one (their keys never overlap).
    public func merged(with other: WriteSet) -> WriteSet {
        guard !other.entries.isEmpty else { return self }
        return WriteSet(sorted: (entries + other.entries).sorted { String.utf8Order($0.key, $1.key) < 0 })
    }

    public static func == (lhs: WriteSet, rhs: WriteSet) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    /// SHA-256 over the canonical list of [key, value-or-null] pairs.
    public var digest: Hash256 {
        var writer = CanonicalWriter(capacity: 64 * entries.count + 16)
        writer.write(.list(entries.map { .list([.string($0.key), $0.value.map { .bytes($0) } ?? .null]) }))
        return Hash256.sha256(domain: "careledger/writeset/v1", writer.bytes)
    }

    /// State root after this write set: SHA-256("careledger/state/v1" ‖ previous root ‖ digest).
    public func stateRoot(after previous: Hash256) -> Hash256 {
        Hash256.sha256(domain: "careledger/state/v1", previous.bytes + digest.bytes)
    }
}
