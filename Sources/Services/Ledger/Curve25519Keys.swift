import Crypto

/// Rebuilds swift-crypto keys from raw bytes (kept here so only this file imports Crypto).
enum Curve25519Keys {
    static func signing(_ raw: [UInt8]) throws -> Curve25519.Signing.PrivateKey {
        try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
    }
    static func agreement(_ raw: [UInt8]) throws -> Curve25519.KeyAgreement.PrivateKey {
        try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw)
    }
}
