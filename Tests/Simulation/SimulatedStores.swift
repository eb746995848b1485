import LedgerCore
import Storage
import Synchronization
import Vault

/// What the simulated disk does to the next block commit.
enum CommitFault: Sendable, Equatable, CustomStringConvertible {
    /// The write fails (a full disk): nothing is written and the process lives on.
    case fail
    /// The process dies during the write; `persisted`: whether the block reached the disk first.
    case crash(persisted: Bool)

    var description: String {
        switch self {
        case .fail: "the next block write fails"
        case .crash(let persisted): "the process dies while writing the next block (\(persisted ? "after" : "before") it reached the disk)"
        }
    }
}

/// One node incarnation's handle on the simulated disk (an `InMemoryLedgerStore` that outlives
/// the node). Faults are armed by the simulator; `fence` kills the handle, so a crashed node's
/// leftover tasks can never write to the disk its successor opened.
final class SimulatedLedgerStore: LedgerStore {
    private struct State {
        var alive = true
        var nextCommitFault: CommitFault?
        var stateReadsFail = false
        /// The disk as it was before a commit the process died in, after that commit reached it:
        /// a restart may find the block torn away (it was never acknowledged).
        var beforeCrashedCommit: InMemoryLedgerStore?
    }

    let disk: InMemoryLedgerStore
    private let state = Mutex(State())

    init(disk: InMemoryLedgerStore) { self.disk = disk }

    /// Arms a fault for the next commit (nil disarms).
    func arm(_ fault: CommitFault?) { state.withLock { $0.nextCommitFault = fault } }

    /// Makes state reads fail (a disk returning I/O errors) until turned off.
    func failStateReads(_ failing: Bool) { state.withLock { $0.stateReadsFail = failing } }

    /// Kills this handle: every later read or write through it fails.
    func fence() { state.withLock { $0.alive = false } }

    /// False once the handle is fenced or its process died during a write.
    var isAlive: Bool { state.withLock { $0.alive } }

    /// Whether the armed commit fault was used (or none was armed).
    var commitFaultFired: Bool { state.withLock { $0.nextCommitFault == nil } }

    /// What the disk held before the crashed commit, if the process died after the block reached it.
    var beforeCrashedCommit: InMemoryLedgerStore? { state.withLock { $0.beforeCrashedCommit } }

    private func checkAlive() throws {
        guard state.withLock({ $0.alive }) else { throw StorageError.database("the process is dead (simulated crash)") }
    }

    func commit(_ commit: BlockCommit) throws {
        // Under the handle's lock, so a fence either precedes the whole write or follows it.
        try state.withLock { s in
            guard s.alive else { throw StorageError.database("the process is dead (simulated crash)") }
            let fault = s.nextCommitFault
            s.nextCommitFault = nil
            switch fault {
            case nil:
                try disk.commit(commit)
            case .fail:
                throw StorageError.database("disk full (injected)")
            case .crash(let persisted):
                if persisted {
                    let before = disk.copy()
                    try disk.commit(commit)
                    s.beforeCrashedCommit = before
                }
                s.alive = false
                throw StorageError.database("the process died during the write (injected)")
            }
        }
    }

    func state(_ key: String) throws -> [UInt8]? {
        try checkStateRead()
        return try disk.state(key)
    }

    func states(_ keys: [String]) throws -> [String: [UInt8]] {
        try checkStateRead()
        return try disk.states(keys)
    }

    private func checkStateRead() throws {
        let (alive, failing) = state.withLock { ($0.alive, $0.stateReadsFail) }
        guard alive else { throw StorageError.database("the process is dead (simulated crash)") }
        if failing { throw StorageError.database("disk I/O error on a state read (injected)") }
    }

    func head() throws -> BlockHeader? {
        try checkAlive()
        return try disk.head()
    }

    func orderingPosition() throws -> Int64? {
        try checkAlive()
        return try disk.orderingPosition()
    }

    func rawBlock(height: UInt64) throws -> RawBlock? {
        try checkAlive()
        return try disk.rawBlock(height: height)
    }

    func header(height: UInt64) throws -> BlockHeader? {
        try checkAlive()
        return try disk.header(height: height)
    }

    func location(of id: Hash256) throws -> TransactionLocation? {
        try checkAlive()
        return try disk.location(of: id)
    }

    func logIndex(ofLeafHash leafHash: Hash256) throws -> UInt64? {
        try checkAlive()
        return try disk.logIndex(ofLeafHash: leafHash)
    }

    func transactionBytes(logIndex: UInt64) throws -> [UInt8]? {
        try checkAlive()
        return try disk.transactionBytes(logIndex: logIndex)
    }

    func states(prefix: String, after: String?, limit: Int) throws -> [(key: String, value: [UInt8])] {
        try checkStateRead()
        return try disk.states(prefix: prefix, after: after, limit: limit)
    }

    func forEachState(_ body: (String, [UInt8], UInt64) throws -> Void) throws {
        try checkAlive()
        try disk.forEachState(body)
    }

    func forEachLogNode(_ body: (MerkleFrontier.Node) throws -> Void) throws {
        try checkAlive()
        try disk.forEachLogNode(body)
    }

    func forEachTransactionEntry(_ body: (UInt64, [UInt8], [UInt8], UInt64) throws -> Void) throws {
        try checkAlive()
        try disk.forEachTransactionEntry(body)
    }

    func subtreeHash(level: Int, index: UInt64) throws -> Hash256 {
        try checkAlive()
        return try disk.subtreeHash(level: level, index: index)
    }
}

/// The custodian's vault over an `InMemoryVaultStore` that outlives node restarts, with
/// injectable failures of its two durable writes: record versions and audit appends.
final class SimulatedVaultStore: VaultStore, Sendable {
    let inner = InMemoryVaultStore()
    private let faults = Mutex((putsFail: false, auditFails: false))

    /// Makes record-version writes fail until turned off.
    func failPuts(_ failing: Bool) { faults.withLock { $0.putsFail = failing } }

    /// Makes audit appends fail until turned off.
    func failAudit(_ failing: Bool) { faults.withLock { $0.auditFails = failing } }

    func put(_ versions: [StoredRecordVersion]) throws {
        if faults.withLock({ $0.putsFail }) { throw StorageError.database("vault disk full (injected)") }
        try inner.put(versions)
    }

    func appendAudit(_ entries: [(bytes: [UInt8], patient: IdentityID)]) throws -> UInt64 {
        if faults.withLock({ $0.auditFails }) { throw StorageError.database("audit log disk I/O error (injected)") }
        return try inner.appendAudit(entries)
    }

    func publish(_ versions: [PendingVersion]) throws { try inner.publish(versions) }
    func discard(_ versions: [PendingVersion]) throws -> Int { try inner.discard(versions) }
    func pendingVersions(limit: Int) throws -> [PendingVersion] { try inner.pendingVersions(limit: limit) }
    func putBlob(_ sealed: SealedRecord) throws -> Hash256 { try inner.putBlob(sealed) }
    func blob(_ hash: Hash256) throws -> SealedRecord? { try inner.blob(hash) }
    func deleteBlob(_ hash: Hash256) throws { try inner.deleteBlob(hash) }
    func sealedVersion(blob: Hash256, record: Hash256, version: UInt64) throws -> (blob: SealedRecord, dataKey: WrappedDataKey?)? {
        try inner.sealedVersion(blob: blob, record: record, version: version)
    }
    func patientKey(id: Hash256) throws -> StoredPatientKey? { try inner.patientKey(id: id) }
    func patientKey(patient: IdentityID, custodian: IdentityID) throws -> StoredPatientKey? {
        try inner.patientKey(patient: patient, custodian: custodian)
    }
    func wrappedKey(record: Hash256, version: UInt64, recipient: IdentityID) throws -> WrappedKey? {
        try inner.wrappedKey(record: record, version: version, recipient: recipient)
    }
    func erase(record: Hash256) throws -> ErasureReport { try inner.erase(record: record) }
    func records(withAll tokens: [BlindToken], limit: Int) throws -> [Hash256] { try inner.records(withAll: tokens, limit: limit) }
    func records(withAny tokens: [BlindToken], limit: Int) throws -> [Hash256] { try inner.records(withAny: tokens, limit: limit) }
    func blindIndexedValues(param: String, tokens: [Hash256: [BlindToken]], sealed: [Hash256: [String]]) throws {
        try inner.blindIndexedValues(param: param, tokens: tokens, sealed: sealed)
    }
    func records(param: String, value: String, limit: Int) throws -> [Hash256] { try inner.records(param: param, value: value, limit: limit) }
    func records(param: String, from: String, to: String?, limit: Int) throws -> [Hash256] {
        try inner.records(param: param, from: from, to: to, limit: limit)
    }
    func indexedVersions(after: Hash256?, limit: Int) throws -> [(record: Hash256, version: UInt64)] {
        try inner.indexedVersions(after: after, limit: limit)
    }
    func reindex(_ entries: [(record: Hash256, version: UInt64, tokens: [BlindToken], values: [IndexedValue])]) throws {
        try inner.reindex(entries)
    }
    func entries(param: String, from: String, to: String?, limit: Int) throws -> [(record: Hash256, value: String)] {
        try inner.entries(param: param, from: from, to: to, limit: limit)
    }
    func records(patient: IdentityID, limit: Int) throws -> [Hash256] { try inner.records(patient: patient, limit: limit) }
    func values(param: String, records: [Hash256]) throws -> [Hash256: [String]] { try inner.values(param: param, records: records) }
    func auditHead() throws -> (size: UInt64, root: Hash256) { try inner.auditHead() }
    func auditEntries(patient: IdentityID, after: UInt64?, limit: Int) throws -> [StoredAuditEntry] {
        try inner.auditEntries(patient: patient, after: after, limit: limit)
    }
    func auditEntries(patient: IdentityID, before: UInt64?, limit: Int) throws -> [StoredAuditEntry] {
        try inner.auditEntries(patient: patient, before: before, limit: limit)
    }
    func auditEntry(_ index: UInt64) throws -> StoredAuditEntry? { try inner.auditEntry(index) }
    func subtreeHash(level: Int, index: UInt64) throws -> Hash256 { try inner.subtreeHash(level: level, index: index) }
}
