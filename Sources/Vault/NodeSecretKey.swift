public import Crypto

/// A secret of the node for one use (the blind index, record ids): given as at least 32 secret
/// bytes, or derived from the node's X25519 private key with HKDF-SHA256 under the use's own
/// label, so that no extra secret file is needed.
public protocol NodeSecretKey: Sendable {
    /// The HKDF label of `derive`.
    static var derivationLabel: String { get }
    /// What the key is called in errors ("a blind index key").
    static var name: String { get }
    init(key: SymmetricKey)
}

extension NodeSecretKey {
    /// Uses at least 32 secret bytes.
    public init(secret: [UInt8]) throws(VaultError) {
        guard secret.count >= 32 else { throw .invalidKey("\(Self.name) needs at least 32 bytes") }
        self.init(key: SymmetricKey(data: secret))
    }

    /// Derives the key from a node's X25519 private key.
    public static func derive(from agreementKey: Curve25519.KeyAgreement.PrivateKey) -> Self {
        Self(key: HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: agreementKey.rawRepresentation),
                                         info: Array(derivationLabel.utf8), outputByteCount: 32))
    }
}
