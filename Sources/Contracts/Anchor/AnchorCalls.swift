public import LedgerCore

extension AnchorContract {
    /// The anchor contract's methods.
    public enum Method: String, ContractMethods {
        case put
        public static let contract = "anchor"
    }

    /// anchor.put: anchors a digest once.
    public struct Put: ContractMethod, Equatable {
        public static let method = Method.put
        public var digest: Hash256
        /// A label such as "document" or "audit-batch".
        public var kind: String

        public init(digest: Hash256, kind: String) { (self.digest, self.kind) = (digest, kind) }

        public func validate() throws(Rejection) { try Check.text(kind, CodingKeys.kind, maxBytes: AnchorContract.kindBytesMax) }
    }
}
