import Crypto
import Foundation
import LedgerCore

/// A data key wrapped with HPKE for one recipient: version 0x01 ‖ 32-byte encapsulated key ‖
/// 48-byte ciphertext (key + tag).
public struct WrappedKey: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1
    public let encapsulatedKey: [UInt8]
    public let ciphertext: [UInt8]

    init(encapsulatedKey: [UInt8], ciphertext: [UInt8]) {
        self.encapsulatedKey = encapsulatedKey
        self.ciphertext = ciphertext
    }

    /// Parses the stored form.
    public init(bytes: [UInt8]) throws(VaultError) {
        guard bytes.count == 81, bytes[0] == Self.formatVersion else { throw .malformed("a wrapped key is 81 bytes starting with 0x01") }
        encapsulatedKey = Array(bytes[1..<33])
        ciphertext = Array(bytes[33...])
    }

    /// The stored form.
    public var bytes: [UInt8] { [Self.formatVersion] + encapsulatedKey + ciphertext }
}

/// What a wrapped key is bound to: it opens only for this record, version and recipient.
public struct WrapContext: Sendable, Equatable {
    public let record: Hash256
    public let version: UInt64
    public let recipient: IdentityID

    public init(record: Hash256, version: UInt64, recipient: IdentityID) {
        self.record = record
        self.version = version
        self.recipient = recipient
    }

    var info: [UInt8] {
        Array("careledger/key-wrap/v1".utf8) + record.bytes + withUnsafeBytes(of: version.bigEndian) { Array($0) } + recipient.bytes
    }
}

/// HPKE (RFC 9180, base mode) wrapping of data keys: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
public enum KeyWrap {
    public static let ciphersuite = HPKE.Ciphersuite(kem: .Curve25519_HKDF_SHA256, kdf: .HKDF_SHA256, aead: .AES_GCM_256)

    /// Wraps `key` to a recipient's X25519 public key.
    public static func wrap(_ key: DataKey, to recipientAgreementKey: [UInt8], context: WrapContext) throws(VaultError) -> WrappedKey {
        let publicKey: Curve25519.KeyAgreement.PublicKey
        do { publicKey = try .init(rawRepresentation: recipientAgreementKey) } catch {
            throw .invalidKey("recipient X25519 key must be 32 bytes, got \(recipientAgreementKey.count)")
        }
        do {
            var sender = try HPKE.Sender(recipientKey: publicKey, ciphersuite: ciphersuite, info: Data(context.info))
            let ciphertext = try sender.seal(key.rawBytes)
            return WrappedKey(encapsulatedKey: Array(sender.encapsulatedKey), ciphertext: Array(ciphertext))
        } catch {
            throw .invalidKey("cannot wrap to that key: \(error)")
        }
    }

    /// Unwraps with the recipient's private key; fails on any alteration or wrong key or context.
    public static func unwrap(_ wrapped: WrappedKey, with privateKey: Curve25519.KeyAgreement.PrivateKey,
                              context: WrapContext) throws(VaultError) -> DataKey {
        do {
            var recipient = try HPKE.Recipient(privateKey: privateKey, ciphersuite: ciphersuite, info: Data(context.info),
                                               encapsulatedKey: Data(wrapped.encapsulatedKey))
            return try DataKey(rawBytes: Array(try recipient.open(wrapped.ciphertext)))
        } catch {
            throw .authenticationFailed("wrapped data key of \(context.record.hex) for \(context.recipient.hex)")
        }
    }
}
