public import LedgerCore
import Synchronization

/// A LedgerStore in memory, with the SQLite store's semantics: one atomic commit per block,
/// contiguous heights, unique transaction ids and log nodes, state scans in byte order of the
/// keys. "Durable" means held by this object: the simulator keeps it across a node's crash and
/// restart, and `copy()` keeps what it held before a write, to model a write lost in a crash.
public final class InMemoryLedgerStore: SnapshotStore, AttestationStore, PrivatePayloadStore {
    private struct StoredBlock {
        let header: BlockHeader
        let headerBytes: [UInt8]
        let signature: [UInt8]
    }

    private struct StoredTransaction {
        let id: Hash256
        let height: UInt64
        let bytes: [UInt8]
        let leafHash: Hash256
        let resultBytes: [UInt8]
    }

    private struct LogNodeKey: Hashable {
        let level: Int
        let index: UInt64
    }

    /// Everything stored; a value, so a commit builds the next tables aside and swaps them in.
    private struct Tables {
        /// Blocks by height (a store installed from a snapshot has none between genesis and its base).
        var blocks: [UInt64: StoredBlock] = [:]
        var headHeight: UInt64?
        var base: SnapshotBase?
        /// Transactions by log index (the array index).
        var transactions: [StoredTransaction] = []
        var logIndexByID: [Hash256: UInt64] = [:]
        /// The first log index of each leaf hash (two transactions never share bytes, but the
        /// SQLite store answers the lowest index too).
        var logIndexByLeaf: [Hash256: UInt64] = [:]
        var state: [String: (value: [UInt8], height: UInt64)] = [:]
        var logNodes: [LogNodeKey: Hash256] = [:]
        var orderingPosition: Int64?
        var attestations: [UInt64: [IdentityID: Attestation]] = [:]
        var finalHeight: UInt64?
        var privatePayloads: [Hash256: [UInt8]] = [:]

        /// State keys in SQLite's BINARY order (bytes of the UTF-8 encoding).
        var sortedStateKeys: [String] { state.keys.sorted { String.utf8Order($0, $1) < 0 } }
    }

    private let tables: Mutex<Tables>

    /// An empty store.
    public init() { tables = Mutex(Tables()) }

    private init(_ contents: Tables) { tables = Mutex(contents) }

    /// A second store holding exactly what this one holds now; the two then diverge.
    public func copy() -> InMemoryLedgerStore { InMemoryLedgerStore(tables.withLock { $0 }) }

    public func head() throws -> BlockHeader? { tables.withLock { t in t.headHeight.flatMap { t.blocks[$0]?.header } } }

    public func orderingPosition() throws -> Int64? { tables.withLock { $0.orderingPosition } }

    public func saveAttestations(_ attestations: [Attestation], finalHeight: UInt64?) {
        tables.withLock { t in
            for attestation in attestations where t.attestations[attestation.height]?[attestation.attester] == nil {
                t.attestations[attestation.height, default: [:]][attestation.attester] = attestation
            }
            if let finalHeight { t.finalHeight = max(t.finalHeight ?? 0, finalHeight) }
        }
    }

    public func attestations(height: UInt64) -> [Attestation] {
        tables.withLock { $0.attestations[height].map { $0.values.sorted { $0.attester.bytes.lexicographicallyPrecedes($1.attester.bytes) } } ?? [] }
    }

    public func attestations(from height: UInt64, limit: Int) -> [Attestation] {
        let heights = tables.withLock { $0.attestations.keys.filter { $0 >= height }.sorted() }
        return Array(heights.lazy.flatMap { self.attestations(height: $0) }.prefix(limit))
    }

    public func finalHeight() -> UInt64? { tables.withLock { $0.finalHeight } }

    public func savePrivatePayloads(_ payloads: [(id: Hash256, bytes: [UInt8])]) {
        tables.withLock { t in for payload in payloads where t.privatePayloads[payload.id] == nil { t.privatePayloads[payload.id] = payload.bytes } }
    }

    public func privatePayloads(_ ids: [Hash256]) -> [Hash256: [UInt8]] {
        tables.withLock { t in ids.reduce(into: [:]) { found, id in found[id] = t.privatePayloads[id] } }
    }

    public func commit(_ commit: BlockCommit) throws {
        let block = commit.block
        let height = block.header.height
        try tables.withLock { (current: inout Tables) throws(StorageError) in
            let expected = current.headHeight.map { $0 + 1 } ?? 0
            guard height == expected else { throw StorageError.notAContiguousBlock(expected: expected, got: height) }
            // Copy-on-write: a refused commit leaves `current` untouched, like a rolled-back transaction.
            var next = current
            next.blocks[height] = StoredBlock(header: block.header, headerBytes: block.header.encoded, signature: block.signature)
            next.headHeight = height
            if let position = commit.orderingPosition { next.orderingPosition = position }
            for (offset, tx) in block.transactions.enumerated() {
                let logIndex = commit.firstLogIndex + UInt64(offset)
                guard logIndex == UInt64(next.transactions.count) else {
                    throw StorageError.database("log index \(logIndex) is not the next one (\(next.transactions.count))")
                }
                guard next.logIndexByID[tx.id] == nil else { throw StorageError.database("transaction \(tx.id.hex) is already stored") }
                let leaf = commit.leafHashes[offset]
                next.transactions.append(StoredTransaction(id: tx.id, height: height, bytes: tx.bytes, leafHash: leaf,
                                                           resultBytes: block.results[offset].encoded))
                next.logIndexByID[tx.id] = logIndex
                if next.logIndexByLeaf[leaf] == nil { next.logIndexByLeaf[leaf] = logIndex }
            }
            for node in commit.logNodes {
                let key = LogNodeKey(level: node.level, index: node.index)
                guard next.logNodes[key] == nil else { throw StorageError.database("log node level \(node.level) index \(node.index) is already stored") }
                next.logNodes[key] = node.hash
            }
            for entry in commit.writeSet.entries {
                next.state[entry.key] = entry.value.map { ($0, height) }
            }
            current = next
        }
    }

    public func rawBlock(height: UInt64) throws -> RawBlock? {
        tables.withLock { t -> RawBlock? in
            guard let stored = t.blocks[height] else { return nil }
            let first = Int(stored.header.logSize) - Int(stored.header.transactionCount)
            let range = max(0, first)..<min(t.transactions.count, Int(stored.header.logSize))
            let txs = range.isEmpty ? [] : Array(t.transactions[range])
            return RawBlock(headerBytes: stored.headerBytes, signature: stored.signature,
                            transactionBytes: txs.map(\.bytes), resultBytes: txs.map(\.resultBytes))
        }
    }

    public func header(height: UInt64) throws -> BlockHeader? {
        tables.withLock { $0.blocks[height]?.header }
    }

    public func location(of id: Hash256) throws -> TransactionLocation? {
        try tables.withLock { t throws -> TransactionLocation? in
            guard let index = t.logIndexByID[id] else { return nil }
            let tx = t.transactions[Int(index)]
            return TransactionLocation(logIndex: index, height: tx.height, result: try TransactionResult(decoding: tx.resultBytes))
        }
    }

    public func logIndex(ofLeafHash leafHash: Hash256) throws -> UInt64? { tables.withLock { $0.logIndexByLeaf[leafHash] } }

    public func transactionBytes(logIndex: UInt64) throws -> [UInt8]? {
        // Empty: before the snapshot the store was installed from.
        tables.withLock { t in logIndex < UInt64(t.transactions.count) && !t.transactions[Int(logIndex)].bytes.isEmpty ? t.transactions[Int(logIndex)].bytes : nil }
    }

    public func state(_ key: String) throws -> [UInt8]? { tables.withLock { $0.state[key]?.value } }

    public func states(_ keys: [String]) throws -> [String: [UInt8]] {
        tables.withLock { t in
            var found: [String: [UInt8]] = [:]
            for key in keys { if let entry = t.state[key] { found[key] = entry.value } }
            return found
        }
    }

    public func states(prefix: String, after: String?, limit: Int) throws -> [(key: String, value: [UInt8])] {
        let upper = StatePrefix.upperBound(prefix)
        let lower = after.map { String.utf8Order($0, prefix) < 0 ? prefix : $0 } ?? prefix
        return tables.withLock { t in
            // Strictly after `lower` and before `upper`, as the SQLite store's `key > ? AND key < ?`.
            t.sortedStateKeys
                .filter { String.utf8Order(lower, $0) < 0 && String.utf8Order($0, upper) < 0 }
                .prefix(max(0, limit))
                .map { (key: $0, value: t.state[$0]!.value) }
        }
    }

    public func forEachState(_ body: (_ key: String, _ value: [UInt8], _ height: UInt64) throws -> Void) throws {
        let t = tables.withLock { $0 }
        for key in t.sortedStateKeys {
            let entry = t.state[key]!
            try body(key, entry.value, entry.height)
        }
    }

    public func forEachLogNode(_ body: (MerkleFrontier.Node) throws -> Void) throws {
        let nodes = tables.withLock { $0.logNodes }
        for (key, hash) in nodes.sorted(by: { ($0.key.level, $0.key.index) < ($1.key.level, $1.key.index) }) {
            try body(MerkleFrontier.Node(level: key.level, index: key.index, hash: hash))
        }
    }

    public func forEachTransactionEntry(_ body: (_ logIndex: UInt64, _ id: [UInt8], _ leafHash: [UInt8], _ height: UInt64) throws -> Void) throws {
        let transactions = tables.withLock { $0.transactions }
        for (index, tx) in transactions.enumerated() { try body(UInt64(index), tx.id.bytes, tx.leafHash.bytes, tx.height) }
    }

    // MARK: snapshots

    public func view() throws -> any LedgerStoreView { InMemoryStoreView(store: InMemoryLedgerStore(tables.withLock { $0 })) }

    public func snapshotBase() -> SnapshotBase? { tables.withLock { $0.base } }

    public func install(from frames: ((SnapshotFrame) throws -> Void) throws -> Void, checker: SnapshotChecker, digest: Hash256, position: Int64?) throws {
        var checker = checker
        let current = tables.withLock { $0 }
        guard current.headHeight == 0, current.blocks.count == 1, let genesis = current.blocks[0] else {
            throw StorageError.corrupt("a snapshot is installed only into a store that holds the genesis block alone")
        }
        var next = Tables()
        next.blocks[0] = genesis
        next.attestations = current.attestations
        next.finalHeight = current.finalHeight
        next.privatePayloads = current.privatePayloads
        var blockBytes = Dictionary(uniqueKeysWithValues: current.transactions.map { ($0.id, $0.bytes) })
        let genesisIDs = current.transactions.filter { $0.height == 0 }.map(\.id)
        try frames { frame in
            let nodes = try checker.check(frame)
            switch frame {
            case .head(_, let raw):
                let header = checker.header!
                next.blocks[header.height] = StoredBlock(header: header, headerBytes: raw.headerBytes, signature: raw.signature)
                next.headHeight = header.height
                for bytes in raw.transactionBytes { blockBytes[try Transaction(decoding: bytes).id] = bytes }
            case .state(let entries):
                for entry in entries { next.state[entry.key] = (entry.value, entry.height) }
            case .transactions(let entries):
                for entry in entries {
                    try SnapshotChecker.checkGenesis(entry, at: next.transactions.count, genesis: genesisIDs)
                    let logIndex = UInt64(next.transactions.count)
                    next.transactions.append(StoredTransaction(id: entry.id, height: entry.height, bytes: blockBytes[entry.id] ?? [],
                                                               leafHash: entry.leafHash, resultBytes: entry.result))
                    next.logIndexByID[entry.id] = logIndex
                    if next.logIndexByLeaf[entry.leafHash] == nil { next.logIndexByLeaf[entry.leafHash] = logIndex }
                }
                for node in nodes { next.logNodes[LogNodeKey(level: node.level, index: node.index)] = node.hash }
            case .end: break
            }
        }
        guard checker.finished else { throw SnapshotError.malformed("it ends before its end frame") }
        next.orderingPosition = position
        next.base = SnapshotBase(height: checker.claim.height, digest: digest)
        try tables.withLock { (t: inout Tables) throws(StorageError) in
            guard t.headHeight == 0 else { throw StorageError.corrupt("the store changed while the snapshot was installed") }
            t = next
        }
    }

    public func subtreeHash(level: Int, index: UInt64) throws -> Hash256 {
        let found = tables.withLock { t -> Hash256? in
            if level == 0 { return index < UInt64(t.transactions.count) ? t.transactions[Int(index)].leafHash : nil }
            return t.logNodes[LogNodeKey(level: level, index: index)]
        }
        guard let found else { throw StorageError.missing("log node level \(level) index \(index)") }
        return found
    }
}

/// A store read at one moment: a copy of the tables (copy-on-write, so cheap until either changes).
final class InMemoryStoreView: LedgerStoreView {
    private let store: InMemoryLedgerStore
    init(store: InMemoryLedgerStore) { self.store = store }

    func head() throws -> BlockHeader? { try store.head() }
    func rawBlock(height: UInt64) throws -> RawBlock? { try store.rawBlock(height: height) }
    func orderingPosition() throws -> Int64? { try store.orderingPosition() }

    func forEachSharedState(_ body: (SnapshotStateEntry) throws -> Void) throws {
        try store.forEachState { key, value, height in
            if !key.hasPrefix(PrivateEnvelope.keyPrefix) { try body(SnapshotStateEntry(key: key, value: value, height: height)) }
        }
    }

    func forEachTransaction(_ body: (SnapshotTransactionEntry) throws -> Void) throws {
        try store.forEachTransactionEntry { logIndex, id, leaf, height in
            guard let id = Hash256(bytes: id), let leaf = Hash256(bytes: leaf), let location = try store.location(of: id) else {
                throw StorageError.corrupt("transaction \(logIndex)")
            }
            try body(SnapshotTransactionEntry(id: id, leafHash: leaf, height: height, result: location.result.encoded))
        }
    }
}
