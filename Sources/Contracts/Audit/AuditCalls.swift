public import LedgerCore

extension AuditContract {
    /// The audit contract's methods.
    public enum Method: String, ContractMethods {
        case anchor
        public static let contract = "audit"
    }

    /// audit.anchor: a node's access-audit log size and RFC 9162 root. (`Anchor` is the stored head.)
    public struct AnchorLog: ContractMethod, Equatable {
        public static let method = Method.anchor
        public var size: Int64
        public var root: Hash256

        public init(size: Int64, root: Hash256) { (self.size, self.root) = (size, root) }

        public func validate() throws(Rejection) { try Check.int(size, CodingKeys.size, in: 1...AuditContract.sizeMax) }
    }
}
