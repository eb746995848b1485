public import Crypto
public import Foundation

/// An identity's id: hex SHA-256 of its first Ed25519 signing public key (stable across rotation).
public typealias IdentityID = Hash256

/// A 32-byte Ed25519 public key as carried in transactions and state.
public struct SigningPublicKey: Hashable, Sendable {
    /// The raw 32 bytes.
    public let rawValue: [UInt8]

    /// Wraps raw bytes; nil unless they are a well-formed Ed25519 public key.
    public init?(rawValue: [UInt8]) {
        guard rawValue.count == 32, (try? Curve25519.Signing.PublicKey(rawRepresentation: rawValue)) != nil else {
            return nil
        }
        self.rawValue = rawValue
    }

    /// The identity id this key would have as an identity's first key.
    public var derivedID: IdentityID { Hash256.sha256(rawValue) }

    /// Checks an Ed25519 signature over `message`.
    public func isValidSignature(_ signature: [UInt8], for message: some DataProtocol) -> Bool {
        guard signature.count == 64, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: rawValue) else {
            return false
        }
        return key.isValidSignature(signature, for: message)
    }
}

/// The private keys an identity holds: Ed25519 for signing, X25519 for receiving wrapped keys.
public struct IdentityKeys: Sendable {
    /// Ed25519 signing key.
    public let signing: Curve25519.Signing.PrivateKey
    /// X25519 key-agreement key.
    public let agreement: Curve25519.KeyAgreement.PrivateKey

    /// Fresh random keys from the system CSPRNG (via swift-crypto).
    public static func generate() -> IdentityKeys {
        IdentityKeys(signing: .init(), agreement: .init())
    }

    public init(signing: Curve25519.Signing.PrivateKey, agreement: Curve25519.KeyAgreement.PrivateKey) {
        (self.signing, self.agreement) = (signing, agreement)
    }

    /// Deterministic keys derived from a 32-byte seed; for tests, vectors and benchmarks only.
    public init(seed: [UInt8]) {
        precondition(seed.count == 32, "seed must be 32 bytes")
        let signingSeed = Hash256.sha256(domain: "careledger/test-seed/signing", seed).bytes
        let agreementSeed = Hash256.sha256(domain: "careledger/test-seed/agreement", seed).bytes
        self.signing = try! Curve25519.Signing.PrivateKey(rawRepresentation: signingSeed)
        self.agreement = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: agreementSeed)
    }

    /// The signing public key.
    public var signingPublicKey: SigningPublicKey { SigningPublicKey(rawValue: Array(signing.publicKey.rawRepresentation))! }
    /// The X25519 public key, raw 32 bytes.
    public var agreementPublicKey: [UInt8] { Array(agreement.publicKey.rawRepresentation) }
    /// The id an identity created with these keys gets.
    public var derivedID: IdentityID { signingPublicKey.derivedID }

    /// Ed25519 signature over `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        Array(try! signing.signature(for: message))
    }
}
