public import Crypto
import CryptoExtras
import Foundation
public import LedgerCore

/// A patient's private keys sealed under a passphrase in the format the portal's browser code writes
/// and reads (`Sources/Portal/Assets/patient-keys.js`): the patient's key backup, and the handover
/// file a custodian gives a patient whose keys it generated, so that she can take them over.
///
/// PBKDF2-HMAC-SHA-256 (600,000 iterations, OWASP's 2023 figure for it) then AES-256-GCM: the only
/// passphrase KDF WebCrypto offers is PBKDF2 (no scrypt, no Argon2), and the file must open in a
/// browser with nothing but WebCrypto. The id and the format are bound as associated data.
public struct PatientKeyFile: Codable, Sendable, Equatable {
    public struct KDF: Codable, Sendable, Equatable {
        public var name: String
        public var iterations: Int
        /// Base64 of 16 random bytes.
        public var salt: String
    }
    public struct Cipher: Codable, Sendable, Equatable {
        public var name: String
        /// Base64 of the 12-byte AES-GCM nonce.
        public var iv: String
    }

    /// Why a file is sealed: a patient's own backup, or a custodian's handover of keys it generated.
    public enum Kind: String, Codable, Sendable { case backup, handover }

    /// What the file holds once opened: the keys, and earlier agreement keys (records wrapped to
    /// the patient before a rotation open only with those).
    public struct Contents: Sendable {
        public var kind: Kind
        public var keys: IdentityKeys
        public var previousAgreementKeys: [Curve25519.KeyAgreement.PrivateKey]
        public init(kind: Kind, keys: IdentityKeys, previousAgreementKeys: [Curve25519.KeyAgreement.PrivateKey] = []) {
            (self.kind, self.keys, self.previousAgreementKeys) = (kind, keys, previousAgreementKeys)
        }
    }

    public static let formatName = "careledger-patient-keys/v1"
    public static let iterationsStandard = 600_000
    /// A file asking for fewer iterations is refused (too weak), or for more (a browser would hang).
    public static let iterationsRange = 100_000...5_000_000
    /// Largest file accepted (two keys, a few earlier agreement keys).
    public static let fileBytesMax = 8 << 10
    /// Earlier agreement keys kept at most.
    public static let previousKeysMax = 16

    public var format: String
    /// The patient's ledger id (hex).
    public var id: String
    public var kdf: KDF
    public var cipher: Cipher
    /// Base64 of ciphertext ‖ 16-byte tag.
    public var ciphertext: String

    /// Seals `contents` for the identity `id` under `passphrase`.
    public static func seal(_ contents: Contents, id: IdentityID, passphrase: String,
                            iterations: Int = iterationsStandard) throws(VaultError) -> PatientKeyFile {
        guard !passphrase.isEmpty else { throw .malformed("the passphrase must not be empty") }
        guard iterationsRange.contains(iterations) else { throw .malformed("PBKDF2 iterations must be \(iterationsRange)") }
        guard contents.previousAgreementKeys.count <= previousKeysMax else { throw .malformed("at most \(previousKeysMax) earlier agreement keys") }
        let salt = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        let plain: [String: Any] = [
            "kind": contents.kind.rawValue, "signing": Base64.encode(Array(contents.keys.signing.rawRepresentation)),
            "agreement": Base64.encode(Array(contents.keys.agreement.rawRepresentation)),
            "previousAgreement": contents.previousAgreementKeys.map { Base64.encode(Array($0.rawRepresentation)) },
        ]
        do {
            let key = try derive(passphrase, salt: salt, iterations: iterations)
            let box = try AES.GCM.seal(try JSONSerialization.data(withJSONObject: plain, options: .sortedKeys), using: key,
                                       authenticating: associatedData(id.hex))
            return PatientKeyFile(format: formatName, id: id.hex, kdf: KDF(name: "PBKDF2-SHA-256", iterations: iterations, salt: Base64.encode(salt)),
                                  cipher: Cipher(name: "AES-256-GCM", iv: Base64.encode(Array(box.nonce))),
                                  ciphertext: Base64.encode(Array(box.ciphertext + box.tag)))
        } catch {
            throw .malformed("sealing failed: \(error)")
        }
    }

    /// Opens a file; a wrong passphrase, another id or any alteration fails, and the keys must be the id's.
    public func open(passphrase: String) throws(VaultError) -> Contents {
        guard format == Self.formatName, kdf.name == "PBKDF2-SHA-256", cipher.name == "AES-256-GCM" else {
            throw .malformed("not a \(Self.formatName) file")
        }
        guard Self.iterationsRange.contains(kdf.iterations) else { throw .malformed("PBKDF2 iterations must be \(Self.iterationsRange)") }
        guard let salt = Base64.decode(kdf.salt), salt.count == 16, let iv = Base64.decode(cipher.iv), iv.count == 12,
              let sealed = Base64.decode(ciphertext), sealed.count > 16 else { throw .malformed("the file's salt, iv or ciphertext is not well-formed") }
        let plain: Data
        do {
            let key = try Self.derive(passphrase, salt: salt, iterations: kdf.iterations)
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: iv), ciphertext: sealed.dropLast(16), tag: sealed.suffix(16))
            plain = try AES.GCM.open(box, using: key, authenticating: Self.associatedData(id))
        } catch {
            throw .wrongPassphrase
        }
        guard let object = try? JSONSerialization.jsonObject(with: plain) as? [String: Any],
              let kind = (object["kind"] as? String).flatMap(Kind.init(rawValue:)),
              let signing = (object["signing"] as? String).flatMap(Base64.decode), let agreement = (object["agreement"] as? String).flatMap(Base64.decode),
              let keys = try? IdentityKeys(signing: .init(rawRepresentation: signing), agreement: .init(rawRepresentation: agreement)) else {
            throw .malformed("the file's contents are not a patient's keys")
        }
        let previous = (object["previousAgreement"] as? [String] ?? []).compactMap { Base64.decode($0).flatMap { try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: $0) } }
        return Contents(kind: kind, keys: keys, previousAgreementKeys: previous)
    }

    static func associatedData(_ id: String) -> [UInt8] { Array("\(formatName) \(id)".utf8) }

    private static func derive(_ passphrase: String, salt: [UInt8], iterations: Int) throws -> SymmetricKey {
        // NFC, as the browser normalizes it: the same passphrase typed on two keyboards gives one key.
        try CryptoExtras.KDF.Insecure.PBKDF2.deriveKey(from: Array(passphrase.precomposedStringWithCanonicalMapping.utf8), salt: salt, using: .sha256,
                                          outputByteCount: 32, unsafeUncheckedRounds: iterations)
    }
}
