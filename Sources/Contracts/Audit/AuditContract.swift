public import LedgerCore

/// Anchors a node's access-audit log on the chain: each anchor names the log's size and RFC 9162
/// root, so any audit entry below that size can be proven included (audit-log inclusion proof +
/// the anchoring transaction's inclusion in the chain log). Sizes only grow.
public struct AuditContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names

    /// Largest audit log size an anchor may name.
    public static let sizeMax: Int64 = 1 << 48

    public init() {}

    static func headKey(_ node: IdentityID) -> String { "audit/head/\(node.hex)" }
    static func anchorKey(_ node: IdentityID, _ size: UInt64) -> String { "audit/anchor/\(node.hex)/\(size)" }

    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] { [Self.headKey(transaction.body.sender)] }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        let args: AnchorLog
        switch try Method.of(call) {
        case .anchor: args = try AnchorLog(call)
        }
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .organization || Directory.effectiveRoles(of: sender, in: state).contains(.integration) else {
            throw Rejection(.unauthorized, "audit anchors come from an organization or its integration account")
        }
        let size = UInt64(args.size)
        let root = args.root
        if let head = Self.head(of: sender.id, in: state), size <= head.size {
            throw Rejection(.auditNotGrowing, "audit log of \(sender.id.hex) is already anchored at size \(head.size)")
        }
        let value = CanonicalValue.map(["size": .int(Int64(size)), "root": .bytes(root.bytes), "height": .int(Int64(call.height)),
                                        "timeMs": .int(call.timeMs)])
        state.set(Self.headKey(sender.id), value)
        state.set(Self.anchorKey(sender.id, size), value)
    }

    /// An anchored audit tree head.
    public struct Anchor: Sendable, Equatable {
        public let size: UInt64
        public let root: Hash256
        public let height: UInt64
        public let timeMs: Int64
    }

    /// The latest anchor of a node's audit log.
    public static func head(of node: IdentityID, in reader: any StateReader) -> Anchor? {
        decode(reader.value(for: headKey(node)))
    }

    /// The anchor at exactly `size`, if one was made.
    public static func anchor(of node: IdentityID, size: UInt64, in reader: any StateReader) -> Anchor? {
        decode(reader.value(for: anchorKey(node, size)))
    }

    private static func decode(_ bytes: [UInt8]?) -> Anchor? {
        guard let bytes, let value = try? CanonicalValue(decoding: bytes), let size = value["size"]?.intValue,
              let root = value["root"]?.bytesValue.flatMap({ Hash256(bytes: $0) }), let height = value["height"]?.intValue,
              let time = value["timeMs"]?.intValue else { return nil }
        return Anchor(size: UInt64(size), root: root, height: UInt64(height), timeMs: time)
    }
}
