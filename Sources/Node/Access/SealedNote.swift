public import Crypto
public import LedgerCore
public import Vault

/// A short text sealed to one identity's X25519 key: AES-256-GCM under a fresh data key, the key
/// HPKE-wrapped to the recipient. Used for break-glass justifications, which only the patient reads.
public enum SealedNote {
    /// Longest note, in bytes of UTF-8.
    public static let textBytesMax = 1_024
    /// Domain that binds a note's ciphertext to its purpose (stands in for a record id).
    static let context = Hash256.sha256(Array("careledger/sealed-note/v1".utf8))

    /// Seals `text` to `recipient` (its id and X25519 public key).
    public static func seal(_ text: String, to recipient: IdentityID, agreementKey: [UInt8]) throws(VaultError) -> [UInt8] {
        let plaintext = Array(text.utf8)
        guard plaintext.count <= textBytesMax else { throw VaultError.tooLarge(what: "note", bytes: plaintext.count, max: textBytesMax) }
        let key = DataKey.generate()
        let sealed = try RecordCipher.seal(plaintext, with: key, record: context, version: 0)
        let wrapped = try KeyWrap.wrap(key, to: agreementKey, context: WrapContext(record: context, version: 0, recipient: recipient))
        return CanonicalValue.map(["key": .bytes(wrapped.bytes), "box": .bytes(sealed.bytes)]).encoded
    }

    /// Opens a note sealed to `recipient` with its private key.
    public static func open(_ bytes: [UInt8], recipient: IdentityID, with privateKey: Curve25519.KeyAgreement.PrivateKey) throws(VaultError) -> String {
        guard let value = try? CanonicalValue(decoding: bytes), let keyBytes = value["key"]?.bytesValue, let box = value["box"]?.bytesValue
        else { throw VaultError.malformed("sealed note is not well-formed") }
        let key = try KeyWrap.unwrap(try WrappedKey(bytes: keyBytes), with: privateKey,
                                     context: WrapContext(record: context, version: 0, recipient: recipient))
        let plaintext = try RecordCipher.open(try SealedRecord(bytes: box), with: key, record: context, version: 0)
        return String(decoding: plaintext, as: UTF8.self)
    }
}
