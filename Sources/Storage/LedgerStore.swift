public import LedgerCore

/// Everything one block writes, applied in one database transaction.
public struct BlockCommit: Sendable {
    public let block: Block
    /// Log index of the block's first transaction.
    public let firstLogIndex: UInt64
    /// Leaf hashes of the block's transactions, in order.
    public let leafHashes: [Hash256]
    /// Interior log nodes (level ≥ 1) completed by this block.
    public let logNodes: [MerkleFrontier.Node]
    /// State writes of the block.
    public let writeSet: WriteSet
    /// Where the block's batch is in a shared ordered log (an etcd revision), kept with the block
    /// so the node resumes reading after it; nil for a single node.
    public let orderingPosition: Int64?

    public init(block: Block, firstLogIndex: UInt64, leafHashes: [Hash256], logNodes: [MerkleFrontier.Node], writeSet: WriteSet,
                orderingPosition: Int64? = nil) {
        precondition(leafHashes.count == block.transactions.count, "one leaf per transaction")
        self.block = block
        self.firstLogIndex = firstLogIndex
        self.leafHashes = leafHashes
        self.logNodes = logNodes
        self.writeSet = writeSet
        self.orderingPosition = orderingPosition
    }
}

/// Where a committed transaction sits.
public struct TransactionLocation: Sendable, Equatable {
    public let logIndex: UInt64
    public let height: UInt64
    public let result: TransactionResult

    public init(logIndex: UInt64, height: UInt64, result: TransactionResult) {
        (self.logIndex, self.height, self.result) = (logIndex, height, result)
    }
}

/// Storage errors: the store is unusable or does not match what the caller expects.
public enum StorageError: Error, Sendable, CustomStringConvertible {
    case database(String)
    case notAContiguousBlock(expected: UInt64, got: UInt64)
    case corrupt(String)
    case missing(String)

    public var description: String {
        switch self {
        case .database(let message): "database error: \(message)"
        case .notAContiguousBlock(let expected, let got): "expected block \(expected), got \(got)"
        case .corrupt(let what): "store is corrupt: \(what)"
        case .missing(let what): "not in the store: \(what)"
        }
    }
}

/// The durable ledger: blocks, transactions with results, current state and the Merkle log nodes.
/// `commit` is atomic and durable when it returns; proofs read O(log n) nodes.
public protocol LedgerStore: AnyObject, Sendable, MerkleNodeSource {
    /// Header and hash of the last committed block, or nil for an empty store.
    func head() throws -> BlockHeader?
    /// The ordering position the last block that had one was committed with (`BlockCommit.orderingPosition`).
    func orderingPosition() throws -> Int64?
    /// Atomically and durably appends a block with its state writes and log nodes.
    func commit(_ commit: BlockCommit) throws
    /// Appends consecutive blocks in order; the SQLite store writes them in one durable transaction
    /// (one fsync for all), the default one by one.
    func commit(_ commits: [BlockCommit]) throws
    /// A stored block exactly as stored, for verification.
    func rawBlock(height: UInt64) throws -> RawBlock?
    /// A stored header.
    func header(height: UInt64) throws -> BlockHeader?
    /// Location and result of a committed transaction.
    func location(of id: Hash256) throws -> TransactionLocation?
    /// Which of `ids` are committed transactions (one read).
    func committedIDs(_ ids: [Hash256]) throws -> Set<Hash256>
    /// The log index of the transaction whose RFC 9162 leaf hash is `leafHash` (CT's get-proof-by-hash).
    func logIndex(ofLeafHash leafHash: Hash256) throws -> UInt64?
    /// The canonical bytes of the transaction at a log index.
    func transactionBytes(logIndex: UInt64) throws -> [UInt8]?
    /// Current value of a state key.
    func state(_ key: String) throws -> [UInt8]?
    /// Current values of many keys in one read; absent keys are missing from the result.
    func states(_ keys: [String]) throws -> [String: [UInt8]]
    /// Up to `limit` state entries whose keys start with `prefix`, in key order, after key `after`.
    func states(prefix: String, after: String?, limit: Int) throws -> [(key: String, value: [UInt8])]
    /// Every state entry, in key order, with the height that last wrote it.
    func forEachState(_ body: (_ key: String, _ value: [UInt8], _ height: UInt64) throws -> Void) throws
    /// Every stored interior log node, ordered by level then index.
    func forEachLogNode(_ body: (MerkleFrontier.Node) throws -> Void) throws
    /// Every transaction's index entry (log index, stored id, leaf hash and height), in log order.
    func forEachTransactionEntry(_ body: (_ logIndex: UInt64, _ id: [UInt8], _ leafHash: [UInt8], _ height: UInt64) throws -> Void) throws
}

/// Range bounds for prefix scans over the ordered state keys.
public enum StatePrefix {
    /// The least key greater than every key that starts with `prefix` (prefixes are ASCII and
    /// end in "/", so bumping the last byte is enough).
    public static func upperBound(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        precondition(!bytes.isEmpty && bytes.last! < 0x7F, "prefix must be non-empty ASCII")
        bytes[bytes.count - 1] += 1
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension LedgerStore {
    public func commit(_ commits: [BlockCommit]) throws {
        for commit in commits { try self.commit(commit) }
    }

    public func committedIDs(_ ids: [Hash256]) throws -> Set<Hash256> {
        var found: Set<Hash256> = []
        for id in ids where try location(of: id) != nil { found.insert(id) }
        return found
    }
}
