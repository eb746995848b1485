/// What one organization's node says it reached after executing a block: the block's hash, its
/// state root and its log root at that height, signed with the organization's key. A block is
/// final once a quorum of organizations (set in genesis) attested the same values.
public struct Attestation: Sendable, Hashable {
    public let chainId: String
    public let height: UInt64
    public let blockHash: Hash256
    public let stateRoot: Hash256
    public let logRoot: Hash256
    /// The organization that attests (its identity id); its registered key signs.
    public let attester: IdentityID
    /// Ed25519 signature over `signedMessage`.
    public let signature: [UInt8]

    /// The values attested, without who attested them: two attestations agree when these are equal.
    public struct Values: Sendable, Hashable, CustomStringConvertible {
        public let blockHash: Hash256
        public let stateRoot: Hash256
        public let logRoot: Hash256

        public init(blockHash: Hash256, stateRoot: Hash256, logRoot: Hash256) {
            (self.blockHash, self.stateRoot, self.logRoot) = (blockHash, stateRoot, logRoot)
        }

        /// The values of a block header.
        public init(_ header: BlockHeader) { self.init(blockHash: header.hash, stateRoot: header.stateRoot, logRoot: header.logRoot) }

        public var description: String { "block \(blockHash.hex), state root \(stateRoot.hex), log root \(logRoot.hex)" }
    }

    public var values: Values { Values(blockHash: blockHash, stateRoot: stateRoot, logRoot: logRoot) }

    /// Format version written first.
    public static let formatVersion: UInt8 = 1
    /// Domain tag of the signature.
    public static let signatureDomain = "careledger/attestation/v1"
    /// Length of the encoding's longest form (a 128-byte chain id): receivers refuse anything longer.
    public static let encodedBytesMax = 512

    /// Signs the values of `header` as `attester`, whose keys are `keys`.
    public static func sign(_ header: BlockHeader, attester keys: IdentityKeys) -> Attestation {
        let unsigned = Attestation(chainId: header.chainId, height: header.height, values: Values(header),
                                   attester: keys.derivedID, signature: [])
        return Attestation(chainId: header.chainId, height: header.height, values: Values(header), attester: keys.derivedID,
                           signature: keys.sign(unsigned.signedMessage))
    }

    public init(chainId: String, height: UInt64, values: Values, attester: IdentityID, signature: [UInt8]) {
        (self.chainId, self.height, self.blockHash, self.stateRoot, self.logRoot, self.attester, self.signature) =
            (chainId, height, values.blockHash, values.stateRoot, values.logRoot, attester, signature)
    }

    /// The canonical bytes of everything but the signature.
    private var body: [UInt8] {
        SignedRecord.body(version: Self.formatVersion, chainId: chainId, height: height, attester: attester) { writer in
            for hash in [blockHash, stateRoot, logRoot] { writer.write(hash: hash) }
        }
    }

    /// The message the attester signs.
    public var signedMessage: [UInt8] { Array(Self.signatureDomain.utf8) + body }

    /// Whether `key` (the attester's registered signing key) made the signature.
    public func isSigned(by key: SigningPublicKey) -> Bool {
        key.isValidSignature(signature, for: signedMessage)
    }

    /// Canonical bytes: the body, then the signature.
    public var encoded: [UInt8] { SignedRecord.encode(body: body, signature: signature) }

    /// Decodes canonical attestation bytes.
    public init(decoding bytes: [UInt8]) throws(CanonicalError) {
        let (body, signature) = try SignedRecord.decode(bytes, max: Self.encodedBytesMax)
        var reader = CanonicalReader(body)
        guard try reader.readVersionByte() == Self.formatVersion else { throw .unexpected(offset: 0, expected: "attestation version 1") }
        let chainId = try reader.readString()
        let height = try reader.readUInt()
        let values = Values(blockHash: try reader.readHash(), stateRoot: try reader.readHash(), logRoot: try reader.readHash())
        let attester = try reader.readHash()
        try reader.finish()
        self.init(chainId: chainId, height: height, values: values, attester: attester, signature: signature)
    }
}

/// The outer form of a signed record (an attestation, a checkpoint statement): its canonical body
/// as a byte string, then its 64-byte Ed25519 signature.
enum SignedRecord {
    /// A body: the version byte, the chain id and height, the record's own `fields`, then the attester.
    static func body(version: UInt8, chainId: String, height: UInt64, attester: IdentityID, _ fields: (inout CanonicalWriter) -> Void) -> [UInt8] {
        var writer = CanonicalWriter(capacity: 200)
        writer.write(versionByte: version)
        writer.write(string: chainId)
        writer.write(uint: height)
        fields(&writer)
        writer.write(hash: attester)
        return writer.bytes
    }

    static func encode(body: [UInt8], signature: [UInt8]) -> [UInt8] {
        var writer = CanonicalWriter(capacity: body.count + 80)
        writer.write(bytes: body)
        writer.write(bytes: signature)
        return writer.bytes
    }

    /// The body and signature of at most `max` bytes.
    static func decode(_ bytes: [UInt8], max: Int) throws(CanonicalError) -> (body: [UInt8], signature: [UInt8]) {
        guard bytes.count <= max else { throw .lengthTooLarge(offset: 0, length: UInt64(bytes.count), max: max) }
        var outer = CanonicalReader(bytes)
        let body = try outer.readBytes()
        let signature = try outer.readBytes()
        try outer.finish()
        guard signature.count == 64 else { throw .unexpected(offset: 0, expected: "a 64-byte Ed25519 signature") }
        return (body, signature)
    }
}
