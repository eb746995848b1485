import Synchronization
/// The signed fields of a transaction (DESIGN.md "Core data").
public struct TransactionBody: Sendable, Hashable {
    /// Chain this transaction is valid on; prevents cross-chain replay.
    public var chainId: String
    /// The sender's identity id.
    public var sender: IdentityID
    /// The sender's current signing key; it must match the key the chain holds for `sender`.
    public var publicKey: SigningPublicKey
    /// Per-sender sequence number, starting at 1, strictly incrementing (replay protection).
    public var sequence: UInt64
    /// Contract name, e.g. "membership".
    public var contract: String
    /// Method name, e.g. "enroll".
    public var method: String
    /// Arguments, a canonical value (usually a map).
    public var args: CanonicalValue
    /// Last block height at which the transaction may be included; nil = no expiry.
    public var expiryHeight: UInt64?

    public init(chainId: String, sender: IdentityID, publicKey: SigningPublicKey, sequence: UInt64,
                contract: String, method: String, args: CanonicalValue, expiryHeight: UInt64? = nil) {
        (self.chainId, self.sender, self.publicKey, self.sequence, self.contract, self.method, self.args, self.expiryHeight) =
            (chainId, sender, publicKey, sequence, contract, method, args, expiryHeight)
    }

    /// Format version written first in every transaction.
    public static let formatVersion: UInt8 = 1

    func write(to writer: inout CanonicalWriter) {
        writer.write(versionByte: Self.formatVersion)
        writer.write(string: chainId)
        writer.write(hash: sender)
        writer.write(bytes: publicKey.rawValue)
        writer.write(uint: sequence)
        writer.write(string: contract)
        writer.write(string: method)
        writer.write(args)
        writer.write(optionalUInt: expiryHeight)
    }

    static func read(from reader: inout CanonicalReader) throws(TransactionError) -> TransactionBody {
        let version: UInt8
        do { version = try reader.readVersionByte() } catch { throw .malformed(error) }
        guard version == formatVersion else { throw .unsupportedVersion(version) }
        do { return try readFields(from: &reader) } catch { throw .malformed(error) }
    }

    private static func readFields(from reader: inout CanonicalReader) throws(CanonicalError) -> TransactionBody {
        let chainId = try reader.readString()
        let sender = try reader.readHash()
        let keyOffset = reader.offset
        guard let key = SigningPublicKey(rawValue: try reader.readBytes(count: 32)) else {
            throw .unexpected(offset: keyOffset, expected: "an Ed25519 public key")
        }
        let sequence = try reader.readUInt()
        let contract = try reader.readString()
        let method = try reader.readString()
        let args = try reader.readValue()
        let expiry = try reader.readOptionalUInt()
        return TransactionBody(chainId: chainId, sender: sender, publicKey: key, sequence: sequence,
                               contract: contract, method: method, args: args, expiryHeight: expiry)
    }
}

/// A signed transaction that keeps the exact bytes that were signed and logged.
///
/// Canonical bytes = body ‖ signature (a tagged 64-byte string). The signature covers
/// "careledger/tx-sig/v1" ‖ body. Id = SHA-256("careledger/tx/v1" ‖ canonical bytes), and the
/// canonical bytes are the transaction's leaf input in the Merkle log.
public struct Transaction: Sendable, Hashable {
    /// The decoded body.
    public let body: TransactionBody
    /// The Ed25519 signature.
    public let signature: [UInt8]
    /// The exact canonical bytes (leaf input of the log).
    public let bytes: [UInt8]
    /// Length of the body prefix of `bytes` (the signed part).
    public let bodyLength: Int
    /// SHA-256("careledger/tx/v1" ‖ bytes).
    public let id: Hash256

    /// Domain tag of the signature message.
    public static let signatureDomain = "careledger/tx-sig/v1"
    /// Domain tag of the transaction id.
    public static let idDomain = "careledger/tx/v1"

    /// Signs a body with `keys`, which must hold the private half of `body.publicKey`.
    public static func sign(_ body: TransactionBody, with keys: IdentityKeys) -> Transaction {
        precondition(keys.signingPublicKey == body.publicKey, "signing key does not match the body's public key")
        var writer = CanonicalWriter(capacity: 256)
        body.write(to: &writer)
        let bodyBytes = writer.bytes
        let signature = keys.sign(Array(signatureDomain.utf8) + bodyBytes)
        writer.write(bytes: signature)
        return Transaction(body: body, signature: signature, bytes: writer.bytes, bodyLength: bodyBytes.count)
    }

    /// A transaction never signed (its signature is zeros and never verifies): the call an
    /// endorsed call's simulation runs before its arguments, and so its signature, exist.
    public static func draft(_ body: TransactionBody) -> Transaction {
        var writer = CanonicalWriter(capacity: 256)
        body.write(to: &writer)
        let bodyLength = writer.bytes.count
        let signature = [UInt8](repeating: 0, count: 64)
        writer.write(bytes: signature)
        return Transaction(body: body, signature: signature, bytes: writer.bytes, bodyLength: bodyLength)
    }

    private init(body: TransactionBody, signature: [UInt8], bytes: [UInt8], bodyLength: Int) {
        self.body = body
        self.signature = signature
        self.bytes = bytes
        self.bodyLength = bodyLength
        self.id = Hash256.sha256(domain: Self.idDomain, bytes)
    }

    /// Parses canonical bytes; rejects oversize, malformed, non-canonical and trailing input.
    /// Does not check the signature (see `verifySignature()`).
    public init(decoding bytes: [UInt8]) throws(TransactionError) {
        guard bytes.count <= Limits.transactionBytesMax else {
            throw .tooLarge(bytes: bytes.count, max: Limits.transactionBytesMax)
        }
        var reader = CanonicalReader(bytes)
        let body = try TransactionBody.read(from: &reader)
        let bodyLength = reader.offset
        let signature: [UInt8]
        do {
            signature = try reader.readBytes(count: 64)
            try reader.finish()
        } catch {
            throw .malformed(error)
        }
        try Self.checkFieldLimits(body)
        self.init(body: body, signature: signature, bytes: bytes, bodyLength: bodyLength)
    }

    static func checkFieldLimits(_ body: TransactionBody) throws(TransactionError) {
        if body.chainId.utf8.count > Limits.chainIdBytesMax || body.chainId.isEmpty {
            throw .fieldOutOfRange("chain id must be 1…\(Limits.chainIdBytesMax) bytes")
        }
        if body.contract.utf8.count > Limits.nameBytesMax || body.contract.isEmpty {
            throw .fieldOutOfRange("contract name must be 1…\(Limits.nameBytesMax) bytes")
        }
        if body.method.utf8.count > Limits.nameBytesMax || body.method.isEmpty {
            throw .fieldOutOfRange("method name must be 1…\(Limits.nameBytesMax) bytes")
        }
        if body.sequence == 0 { throw .fieldOutOfRange("sequence numbers start at 1") }
    }

    /// The message the signature covers.
    public var signedMessage: [UInt8] { Array(Self.signatureDomain.utf8) + bytes[0..<bodyLength] }

    /// Checks the signature against the body's public key, over the exact stored bytes.
    public func verifySignature() -> Bool {
        body.publicKey.isValidSignature(signature, for: signedMessage)
    }
}

/// Why a transaction's bytes were rejected before any state was consulted.
public enum TransactionError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLarge(bytes: Int, max: Int)
    case unsupportedVersion(UInt8)
    case malformed(CanonicalError)
    case fieldOutOfRange(String)
    case badSignature

    public var description: String {
        switch self {
        case .tooLarge(let n, let max): "transaction is \(n) bytes; the limit is \(max)"
        case .unsupportedVersion(let v): "unsupported transaction format version \(v)"
        case .malformed(let e): "malformed transaction: \(e)"
        case .fieldOutOfRange(let what): "invalid field: \(what)"
        case .badSignature: "signature does not verify against the transaction's public key"
        }
    }
}

/// A transaction whose bytes decoded canonically and whose signature verified.
/// Only `verify(_:)` builds one, so holding this type means the check was done.
public struct VerifiedTransaction: Sendable, Hashable {
    /// The checked transaction.
    public let transaction: Transaction
    /// Its arguments as the contract decoded them, kept with it: admission, the block's prefetch
    /// hint and execution decode them once. Not part of the value (equality and hashing ignore it).
    public let decodedArguments = DecodedArguments()

    /// Checks the signature; throws `.badSignature` if it fails.
    public static func verify(_ transaction: Transaction) throws(TransactionError) -> VerifiedTransaction {
        guard transaction.verifySignature() else { throw .badSignature }
        return VerifiedTransaction(transaction: transaction)
    }

    /// For transactions read back from this node's own store, whose signatures were checked before
    /// they were committed. The chain verifier re-checks everything regardless.
    public init(uncheckedFromTrustedStore transaction: Transaction) { self.transaction = transaction }

    private init(transaction: Transaction) { self.transaction = transaction }

    public var id: Hash256 { transaction.id }
    public var body: TransactionBody { transaction.body }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.transaction == rhs.transaction }
    public func hash(into hasher: inout Hasher) { hasher.combine(transaction) }
}

/// A transaction's decoded arguments, remembered once decoded. Decoding is a pure function of the
/// signed arguments, so whichever caller decodes first, every later one gets the same value; a caller
/// asking for another type (another method's arguments) decodes afresh, and a failed decoding is not
/// remembered.
public final class DecodedArguments: Sendable {
    private let value = Mutex<(any Sendable)?>(nil)

    public init() {}

    /// The remembered value of type `T`, or `decode()`'s, which is then remembered.
    public func get<T: Sendable, E: Error>(_ decode: () throws(E) -> T) throws(E) -> T {
        if let remembered = value.withLock({ $0 }) as? T { return remembered }
        let decoded = try decode()
        value.withLock { $0 = decoded }
        return decoded
    }
}
