public import LedgerCore
import Synchronization

/// A LedgerStore in memory, with the SQLite store's semantics: one atomic commit per block,
/// contiguous heights, unique transaction ids and log nodes, state scans in byte order of the
/// keys. "Durable" means held by this object: the simulator keeps it across a node's crash and
/// restart, and `copy()` keeps what it held before a write, to model a write lost in a crash.
public final class InMemoryLedgerStore: LedgerStore, AttestationStore, PrivatePayloadStore {
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
        var blocks: [StoredBlock] = []
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

    public func head() throws -> BlockHeader? { tables.withLock { $0.blocks.last?.header } }

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
            let expected = UInt64(current.blocks.count)
            guard height == expected else { throw StorageError.notAContiguousBlock(expected: expected, got: height) }
            // Copy-on-write: a refused commit leaves `current` untouched, like a rolled-back transaction.
            var next = current
            next.blocks.append(StoredBlock(header: block.header, headerBytes: block.header.encoded, signature: block.signature))
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
            guard height < UInt64(t.blocks.count) else { return nil }
            let stored = t.blocks[Int(height)]
            let first = Int(stored.header.logSize) - Int(stored.header.transactionCount)
            let range = max(0, first)..<min(t.transactions.count, Int(stored.header.logSize))
            let txs = range.isEmpty ? [] : Array(t.transactions[range])
            return RawBlock(headerBytes: stored.headerBytes, signature: stored.signature,
                            transactionBytes: txs.map(\.bytes), resultBytes: txs.map(\.resultBytes))
        }
    }

    public func header(height: UInt64) throws -> BlockHeader? {
        tables.withLock { t in height < UInt64(t.blocks.count) ? t.blocks[Int(height)].header : nil }
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
        tables.withLock { t in logIndex < UInt64(t.transactions.count) ? t.transactions[Int(logIndex)].bytes : nil }
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

    public func subtreeHash(level: Int, index: UInt64) throws -> Hash256 {
        let found = tables.withLock { t -> Hash256? in
            if level == 0 { return index < UInt64(t.transactions.count) ? t.transactions[Int(index)].leafHash : nil }
            return t.logNodes[LogNodeKey(level: level, index: index)]
        }
        guard let found else { throw StorageError.missing("log node level \(level) index \(index)") }
        return found
    }
}
