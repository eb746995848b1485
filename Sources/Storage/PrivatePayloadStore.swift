public import LedgerCore

/// Where a node keeps the private payloads it is entitled to (`PrivatePayload`), by transaction
/// id: those its clients submitted and those it fetched from a peer. Only the nodes of the
/// organizations a payload names ever hold it. Written durably before the transaction is ordered
/// (or, for a fetched one, before its block executes), so a restarted node replays them.
public protocol PrivatePayloadStore: AnyObject, Sendable {
    /// Stores payloads' canonical bytes (a second copy of one id is ignored), durably.
    func savePrivatePayloads(_ payloads: [(id: Hash256, bytes: [UInt8])]) throws
    /// The stored payloads among `ids`.
    func privatePayloads(_ ids: [Hash256]) throws -> [Hash256: [UInt8]]
}

extension LedgerStore {
    /// The private collections' key namespaces ("private/<collection hex>/") this store holds
    /// state of, found with one probe per collection.
    public func privateNamespaces() throws -> Set<String> {
        var found: Set<String> = []
        var after: String?
        while let row = try states(prefix: PrivateEnvelope.keyPrefix, after: after, limit: 1).first {
            guard let namespace = PrivateEnvelope.namespace(ofKey: row.key) else { break }
            found.insert(namespace)
            // Past every key of this namespace: "0" sorts right after "/".
            after = String(namespace.dropLast()) + "0"
        }
        return found
    }
}
