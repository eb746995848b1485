/// The private part of a transaction: the method's real arguments and a fresh salt. It travels
/// only to the nodes of the organizations the transaction names; the shared chain carries its
/// commitment (see `PrivateEnvelope`). The salt stops a guessed low-entropy payload (one
/// diagnosis code) from being checked against the commitment.
public struct PrivatePayload: Sendable, Hashable {
    /// 32 random bytes chosen by the client.
    public let salt: [UInt8]
    /// The method's arguments, as a clear transaction would carry them.
    public let args: CanonicalValue
    /// The exact canonical bytes.
    public let encoded: [UInt8]

    /// Format version written first.
    public static let formatVersion: UInt8 = 1
    /// Domain tag of the commitment.
    public static let commitmentDomain = "careledger/private/v1"
    /// Length of the salt.
    public static let saltBytes = 32
    /// Largest encoding: the transaction limit, since the payload is a transaction's arguments.
    public static let encodedBytesMax = Limits.transactionBytesMax

    public init(args: CanonicalValue, salt: [UInt8]) {
        precondition(salt.count == Self.saltBytes, "a private payload's salt is 32 bytes")
        var writer = CanonicalWriter(capacity: 128)
        writer.write(versionByte: Self.formatVersion)
        writer.write(bytes: salt)
        writer.write(args)
        (self.salt, self.args, self.encoded) = (salt, args, writer.bytes)
    }

    /// Parses canonical bytes; rejects oversize, malformed, non-canonical and trailing input.
    public init(decoding bytes: [UInt8]) throws(PrivateDataError) {
        guard bytes.count <= Self.encodedBytesMax else { throw .tooLarge(bytes: bytes.count, max: Self.encodedBytesMax) }
        var reader = CanonicalReader(bytes)
        do {
            guard try reader.readVersionByte() == Self.formatVersion else { throw PrivateDataError.unsupportedVersion }
            let salt = try reader.readBytes(count: Self.saltBytes)
            let args = try reader.readValue()
            try reader.finish()
            (self.salt, self.args, self.encoded) = (salt, args, bytes)
        } catch let error as PrivateDataError {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// SHA-256("careledger/private/v1" ‖ encoded): what the shared chain carries.
    public var commitment: Hash256 { Hash256.sha256(domain: Self.commitmentDomain, encoded) }
}

/// The shared arguments of a private call: the payload's commitment and the organizations entitled
/// to the payload. Every node executes this part (the sender's organization is one of them; each is
/// an active organization); only the named organizations' nodes execute the payload.
public struct PrivateEnvelope: Sendable, Hashable {
    public let commitment: Hash256
    /// Sorted by id bytes, no repeats, 1…`organizationsMax`.
    public let organizations: [IdentityID]

    /// Most organizations one payload may go to.
    public static let organizationsMax = 16
    /// Domain tag of a collection id.
    public static let collectionDomain = "careledger/collection/v1"
    /// Prefix of every state key a private call writes: "private/<collection hex>/<key>". No
    /// contract writes under it in the clear, and it is outside the shared state root.
    public static let keyPrefix = "private/"

    /// Nil unless `organizations` has 1…16 ids (repeats are dropped; order does not matter).
    public init?(commitment: Hash256, organizations: some Sequence<IdentityID>) {
        let sorted = Set(organizations).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        guard (1...Self.organizationsMax).contains(sorted.count) else { return nil }
        (self.commitment, self.organizations) = (commitment, sorted)
    }

    /// Recognizes the exact shape {"for": [id…], "private": hash}; anything else is not an envelope.
    public init?(args: CanonicalValue) {
        guard let map = args.mapValue, map.count == 2, let hash = map["private"]?.bytesValue.flatMap(Hash256.init(bytes:)),
              let list = map["for"]?.listValue, list.count <= Self.organizationsMax else { return nil }
        var ids: [IdentityID] = []
        for item in list {
            guard let id = item.bytesValue.flatMap(Hash256.init(bytes:)) else { return nil }
            ids.append(id)
        }
        // The signed form must be the canonical one (sorted, no repeats), so one envelope has one encoding.
        guard let envelope = PrivateEnvelope(commitment: hash, organizations: ids),
              envelope.organizations == ids else { return nil }
        self = envelope
    }

    /// The transaction arguments.
    public var args: CanonicalValue {
        .map(["private": .bytes(commitment.bytes), "for": .list(organizations.map { .bytes($0.bytes) })])
    }

    /// The collection: the same set of organizations always names the same one.
    public var collection: Hash256 {
        Hash256.sha256(domain: Self.collectionDomain, organizations.flatMap(\.bytes))
    }

    /// The state-key namespace of this collection.
    public var keyNamespace: String { Self.keyPrefix + collection.hex + "/" }

    /// Length of a namespace: "private/" + 64 hex digits + "/".
    public static let keyNamespaceLength = keyPrefix.count + 65

    /// The namespace a private state key is under; nil for a shared key.
    public static func namespace(ofKey key: String) -> String? {
        guard key.hasPrefix(keyPrefix) else { return nil }
        let namespace = String(key.prefix(keyNamespaceLength))
        return namespace.count == keyNamespaceLength && namespace.hasSuffix("/") ? namespace : nil
    }

    /// Payload bytes decoded and checked against this envelope's commitment.
    public func open(_ bytes: [UInt8]) throws(PrivateDataError) -> PrivatePayload {
        let payload = try PrivatePayload(decoding: bytes)
        guard payload.commitment == commitment else { throw .commitmentMismatch }
        return payload
    }
}

/// Why a private payload was refused.
public enum PrivateDataError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLarge(bytes: Int, max: Int)
    case unsupportedVersion
    case malformed(String)
    case commitmentMismatch

    public var description: String {
        switch self {
        case .tooLarge(let n, let max): "private payload is \(n) bytes; the limit is \(max)"
        case .unsupportedVersion: "unsupported private payload format version"
        case .malformed(let why): "malformed private payload: \(why)"
        case .commitmentMismatch: "the private payload does not match the commitment its transaction carries"
        }
    }
}

/// A node's signed request to another organization's node (a private payload, blocks to catch up
/// with): the requesting organization signs (chain, resource, itself, time) with its registered key,
/// so the answering node knows which organization asks before it answers anything.
public struct PeerRequest: Sendable, Hashable {
    public let chainId: String
    /// What is asked for: `privatePayload(id)` or `blocks(from:)`.
    public let resource: String
    public let organization: IdentityID
    public let timeMs: Int64
    public let signature: [UInt8]

    /// Domain tag of the signature.
    public static let signatureDomain = "careledger/peer-request/v1"
    /// Most a request's time may differ from the answering node's clock.
    public static let clockSkewMsMax: Int64 = 60_000

    /// The resource naming a transaction's private payload.
    public static func privatePayload(_ id: Hash256) -> String { "private/\(id.hex)" }
    /// The resource naming an endorsement request, by the SHA-256 of its body.
    public static func endorsement(_ body: Hash256) -> String { "endorse/\(body.hex)" }
    /// The resource naming the blocks from `height` on.
    public static func blocks(from height: UInt64) -> String { "blocks/\(height)" }
    /// The resource naming a piece of the checkpoint snapshot at `height`, from `offset`.
    public static func snapshot(height: UInt64, offset: UInt64) -> String { "snapshot/\(height)/\(offset)" }

    public init(chainId: String, resource: String, organization: IdentityID, timeMs: Int64, signature: [UInt8]) {
        (self.chainId, self.resource, self.organization, self.timeMs, self.signature) = (chainId, resource, organization, timeMs, signature)
    }

    /// A request signed by `organization`'s keys.
    public static func sign(chainId: String, resource: String, organization keys: IdentityKeys, timeMs: Int64) -> PeerRequest {
        let unsigned = PeerRequest(chainId: chainId, resource: resource, organization: keys.derivedID, timeMs: timeMs, signature: [])
        return PeerRequest(chainId: chainId, resource: resource, organization: keys.derivedID, timeMs: timeMs,
                           signature: keys.sign(unsigned.signedMessage))
    }

    /// The message the organization signs.
    public var signedMessage: [UInt8] {
        var writer = CanonicalWriter(capacity: 160)
        writer.write(string: Self.signatureDomain)
        writer.write(string: chainId)
        writer.write(string: resource)
        writer.write(hash: organization)
        writer.write(int: timeMs)
        return writer.bytes
    }

    /// Whether `key` made the signature.
    public func isSigned(by key: SigningPublicKey) -> Bool { key.isValidSignature(signature, for: signedMessage) }
}
