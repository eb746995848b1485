import Crypto
import Foundation
public import LedgerCore

/// A record's 256-bit AES-GCM data key. Fresh for every record version.
public struct DataKey: Sendable {
    let key: SymmetricKey

    /// A new random key from the system CSPRNG.
    public static func generate() -> DataKey { DataKey(key: SymmetricKey(size: .bits256)) }

    init(key: SymmetricKey) { self.key = key }

    /// Wraps 32 raw bytes.
    public init(rawBytes: [UInt8]) throws(VaultError) {
        guard rawBytes.count == 32 else { throw .invalidKey("a data key is 32 bytes, got \(rawBytes.count)") }
        key = SymmetricKey(data: rawBytes)
    }

    /// The raw 32 bytes.
    public var rawBytes: [UInt8] { key.withUnsafeBytes { Array($0) } }
}

/// An encrypted record: version byte 0x01 ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag. Stored
/// and addressed by the SHA-256 of these bytes.
public struct SealedRecord: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1
    static let overhead = 1 + 12 + 16
    public let bytes: [UInt8]
    /// The content address: SHA-256 of the sealed bytes (computed once, here).
    public let hash: Hash256

    /// Checks the layout (not the authenticity: that needs the key).
    public init(bytes: [UInt8]) throws(VaultError) {
        guard bytes.count >= Self.overhead else { throw .malformed("sealed record is \(bytes.count) bytes, shorter than its header") }
        guard bytes[0] == Self.formatVersion else { throw .malformed("unknown sealed record format \(bytes[0])") }
        self.bytes = bytes
        hash = Hash256.sha256(bytes)
    }
}

/// AES-256-GCM encryption of record content, bound to the record id and version.
public enum RecordCipher {
    /// Largest record content accepted.
    public static let plaintextBytesMax = 4 * 1024 * 1024

    static func associatedData(record: Hash256, version: UInt64) -> [UInt8] {
        Array("careledger/record/v1".utf8) + record.bytes + withUnsafeBytes(of: version.bigEndian) { Array($0) }
    }

    /// Encrypts with a fresh random nonce.
    public static func seal(_ plaintext: [UInt8], with key: DataKey, record: Hash256, version: UInt64) throws(VaultError) -> SealedRecord {
        guard plaintext.count <= plaintextBytesMax else { throw .tooLarge(what: "record content", bytes: plaintext.count, max: plaintextBytesMax) }
        do {
            let box = try AES.GCM.seal(plaintext, using: key.key, authenticating: associatedData(record: record, version: version))
            return try SealedRecord(bytes: [SealedRecord.formatVersion] + Array(box.combined!))
        } catch let error as VaultError {
            throw error
        } catch {
            throw .malformed("encryption failed: \(error)")
        }
    }

    /// Decrypts and authenticates; any alteration, wrong key, record or version fails.
    public static func open(_ sealed: SealedRecord, with key: DataKey, record: Hash256, version: UInt64) throws(VaultError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.bytes.dropFirst())
            return Array(try AES.GCM.open(box, using: key.key, authenticating: associatedData(record: record, version: version)))
        } catch {
            throw .authenticationFailed("record ciphertext of \(record.hex) version \(version)")
        }
    }
}
