public import Crypto
import Foundation
public import LedgerCore

/// A data key wrapped with HPKE for one recipient: version 0x01 ‖ 32-byte encapsulated key ‖
/// 48-byte ciphertext (key + tag).
public struct WrappedKey: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1
    public let encapsulatedKey: [UInt8]
    public let ciphertext: [UInt8]

    init(encapsulatedKey: [UInt8], ciphertext: [UInt8]) { (self.encapsulatedKey, self.ciphertext) = (encapsulatedKey, ciphertext) }

    /// Parses the stored form.
    public init(bytes: [UInt8]) throws(VaultError) {
        guard bytes.count == 81, bytes[0] == Self.formatVersion else { throw .malformed("a wrapped key is 81 bytes starting with 0x01") }
        encapsulatedKey = Array(bytes[1..<33])
        ciphertext = Array(bytes[33...])
    }

    /// The stored form.
    public var bytes: [UInt8] { [Self.formatVersion] + encapsulatedKey + ciphertext }
}

/// What a wrapped key is bound to: it opens only for this record, version and recipient (or,
/// for a patient key, only as that patient key for that recipient).
public struct WrapContext: Sendable, Equatable {
    public let record: Hash256
    public let version: UInt64
    public let recipient: IdentityID
    private let label: String

    public init(record: Hash256, version: UInt64, recipient: IdentityID) {
        self.init(label: "careledger/key-wrap/v1", record: record, version: version, recipient: recipient)
    }

    private init(label: String, record: Hash256, version: UInt64, recipient: IdentityID) {
        self.label = label
        self.record = record
        self.version = version
        self.recipient = recipient
    }

    /// The context of a patient key's copy for `recipient` (a separate label, so a wrapped data
    /// key can never be taken for a wrapped patient key or the reverse).
    public static func patientKey(_ id: Hash256, recipient: IdentityID) -> WrapContext {
        WrapContext(label: "careledger/patient-key/v1", record: id, version: 0, recipient: recipient)
    }

    var info: [UInt8] {
        Array(label.utf8) + record.bytes + withUnsafeBytes(of: version.bigEndian) { Array($0) } + recipient.bytes
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

/// A patient's key at one custodian: a random AES-256 key under which the data keys of that
/// patient's records at that custodian are wrapped. It is HPKE-wrapped once to the patient and
/// once to the custodian, so writing a record costs one AES-GCM wrap instead of two HPKE wraps,
/// and either party opens every one of the patient's records there with their own private key.
public struct PatientKey: Sendable {
    /// Random identifier, named by every data key wrapped under this key.
    public let id: Hash256
    let key: SymmetricKey

    /// A new random key and id.
    public static func generate() -> PatientKey {
        PatientKey(id: Hash256(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })!, key: SymmetricKey(size: .bits256))
    }

    init(id: Hash256, key: SymmetricKey) { (self.id, self.key) = (id, key) }

    /// HPKE-wraps this key to a reader's X25519 public key.
    public func wrap(to agreementKey: [UInt8], recipient: IdentityID) throws(VaultError) -> WrappedKey {
        try KeyWrap.wrap(DataKey(key: key), to: agreementKey, context: .patientKey(id, recipient: recipient))
    }

    /// Opens a copy wrapped for `recipient` with that recipient's private key.
    public static func unwrap(_ wrapped: WrappedKey, id: Hash256, with privateKey: Curve25519.KeyAgreement.PrivateKey,
                              recipient: IdentityID) throws(VaultError) -> PatientKey {
        PatientKey(id: id, key: try KeyWrap.unwrap(wrapped, with: privateKey, context: .patientKey(id, recipient: recipient)).key)
    }

    static func associatedData(patientKey: Hash256, record: Hash256, version: UInt64) -> [UInt8] {
        Array("careledger/data-key/v2".utf8) + patientKey.bytes + record.bytes + withUnsafeBytes(of: version.bigEndian) { Array($0) }
    }

    /// Wraps a record version's data key (AES-256-GCM, fresh nonce, bound to this key's id, the
    /// record and the version).
    public func wrap(_ dataKey: DataKey, record: Hash256, version: UInt64) throws(VaultError) -> WrappedDataKey {
        do {
            let box = try AES.GCM.seal(dataKey.rawBytes, using: key, authenticating: Self.associatedData(patientKey: id, record: record, version: version))
            return try WrappedDataKey(bytes: [WrappedDataKey.formatVersion] + id.bytes + Array(box.combined!))
        } catch let error as VaultError {
            throw error
        } catch {
            throw .malformed("data key wrap failed: \(error)")
        }
    }

    /// Opens a data key wrapped under this key; any alteration, another key, record or version fails.
    public func unwrap(_ wrapped: WrappedDataKey, record: Hash256, version: UInt64) throws(VaultError) -> DataKey {
        guard wrapped.patientKey == id else { throw .invalidKey("data key is wrapped under patient key \(wrapped.patientKey.hex), not \(id.hex)") }
        do {
            let box = try AES.GCM.SealedBox(combined: wrapped.bytes[33...])
            return try DataKey(rawBytes: Array(try AES.GCM.open(box, using: key, authenticating: Self.associatedData(patientKey: id, record: record, version: version))))
        } catch {
            throw .authenticationFailed("wrapped data key of \(record.hex) version \(version)")
        }
    }
}

/// A data key wrapped under a patient key: version 0x02 ‖ 32-byte patient-key id ‖ 12-byte
/// nonce ‖ 32-byte key ‖ 16-byte tag (93 bytes).
public struct WrappedDataKey: Sendable, Equatable {
    public static let formatVersion: UInt8 = 2
    static let size = 1 + 32 + 12 + 32 + 16
    public let bytes: [UInt8]

    /// Checks the layout (not the authenticity: that needs the patient key).
    public init(bytes: [UInt8]) throws(VaultError) {
        guard bytes.count == Self.size, bytes[0] == Self.formatVersion else {
            throw .malformed("a wrapped data key is \(Self.size) bytes starting with 0x02")
        }
        self.bytes = bytes
    }

    /// The patient key it is wrapped under.
    public var patientKey: Hash256 { Hash256(bytes: bytes[1..<33])! }
}
