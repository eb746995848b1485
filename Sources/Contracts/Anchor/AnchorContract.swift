public import LedgerCore

/// Anchors a digest on the chain (a document, a batch of audit entries, a data submission), so its
/// existence at a block height can later be proven. Each digest is anchored once.
public struct AnchorContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names

    /// Longest kind label, e.g. "document" or "audit-batch".
    public static let kindBytesMax = 32

    public init() {}

    static func key(_ digest: Hash256) -> String { "anchor/\(digest.hex)" }

    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] {
        guard let args = Put(transaction) else { return [] }
        return [Self.key(args.digest)]
    }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        let args: Put
        switch try Method.of(call) {
        case .put: args = try Put(call)
        }
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind != .patient else { throw Rejection(.unauthorized, "patients do not anchor documents") }
        let digest = args.digest
        let kind = args.kind
        guard state.get(Self.key(digest)) == nil else {
            throw Rejection(.alreadyAnchored, "digest \(digest.hex) is already anchored")
        }
        state.set(Self.key(digest), .map([
            "by": .bytes(sender.id.bytes), "kind": .string(kind),
            "height": .int(Int64(call.height)), "timeMs": .int(call.timeMs),
        ]))
    }

    /// Who anchored a digest and when, if it is anchored.
    public static func lookup(_ digest: Hash256, in reader: any StateReader) -> (by: IdentityID, kind: String, height: UInt64)? {
        guard let bytes = reader.value(for: key(digest)), let value = try? CanonicalValue(decoding: bytes),
              let by = value["by"]?.bytesValue.flatMap({ Hash256(bytes: $0) }), let kind = value["kind"]?.stringValue,
              let height = value["height"]?.intValue else { return nil }
        return (by, kind, UInt64(height))
    }
}
