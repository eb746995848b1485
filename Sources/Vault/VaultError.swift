/// Why a vault operation failed. Messages name the object, never its contents.
public enum VaultError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Ciphertext or a wrapped key did not authenticate: it was altered, or the key is wrong.
    case authenticationFailed(String)
    case malformed(String)
    case wrongPassphrase
    case tooLarge(what: String, bytes: Int, max: Int)
    case invalidKey(String)
    /// A session message arrived out of order or was replayed: its sequence number is not the next one.
    case outOfSequence(expected: UInt64, got: UInt64)

    public var description: String {
        switch self {
        case .authenticationFailed(let what): "\(what) failed authentication: it was tampered with, or the key is wrong"
        case .malformed(let why): "malformed vault data: \(why)"
        case .wrongPassphrase: "wrong passphrase, or the sealed key file was altered"
        case .tooLarge(let what, let bytes, let max): "\(what) is \(bytes) bytes; the limit is \(max)"
        case .invalidKey(let why): "invalid key: \(why)"
        case .outOfSequence(let expected, let got): "session message \(got) is out of order or replayed; expected message \(expected)"
        }
    }
}
