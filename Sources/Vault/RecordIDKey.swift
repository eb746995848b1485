public import Crypto
public import LedgerCore

/// The node's secret for record ids. A FHIR resource's record id is HMAC-SHA256 of its type and id
/// under this key, so that no one without the key — another member reading the shared chain
/// included — can compute the record of `Patient/MRN-123` and follow it to the patient's pseudonym
/// (security review finding 1). Derived from the node's X25519 key like the blind index key.
public struct RecordIDKey: NodeSecretKey {
    public static let derivationLabel = "careledger/record-id/v2"
    public static let name = "a record id key"
    let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    /// The keyed id of a name ("Type/id").
    public func id(_ name: String) -> Hash256 {
        var message = Array("careledger/fhir-record/v2".utf8)
        message.append(0)
        message += Array(name.utf8)
        return Hash256(bytes: Array(HMAC<SHA256>.authenticationCode(for: message, using: key)))!
    }
}
