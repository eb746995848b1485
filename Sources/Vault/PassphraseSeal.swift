import Crypto
import CryptoExtras
import Foundation
import LedgerCore

/// scrypt cost parameters (N = 2^logN).
public struct ScryptCost: Sendable, Equatable {
    public var logN: Int
    public var r: Int
    public var p: Int

    public init(logN: Int, r: Int, p: Int) { (self.logN, self.r, self.p) = (logN, r, p) }

    /// 32 MiB, about 0.1 s: for key files.
    public static let standard = ScryptCost(logN: 15, r: 8, p: 1)
    /// Cheap, for tests only.
    public static let testing = ScryptCost(logN: 10, r: 8, p: 1)

    var isReasonable: Bool { (1...20).contains(logN) && (1...16).contains(r) && (1...4).contains(p) }
}

/// A secret sealed with a passphrase (scrypt → AES-256-GCM), in a JSON-friendly form.
public struct SealedSecret: Codable, Sendable, Equatable {
    public var version: Int
    public var kdf: String
    public var logN: Int
    public var r: Int
    public var p: Int
    /// Base64 of the 16-byte salt.
    public var salt: String
    /// Base64 of nonce ‖ ciphertext ‖ tag.
    public var box: String
}

/// Seals secrets (private keys on disk) under a passphrase.
public enum PassphraseSeal {
    static let associatedData = Array("careledger/sealed-secret/v1".utf8)

    /// Seals `secret`; a fresh salt each time.
    public static func seal(_ secret: [UInt8], passphrase: String, cost: ScryptCost = .standard) throws(VaultError) -> SealedSecret {
        guard !passphrase.isEmpty else { throw .malformed("passphrase must not be empty") }
        guard cost.isReasonable else { throw .malformed("scrypt cost out of range") }
        let salt = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        do {
            let key = try derive(passphrase, salt: salt, cost: cost)
            let box = try AES.GCM.seal(secret, using: key, authenticating: associatedData)
            return SealedSecret(version: 1, kdf: "scrypt", logN: cost.logN, r: cost.r, p: cost.p, salt: Base64.encode(salt),
                                box: Base64.encode(Array(box.combined!)))
        } catch {
            throw .malformed("sealing failed: \(error)")
        }
    }

    /// Opens a sealed secret; a wrong passphrase or any alteration fails.
    public static func open(_ sealed: SealedSecret, passphrase: String) throws(VaultError) -> [UInt8] {
        guard !passphrase.isEmpty else { throw .malformed("passphrase must not be empty") }
        let cost = ScryptCost(logN: sealed.logN, r: sealed.r, p: sealed.p)
        guard sealed.version == 1, sealed.kdf == "scrypt", cost.isReasonable else { throw .malformed("unsupported sealed secret parameters") }
        guard let salt = Base64.decode(sealed.salt), salt.count == 16, let boxBytes = Base64.decode(sealed.box), boxBytes.count >= 28 else {
            throw .malformed("sealed secret salt or box is not well-formed")
        }
        let key: SymmetricKey
        do { key = try derive(passphrase, salt: salt, cost: cost) } catch { throw .malformed("key derivation failed: \(error)") }
        do {
            return Array(try AES.GCM.open(try AES.GCM.SealedBox(combined: boxBytes), using: key, authenticating: associatedData))
        } catch {
            throw .wrongPassphrase
        }
    }

    private static func derive(_ passphrase: String, salt: [UInt8], cost: ScryptCost) throws -> SymmetricKey {
        try KDF.Scrypt.deriveKey(from: Array(passphrase.utf8), salt: salt, outputByteCount: 32, rounds: 1 << cost.logN,
                                 blockSize: cost.r, parallelism: cost.p)
    }
}
