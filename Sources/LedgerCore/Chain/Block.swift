/// A block header: everything a block commits to, signed by the node that ordered it.
public struct BlockHeader: Sendable, Hashable {
    /// Chain the block belongs to.
    public var chainId: String
    /// 0 for genesis, then +1 per block.
    public var height: UInt64
    /// Hash of the previous block (zero for genesis).
    public var previousHash: Hash256
    /// Orderer time in milliseconds since the Unix epoch; strictly increasing along the chain.
    public var timeMs: Int64
    /// Number of transactions.
    public var transactionCount: UInt32
    /// RFC 9162 root over the block's transaction ids.
    public var transactionsRoot: Hash256
    /// Size of the transaction log after this block.
    public var logSize: UInt64
    /// Root of the transaction log after this block (the signed tree head).
    public var logRoot: Hash256
    /// RFC 9162 root over the per-transaction results.
    public var resultsRoot: Hash256
    /// State root after the block.
    public var stateRoot: Hash256
    /// Ed25519 key of the orderer that signed the block; must be an authorized orderer.
    public var ordererKey: SigningPublicKey

    public init(chainId: String, height: UInt64, previousHash: Hash256, timeMs: Int64, transactionCount: UInt32,
                transactionsRoot: Hash256, logSize: UInt64, logRoot: Hash256, resultsRoot: Hash256,
                stateRoot: Hash256, ordererKey: SigningPublicKey) {
        (self.chainId, self.height, self.previousHash, self.timeMs, self.transactionCount, self.transactionsRoot, self.logSize, self.logRoot, self.resultsRoot, self.stateRoot, self.ordererKey) =
            (chainId, height, previousHash, timeMs, transactionCount, transactionsRoot, logSize, logRoot, resultsRoot, stateRoot, ordererKey)
    }

    /// Format version written first in every header.
    public static let formatVersion: UInt8 = 1

    /// Canonical bytes of the header.
    public var encoded: [UInt8] {
        var writer = CanonicalWriter(capacity: 320)
        writer.write(versionByte: Self.formatVersion)
        writer.write(string: chainId)
        writer.write(uint: height)
        writer.write(hash: previousHash)
        writer.write(int: timeMs)
        writer.write(uint: UInt64(transactionCount))
        writer.write(hash: transactionsRoot)
        writer.write(uint: logSize)
        writer.write(hash: logRoot)
        writer.write(hash: resultsRoot)
        writer.write(hash: stateRoot)
        writer.write(bytes: ordererKey.rawValue)
        return writer.bytes
    }

    /// Decodes canonical header bytes.
    public init(decoding bytes: [UInt8]) throws(CanonicalError) {
        var reader = CanonicalReader(bytes)
        let version = try reader.readVersionByte()
        guard version == Self.formatVersion else { throw .unexpected(offset: 0, expected: "header version 1") }
        chainId = try reader.readString()
        height = try reader.readUInt()
        previousHash = try reader.readHash()
        timeMs = try reader.readInt()
        let countOffset = reader.offset
        let count = try reader.readUInt()
        guard count <= UInt64(Limits.blockTransactionsMax) else {
            throw .lengthTooLarge(offset: countOffset, length: count, max: Limits.blockTransactionsMax)
        }
        transactionCount = UInt32(count)
        transactionsRoot = try reader.readHash()
        logSize = try reader.readUInt()
        logRoot = try reader.readHash()
        resultsRoot = try reader.readHash()
        stateRoot = try reader.readHash()
        let keyOffset = reader.offset
        guard let key = SigningPublicKey(rawValue: try reader.readBytes(count: 32)) else {
            throw .unexpected(offset: keyOffset, expected: "an Ed25519 public key")
        }
        ordererKey = key
        try reader.finish()
    }

    /// Domain tag of the block hash.
    public static let hashDomain = "careledger/block/v1"
    /// Domain tag of the orderer's signature.
    public static let signatureDomain = "careledger/block-sig/v1"

    /// SHA-256("careledger/block/v1" ‖ header bytes).
    public var hash: Hash256 { Hash256.sha256(domain: Self.hashDomain, encoded) }

    /// The message the orderer signs.
    public var signedMessage: [UInt8] { Array(Self.signatureDomain.utf8) + encoded }
}

/// A block: its signed header, the ordered transactions and their results.
public struct Block: Sendable, Hashable {
    public let header: BlockHeader
    /// Orderer's Ed25519 signature over the header.
    public let signature: [UInt8]
    public let transactions: [Transaction]
    public let results: [TransactionResult]

    public init(header: BlockHeader, signature: [UInt8], transactions: [Transaction], results: [TransactionResult]) {
        (self.header, self.signature, self.transactions, self.results) = (header, signature, transactions, results)
    }

    /// Signs a header with the orderer's keys.
    public static func seal(header: BlockHeader, transactions: [Transaction], results: [TransactionResult],
                            ordererKeys: IdentityKeys) -> Block {
        precondition(header.ordererKey == ordererKeys.signingPublicKey, "orderer key mismatch")
        return Block(header: header, signature: ordererKeys.sign(header.signedMessage),
                     transactions: transactions, results: results)
    }

    /// The block hash.
    public var hash: Hash256 { header.hash }

    /// RFC 9162 root over transaction ids.
    public static func transactionsRoot(_ ids: [Hash256]) -> Hash256 {
        var frontier = MerkleFrontier()
        for id in ids { frontier.append(leafHash: MerkleHashing.leafHash(id.bytes)) }
        return frontier.root
    }
}
