/// One organization's signed word on a checkpoint: its node's snapshot of the shared ledger at
/// `height` (the block with `blockHash`) is `snapshotBytes` long and hashes to `snapshotDigest`.
/// A new node takes a snapshot only when a quorum of organizations signed the same statement.
public struct CheckpointStatement: Sendable, Hashable {
    public let chainId: String
    public let height: UInt64
    public let blockHash: Hash256
    /// SHA-256 of the snapshot's bytes (`SnapshotFrame` stream).
    public let snapshotDigest: Hash256
    public let snapshotBytes: UInt64
    /// The organization that signs (its identity id); its registered key signs.
    public let attester: IdentityID
    /// Ed25519 signature over `signedMessage`.
    public let signature: [UInt8]

    /// What two statements agree on when they are equal.
    public struct Claim: Sendable, Hashable {
        public let height: UInt64
        public let blockHash: Hash256
        public let snapshotDigest: Hash256
        public let snapshotBytes: UInt64

        public init(height: UInt64, blockHash: Hash256, snapshotDigest: Hash256, snapshotBytes: UInt64) {
            (self.height, self.blockHash, self.snapshotDigest, self.snapshotBytes) = (height, blockHash, snapshotDigest, snapshotBytes)
        }
    }

    public var claim: Claim { Claim(height: height, blockHash: blockHash, snapshotDigest: snapshotDigest, snapshotBytes: snapshotBytes) }

    public static let formatVersion: UInt8 = 1
    public static let signatureDomain = "careledger/checkpoint/v1"
    /// Length of the longest encoding: receivers refuse anything longer.
    public static let encodedBytesMax = 512

    public init(chainId: String, height: UInt64, blockHash: Hash256, snapshotDigest: Hash256, snapshotBytes: UInt64,
                attester: IdentityID, signature: [UInt8]) {
        (self.chainId, self.height, self.blockHash, self.snapshotDigest, self.snapshotBytes, self.attester, self.signature) =
            (chainId, height, blockHash, snapshotDigest, snapshotBytes, attester, signature)
    }

    /// Signs a snapshot of the block `header` as the organization whose keys are `keys`.
    public static func sign(_ header: BlockHeader, digest: Hash256, bytes: UInt64, attester keys: IdentityKeys) -> CheckpointStatement {
        let unsigned = CheckpointStatement(chainId: header.chainId, height: header.height, blockHash: header.hash, snapshotDigest: digest,
                                           snapshotBytes: bytes, attester: keys.derivedID, signature: [])
        return CheckpointStatement(chainId: header.chainId, height: header.height, blockHash: header.hash, snapshotDigest: digest,
                                   snapshotBytes: bytes, attester: keys.derivedID, signature: keys.sign(unsigned.signedMessage))
    }

    private var body: [UInt8] {
        SignedRecord.body(version: Self.formatVersion, chainId: chainId, height: height, attester: attester) { writer in
            writer.write(hash: blockHash)
            writer.write(hash: snapshotDigest)
            writer.write(uint: snapshotBytes)
        }
    }

    /// The message the attester signs.
    public var signedMessage: [UInt8] { Array(Self.signatureDomain.utf8) + body }

    /// Whether `key` (the attester's registered signing key) made the signature.
    public func isSigned(by key: SigningPublicKey) -> Bool { key.isValidSignature(signature, for: signedMessage) }

    /// Canonical bytes: the body, then the signature.
    public var encoded: [UInt8] { SignedRecord.encode(body: body, signature: signature) }

    public init(decoding bytes: [UInt8]) throws(CanonicalError) {
        let (body, signature) = try SignedRecord.decode(bytes, max: Self.encodedBytesMax)
        var reader = CanonicalReader(body)
        guard try reader.readVersionByte() == Self.formatVersion else { throw .unexpected(offset: 0, expected: "checkpoint statement version 1") }
        self.init(chainId: try reader.readString(), height: try reader.readUInt(), blockHash: try reader.readHash(),
                  snapshotDigest: try reader.readHash(), snapshotBytes: try reader.readUInt(), attester: try reader.readHash(), signature: signature)
        try reader.finish()
    }

    /// The claims a quorum of distinct organizations signed, highest height first. `organizationKey`
    /// answers an organization's registered key (nil: not an active organization); a statement it
    /// does not verify, or for another chain, does not count. An organization that signed two
    /// different claims at one height (it equivocated) counts for neither.
    public static func certified(_ statements: [CheckpointStatement], chainId: String, quorum: Int,
                                 organizationKey: (IdentityID) -> SigningPublicKey?) -> [(claim: Claim, attesters: [IdentityID])] {
        struct Slot: Hashable { let height: UInt64; let attester: IdentityID }
        var claims: [Slot: Set<Claim>] = [:]
        for statement in statements where statement.chainId == chainId {
            let slot = Slot(height: statement.height, attester: statement.attester)
            guard claims[slot]?.contains(statement.claim) != true, let key = organizationKey(statement.attester), statement.isSigned(by: key) else { continue }
            claims[slot, default: []].insert(statement.claim)
        }
        var signers: [Claim: [IdentityID]] = [:]
        for (slot, signed) in claims where signed.count == 1 { signers[signed.first!, default: []].append(slot.attester) }
        return signers.filter { $0.value.count >= quorum }
            .map { (claim: $0.key, attesters: $0.value.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }) }
            .sorted { $0.claim.height > $1.claim.height }
    }
}

/// A snapshot of a node's shared ledger at a checkpoint height, as a stream of frames: everything
/// a new node needs to continue from that height without replaying the blocks before it — the
/// checkpoint block, the shared state (no private collection's keys), and every earlier
/// transaction's index entry (id, leaf hash, height, result), from which the log is rebuilt. The
/// bytes are the same on every node that executed the same chain, so organizations can sign
/// their digest (`CheckpointStatement`).
///
/// Each frame is a 4-byte big-endian length, then canonical bytes that start with a kind byte:
/// 1 head, 2 state entries (keys in increasing byte order), 3 transaction entries (in log order),
/// 4 end (the counts). Frames come in that order; state and transaction entries are cut into
/// frames of about `frameBytesTarget`.
public enum SnapshotFrame: Sendable, Equatable {
    case head(chainId: String, block: RawBlock)
    case state([SnapshotStateEntry])
    case transactions([SnapshotTransactionEntry])
    case end(stateEntries: UInt64, transactions: UInt64)

    /// The frame size a writer aims at.
    public static let frameBytesTarget = 1 << 20
    /// Largest frame a reader accepts (a checkpoint block's transactions are in one frame).
    public static let frameBytesMax = 64 << 20
    /// Limits of a frame's canonical values: a state value may exceed a transaction's size.
    public static let limits = CanonicalLimits(lengthBytesMax: frameBytesMax, countMax: 1 << 20, depthMax: 4)
    static let magic = "careledger/snapshot/v1"

    /// The frame with its length prefix.
    public var framed: [UInt8] {
        var writer = CanonicalWriter(capacity: 256)
        switch self {
        case .head(let chainId, let block):
            writer.write(versionByte: 1)
            writer.write(string: Self.magic)
            writer.write(string: chainId)
            writer.write(bytes: block.headerBytes)
            writer.write(bytes: block.signature)
            writer.write(uint: UInt64(block.transactionBytes.count))
            for (tx, result) in zip(block.transactionBytes, block.resultBytes) {
                writer.write(bytes: tx)
                writer.write(bytes: result)
            }
        case .state(let entries):
            writer.write(versionByte: 2)
            writer.write(uint: UInt64(entries.count))
            for entry in entries {
                writer.write(string: entry.key)
                writer.write(bytes: entry.value)
                writer.write(uint: entry.height)
            }
        case .transactions(let entries):
            writer.write(versionByte: 3)
            writer.write(uint: UInt64(entries.count))
            for entry in entries {
                writer.write(hash: entry.id)
                writer.write(hash: entry.leafHash)
                writer.write(uint: entry.height)
                writer.write(bytes: entry.result)
            }
        case .end(let stateEntries, let transactions):
            writer.write(versionByte: 4)
            writer.write(uint: stateEntries)
            writer.write(uint: transactions)
        }
        let count = UInt32(writer.bytes.count)
        return [UInt8(count >> 24), UInt8(truncatingIfNeeded: count >> 16), UInt8(truncatingIfNeeded: count >> 8), UInt8(truncatingIfNeeded: count)]
            + writer.bytes
    }

    /// The length a frame's 4-byte prefix gives, refused past `frameBytesMax`.
    public static func length(prefix: [UInt8]) throws(SnapshotError) -> Int {
        guard prefix.count == 4 else { throw .malformed("a frame's length is cut short") }
        let length = prefix.reduce(0) { $0 << 8 | Int($1) }
        guard (1...frameBytesMax).contains(length) else { throw .malformed("a frame of \(length) bytes (at most \(frameBytesMax))") }
        return length
    }

    /// Decodes one frame's bytes (without its length prefix).
    public init(decoding bytes: [UInt8]) throws(SnapshotError) {
        do {
            var reader = CanonicalReader(bytes, limits: Self.limits)
            let count: () throws(CanonicalError) -> Int = { () throws(CanonicalError) -> Int in
                let value = try reader.readUInt()
                guard value <= UInt64(bytes.count) else { throw .unexpected(offset: reader.offset, expected: "an entry count the frame can hold") }
                return Int(value)
            }
            switch try reader.readVersionByte() {
            case 1:
                guard try reader.readString() == Self.magic else { throw SnapshotError.malformed("not a CareLedger snapshot (version 1)") }
                let chainId = try reader.readString()
                let header = try reader.readBytes(), signature = try reader.readBytes()
                var txs: [[UInt8]] = [], results: [[UInt8]] = []
                for _ in 0..<(try count()) {
                    txs.append(try reader.readBytes())
                    results.append(try reader.readBytes())
                }
                self = .head(chainId: chainId, block: RawBlock(headerBytes: header, signature: signature, transactionBytes: txs, resultBytes: results))
            case 2:
                var entries: [SnapshotStateEntry] = []
                for _ in 0..<(try count()) {
                    entries.append(SnapshotStateEntry(key: try reader.readString(), value: try reader.readBytes(), height: try reader.readUInt()))
                }
                self = .state(entries)
            case 3:
                var entries: [SnapshotTransactionEntry] = []
                for _ in 0..<(try count()) {
                    entries.append(SnapshotTransactionEntry(id: try reader.readHash(), leafHash: try reader.readHash(), height: try reader.readUInt(),
                                                            result: try reader.readBytes()))
                }
                self = .transactions(entries)
            case 4:
                self = .end(stateEntries: try reader.readUInt(), transactions: try reader.readUInt())
            case let kind:
                throw SnapshotError.malformed("unknown frame kind \(kind)")
            }
            try reader.finish()
        } catch let error as SnapshotError {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
    }
}

public struct SnapshotStateEntry: Sendable, Equatable {
    public let key: String
    public let value: [UInt8]
    /// The height that last wrote the key.
    public let height: UInt64
    public init(key: String, value: [UInt8], height: UInt64) { (self.key, self.value, self.height) = (key, value, height) }
}

public struct SnapshotTransactionEntry: Sendable, Equatable {
    public let id: Hash256
    public let leafHash: Hash256
    public let height: UInt64
    /// The transaction's canonical result (shared part).
    public let result: [UInt8]
    public init(id: Hash256, leafHash: Hash256, height: UInt64, result: [UInt8]) {
        (self.id, self.leafHash, self.height, self.result) = (id, leafHash, height, result)
    }
}

/// Why a snapshot was refused.
public enum SnapshotError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case mismatch(String)

    public var description: String {
        switch self {
        case .malformed(let why): "the snapshot is malformed: \(why)"
        case .mismatch(let why): "the snapshot does not match its checkpoint: \(why)"
        }
    }
}

/// Checks a snapshot's frames as they come, against the certified checkpoint: the head block is
/// the certified one and holds the transactions and results its header commits to, state keys
/// increase and name no private collection, the transaction entries rebuild the header's log
/// (size and root) and end with the block's own transactions, and the end frame's counts match.
/// Pure: the installer feeds it every frame before writing anything it checked.
public struct SnapshotChecker: Sendable {
    public let chainId: String
    public let claim: CheckpointStatement.Claim
    public private(set) var header: BlockHeader?
    public private(set) var log = MerkleFrontier()
    public private(set) var stateEntries: UInt64 = 0
    public private(set) var finished = false
    private var lastKey: String?
    private var blockIDs: [Hash256] = []

    public init(chainId: String, claim: CheckpointStatement.Claim) { (self.chainId, self.claim) = (chainId, claim) }

    /// Refuses a transaction entry unless the installing store's genesis block and the snapshot's
    /// agree: the first entries are exactly its genesis transactions, in order, and no later one is at height 0.
    public static func checkGenesis(_ entry: SnapshotTransactionEntry, at logIndex: Int, genesis: [Hash256]) throws(SnapshotError) {
        let agrees = logIndex < genesis.count ? entry.id == genesis[logIndex] && entry.height == 0 : entry.height > 0
        guard agrees else { throw .mismatch("its genesis transactions are not this store's genesis block's") }
    }

    /// Checks the next frame; answers the log nodes the transaction entries completed.
    @discardableResult
    public mutating func check(_ frame: SnapshotFrame) throws(SnapshotError) -> [MerkleFrontier.Node] {
        guard !finished else { throw .malformed("frames after the end") }
        switch frame {
        case .head(let chainId, let raw):
            guard header == nil else { throw .malformed("a second head") }
            guard chainId == self.chainId else { throw .mismatch("it is of chain \(chainId)") }
            let header: BlockHeader
            do { header = try BlockHeader(decoding: raw.headerBytes) } catch { throw .malformed("its block header: \(error)") }
            guard header.chainId == chainId, header.height == claim.height, header.hash == claim.blockHash else {
                throw .mismatch("its block is \(header.height) \(header.hash.hex), the checkpoint is \(claim.height) \(claim.blockHash.hex)")
            }
            guard header.ordererKey.isValidSignature(raw.signature, for: header.signedMessage) else { throw .mismatch("its block's seal does not verify") }
            guard raw.transactionBytes.count == Int(header.transactionCount), raw.resultBytes.count == raw.transactionBytes.count else {
                throw .mismatch("its block holds \(raw.transactionBytes.count) transactions, its header says \(header.transactionCount)")
            }
            var ids: [Hash256] = []
            var results: [TransactionResult] = []
            for (tx, result) in zip(raw.transactionBytes, raw.resultBytes) {
                do {
                    ids.append(try Transaction(decoding: tx).id)
                    results.append(try TransactionResult(decoding: result))
                } catch { throw .malformed("a transaction of its block: \(error)") }
            }
            guard Block.transactionsRoot(ids) == header.transactionsRoot, TransactionResult.root(results, transactionIDs: ids) == header.resultsRoot else {
                throw .mismatch("its block's transactions or results do not hash to its header's roots")
            }
            (self.header, blockIDs) = (header, ids)
            return []
        case .state(let entries):
            guard header != nil, log.size == 0 else { throw .malformed("state entries out of place") }
            for entry in entries {
                if let lastKey, String.utf8Order(lastKey, entry.key) >= 0 { throw .malformed("state key \(entry.key) is not after \(lastKey)") }
                guard !entry.key.hasPrefix(PrivateEnvelope.keyPrefix) else { throw .malformed("it holds a private collection's key") }
                guard entry.height <= claim.height else { throw .malformed("state key \(entry.key) was written after the checkpoint") }
                lastKey = entry.key
            }
            stateEntries += UInt64(entries.count)
            return []
        case .transactions(let entries):
            guard let header else { throw .malformed("transaction entries before the head") }
            var nodes: [MerkleFrontier.Node] = []
            for entry in entries {
                guard log.size < header.logSize else { throw .mismatch("more transactions than the header's log size \(header.logSize)") }
                let first = header.logSize - UInt64(blockIDs.count)
                if log.size >= first {
                    guard entry.id == blockIDs[Int(log.size - first)], entry.height == header.height else {
                        throw .mismatch("log index \(log.size) is not the checkpoint block's transaction")
                    }
                } else if entry.height >= header.height {
                    throw .mismatch("log index \(log.size) has height \(entry.height), before the checkpoint block")
                }
                nodes += log.append(leafHash: entry.leafHash)
            }
            return nodes
        case .end(let stateCount, let transactions):
            guard let header else { throw .malformed("the end before the head") }
            guard stateCount == stateEntries, transactions == log.size else { throw .malformed("the end's counts do not match the entries") }
            guard log.size == header.logSize, log.root == header.logRoot else {
                throw .mismatch("its transactions give log size \(log.size) and root \(log.root.hex); the header says \(header.logSize), \(header.logRoot.hex)")
            }
            finished = true
            return []
        }
    }
}
