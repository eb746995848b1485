/// What a simulation of a private call found, which the collection's organizations sign: the
/// state it read (each key with the digest of what it read), the shared writes every node
/// applies, and the private writes only the collection's nodes hold (on the chain, the hashes of
/// their keys and one digest over them).
///
/// A read's name is a shared state key, or `#` and the hex SHA-256 of a private key (the
/// collection's namespace included). Its digest is, for a shared key, SHA-256 of the value read;
/// for a private key, the id of the transaction that last wrote it (shared state keeps that for
/// every node: `EndorsedCall.versionKey`). Nil: the key was absent.
public struct Proposal: Sendable, Hashable {
    public struct Read: Sendable, Hashable {
        public let name: String
        public let digest: Hash256?
        public init(name: String, digest: Hash256?) { (self.name, self.digest) = (name, digest) }
    }

    public struct Write: Sendable, Hashable {
        public let key: String
        /// Nil: deleted.
        public let value: [UInt8]?
        public init(key: String, value: [UInt8]?) { (self.key, self.value) = (key, value) }
    }

    /// The height the call was simulated for (the simulating node's head + 1); it executes as of it.
    public let height: UInt64
    /// The ledger time it was simulated for.
    public let timeMs: Int64
    /// Sorted by name, no repeats.
    public let reads: [Read]
    /// Sorted by key, no repeats.
    public let writes: [Write]
    /// SHA-256 of each private key written (namespace included), sorted, no repeats.
    public let privateKeys: [Hash256]
    /// SHA-256 over the private writes, keys and values, in key order.
    public let privateDigest: Hash256

    /// Most reads or writes of one proposal.
    public static let entriesMax = 4_096
    /// Prefix of a read's name for a private key.
    public static let privateReadPrefix = "#"

    public init(height: UInt64, timeMs: Int64, reads: [Read], writes: [Write], privateKeys: [Hash256], privateDigest: Hash256) {
        self.height = height
        self.timeMs = timeMs
        self.reads = reads.sorted { String.utf8Order($0.name, $1.name) < 0 }
        self.writes = writes.sorted { String.utf8Order($0.key, $1.key) < 0 }
        self.privateKeys = privateKeys.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        self.privateDigest = privateDigest
    }

    /// SHA-256 over private writes given as (full key, value or nil), in key order.
    public static func digest(ofPrivateWrites writes: [(key: String, value: [UInt8]?)]) -> Hash256 {
        let sorted = writes.sorted { String.utf8Order($0.key, $1.key) < 0 }
        let value = CanonicalValue.list(sorted.map { .list([.string($0.key), $0.value.map(CanonicalValue.bytes) ?? .null]) })
        return Hash256.sha256(domain: "careledger/private-writes/v1", value.encoded)
    }

    public var canonical: CanonicalValue {
        .map([
            "at": .int(Int64(bitPattern: height)),
            "time": .int(timeMs),
            "reads": .list(reads.map { .list([.string($0.name), $0.digest.map { .bytes($0.bytes) } ?? .null]) }),
            "writes": .list(writes.map { .list([.string($0.key), $0.value.map(CanonicalValue.bytes) ?? .null]) }),
            "privateKeys": .list(privateKeys.map { .bytes($0.bytes) }),
            "privateDigest": .bytes(privateDigest.bytes),
        ])
    }

    public init?(canonical value: CanonicalValue) {
        guard let map = value.mapValue, map.count == 6, let at = map["at"]?.intValue, at >= 0, let time = map["time"]?.intValue,
              let readList = map["reads"]?.listValue, readList.count <= Self.entriesMax,
              let writeList = map["writes"]?.listValue, writeList.count <= Self.entriesMax,
              let keyList = map["privateKeys"]?.listValue, keyList.count <= Self.entriesMax,
              let digest = map["privateDigest"]?.bytesValue.flatMap(Hash256.init(bytes:)) else { return nil }
        var reads: [Read] = [], writes: [Write] = [], keys: [Hash256] = []
        for item in readList {
            guard let pair = item.listValue, pair.count == 2, let name = pair[0].stringValue else { return nil }
            if pair[1] == .null { reads.append(Read(name: name, digest: nil)); continue }
            guard let digest = pair[1].bytesValue.flatMap(Hash256.init(bytes:)) else { return nil }
            reads.append(Read(name: name, digest: digest))
        }
        for item in writeList {
            guard let pair = item.listValue, pair.count == 2, let key = pair[0].stringValue else { return nil }
            if pair[1] == .null { writes.append(Write(key: key, value: nil)); continue }
            guard let bytes = pair[1].bytesValue else { return nil }
            writes.append(Write(key: key, value: bytes))
        }
        for item in keyList {
            guard let key = item.bytesValue.flatMap(Hash256.init(bytes:)) else { return nil }
            keys.append(key)
        }
        let proposal = Proposal(height: UInt64(at), timeMs: time, reads: reads, writes: writes, privateKeys: keys, privateDigest: digest)
        // One proposal, one encoding: sorted and without repeats, as signed.
        guard proposal.reads == reads, proposal.writes == writes, proposal.privateKeys == keys,
              Set(reads.map(\.name)).count == reads.count, Set(writes.map(\.key)).count == writes.count,
              Set(keys).count == keys.count else { return nil }
        self = proposal
    }
}

/// The arguments of an endorsed private call: the private envelope (payload commitment and the
/// organizations entitled to it), the proposal its simulation produced, and every named
/// organization's signature over both. Every node checks the signatures and that nothing the
/// simulation read has changed, then applies the shared writes; the collection's nodes also
/// re-execute the payload for the private writes.
public struct EndorsedCall: Sendable, Hashable {
    public let envelope: PrivateEnvelope
    public let proposal: Proposal
    /// (organization, Ed25519 signature over `message`), sorted by organization.
    public let signatures: [Signature]

    public struct Signature: Sendable, Hashable {
        public let organization: IdentityID
        public let bytes: [UInt8]
        public init(organization: IdentityID, bytes: [UInt8]) { (self.organization, self.bytes) = (organization, bytes) }
    }

    /// Domain of the message organizations sign.
    public static let signatureDomain = "careledger/endorsement/v1"
    /// Domain of an endorsed call's id.
    public static let idDomain = "careledger/endorsed-call/v1"
    /// Longest time between the simulation and the block that executes it.
    public static let lifetimeMs: Int64 = 60_000
    /// Shared-state prefix of the last writer of each private key an endorsed call wrote.
    public static let versionPrefix = "system/private-version/"

    public static func versionKey(_ privateKey: Hash256) -> String { versionPrefix + privateKey.hex }

    /// Whether `timeMs` is within `lifetimeMs` of `referenceMs`, either way (never overflows).
    public static func isWithinLifetime(_ timeMs: Int64, of referenceMs: Int64) -> Bool {
        let (difference, overflow) = timeMs.subtractingReportingOverflow(referenceMs)
        return !overflow && difference >= -lifetimeMs && difference <= lifetimeMs
    }

    public init(envelope: PrivateEnvelope, proposal: Proposal, signatures: [Signature]) {
        self.envelope = envelope
        self.proposal = proposal
        self.signatures = signatures.sorted { $0.organization.bytes.lexicographicallyPrecedes($1.organization.bytes) }
    }

    /// Recognizes {"for", "private", "endorsed": {proposal, "by": [[org, signature]…]}}.
    public init?(args: CanonicalValue) {
        guard let map = args.mapValue, map.count == 3, let endorsed = map["endorsed"]?.mapValue, endorsed.count == 7,
              let envelope = PrivateEnvelope(args: .map(["for": map["for"] ?? .null, "private": map["private"] ?? .null])),
              let by = endorsed["by"]?.listValue, by.count <= PrivateEnvelope.organizationsMax else { return nil }
        var proposalMap = endorsed
        proposalMap["by"] = nil
        guard let proposal = Proposal(canonical: .map(proposalMap)) else { return nil }
        var signatures: [Signature] = []
        for item in by {
            guard let pair = item.listValue, pair.count == 2, let id = pair[0].bytesValue.flatMap(Hash256.init(bytes:)),
                  let bytes = pair[1].bytesValue, bytes.count == 64 else { return nil }
            signatures.append(Signature(organization: id, bytes: bytes))
        }
        let call = EndorsedCall(envelope: envelope, proposal: proposal, signatures: signatures)
        guard call.signatures == signatures, Set(signatures.map(\.organization)).count == signatures.count else { return nil }
        self = call
    }

    /// The transaction arguments.
    public var args: CanonicalValue {
        guard case .map(var endorsed) = proposal.canonical else { preconditionFailure("a proposal encodes as a map") }
        endorsed["by"] = .list(signatures.map { .list([.bytes($0.organization.bytes), .bytes($0.bytes)]) })
        return .map(["for": .list(envelope.organizations.map { .bytes($0.bytes) }), "private": .bytes(envelope.commitment.bytes),
                     "endorsed": .map(endorsed)])
    }

    /// The id the call's contract sees (a new prescription's id): fixed before the transaction
    /// is signed, since the transaction carries the endorsement of a simulation that used it.
    public static func callID(chainId: String, sender: IdentityID, sequence: UInt64, envelope: PrivateEnvelope) -> Hash256 {
        let value = CanonicalValue.list([.string(chainId), .bytes(sender.bytes), .int(Int64(bitPattern: sequence)),
                                         .bytes(envelope.commitment.bytes)])
        return Hash256.sha256(domain: idDomain, value.encoded)
    }

    /// What each organization signs: the call (chain, sender, sequence, contract, method), the
    /// envelope and the proposal.
    public static func message(chainId: String, sender: IdentityID, sequence: UInt64, contract: String, method: String,
                               envelope: PrivateEnvelope, proposal: Proposal) -> [UInt8] {
        let value = CanonicalValue.list([.string(chainId), .bytes(sender.bytes), .int(Int64(bitPattern: sequence)), .string(contract),
                                         .string(method), envelope.args, proposal.canonical])
        return Hash256.sha256(domain: signatureDomain, value.encoded).bytes
    }
}
