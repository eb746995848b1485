public import LedgerCore
import Synchronization
public import Vault

/// A VaultStore in memory, with the SQLite vault's semantics: idempotent content-addressed
/// blobs, record versions whose latest one lists the record's index entries (so a new version
/// replaces them and an erasure deletes exactly them), patient keys kept in insertion order, and
/// an RFC 9162 audit log whose appends are atomic. For tests and the simulator.
public final class InMemoryVaultStore: VaultStore, Sendable {
    private struct VersionKey: Hashable {
        let record: Hash256
        let version: UInt64
    }

    private struct VersionRow {
        let patient: IdentityID
        let blobHash: Hash256
        var dataKey: WrappedDataKey?
        /// The record's index entries, held by its latest stored version only (SQLite's `index_keys`).
        var indexKeys: (tokens: [BlindToken], values: [IndexedValue])?
    }

    private struct IndexEntry: Hashable {
        let param: String
        let value: String
        let record: Hash256
    }

    private struct TokenEntry: Hashable {
        let token: BlindToken
        let record: Hash256
    }

    private struct PatientKeyRow {
        let patient: IdentityID
        let custodian: IdentityID
        var copies: [IdentityID: PatientKeyCopy]
    }

    private struct AuditRow {
        let patient: IdentityID
        let bytes: [UInt8]
        let leafHash: Hash256
    }

    private struct NodeKey: Hashable {
        let level: Int
        let index: UInt64
    }

    private struct Tables {
        var blobs: [Hash256: SealedRecord] = [:]
        var versions: [VersionKey: VersionRow] = [:]
        /// Versions stored but not yet published (SQLite's `pending_version`), by version and blob.
        var pending: [PendingVersion: (patient: IdentityID, dataKey: WrappedDataKey, tokens: [BlindToken], values: [IndexedValue])] = [:]
        var tokens: Set<TokenEntry> = []
        var values: Set<IndexEntry> = []
        var patientKeys: [Hash256: PatientKeyRow] = [:]
        /// Patient key ids in the order they were first stored (SQLite's rowid order).
        var patientKeyOrder: [Hash256] = []
        var audit: [AuditRow] = []
        var auditNodes: [NodeKey: Hash256] = [:]
        var auditFrontier = MerkleFrontier()

        /// Deletes the index entries listed by the record's versions and clears the lists; returns
        /// how many entries were deleted.
        mutating func dropIndexEntries(record: Hash256) -> Int {
            var deleted = 0
            for (key, row) in versions where key.record == record {
                guard let listed = row.indexKeys else { continue }
                for token in listed.tokens where tokens.remove(TokenEntry(token: token, record: record)) != nil { deleted += 1 }
                for value in listed.values where values.remove(IndexEntry(param: value.param, value: value.value, record: record)) != nil {
                    deleted += 1
                }
                versions[key]?.indexKeys = nil
            }
            return deleted
        }
    }

    private let tables = Mutex(Tables())

    /// An empty vault.
    public init() {}

    // MARK: blobs

    public func putBlob(_ sealed: SealedRecord) throws -> Hash256 {
        tables.withLock { t in if t.blobs[sealed.hash] == nil { t.blobs[sealed.hash] = sealed } }
        return sealed.hash
    }

    public func blob(_ hash: Hash256) throws -> SealedRecord? { tables.withLock { $0.blobs[hash] } }

    public func deleteBlob(_ hash: Hash256) throws { _ = tables.withLock { $0.blobs.removeValue(forKey: hash) } }

    // MARK: records

    public func put(_ versions: [StoredRecordVersion]) throws {
        tables.withLock { t in
            for version in versions {
                let key = version.patientKey
                if t.patientKeys[key.id] == nil {
                    t.patientKeys[key.id] = PatientKeyRow(patient: key.patient, custodian: key.custodian, copies: [:])
                    t.patientKeyOrder.append(key.id)
                }
                for (recipient, copy) in key.copies where t.patientKeys[key.id]?.copies[recipient] == nil {
                    t.patientKeys[key.id]?.copies[recipient] = copy
                }
            }
            for version in versions {
                if t.blobs[version.blob.hash] == nil { t.blobs[version.blob.hash] = version.blob }
                t.pending[version.pending] = (version.patient, version.dataKey, Array(version.blindTokens), version.values)
            }
        }
    }

    public func publish(_ versions: [PendingVersion]) throws {
        try tables.withLock { t throws(StorageError) in
            for pending in versions {
                let key = VersionKey(record: pending.record, version: pending.version)
                guard let row = t.pending.removeValue(forKey: pending) else {
                    if t.versions[key]?.blobHash == pending.blob { continue }
                    throw StorageError.missing("no pending version \(pending.version) of record \(pending.record.hex)")
                }
                // The index describes the latest version only: drop the previous version's entries.
                _ = t.dropIndexEntries(record: pending.record)
                t.versions[key] = VersionRow(patient: row.patient, blobHash: pending.blob, dataKey: row.dataKey, indexKeys: (row.tokens, row.values))
                for token in row.tokens { t.tokens.insert(TokenEntry(token: token, record: pending.record)) }
                for value in row.values { t.values.insert(IndexEntry(param: value.param, value: value.value, record: pending.record)) }
            }
        }
    }

    @discardableResult
    public func discard(_ versions: [PendingVersion]) throws -> Int {
        tables.withLock { t in
            var removed = 0
            for pending in versions where t.pending.removeValue(forKey: pending) != nil {
                removed += 1
                let held = t.versions.values.contains { $0.blobHash == pending.blob } || t.pending.keys.contains { $0.blob == pending.blob }
                if !held { t.blobs[pending.blob] = nil }
            }
            return removed
        }
    }

    public func pendingVersions(limit: Int) throws -> [PendingVersion] {
        tables.withLock { t in
            Array(t.pending.keys.sorted { ($0.record, $0.version) < ($1.record, $1.version) }.prefix(max(0, limit)))
        }
    }

    public func sealedVersion(blob hash: Hash256, record: Hash256, version: UInt64) throws -> (blob: SealedRecord, dataKey: WrappedDataKey?)? {
        tables.withLock { t in
            guard let blob = t.blobs[hash] else { return nil }
            let pending = t.pending[PendingVersion(record: record, version: version, blob: hash)]?.dataKey
            return (blob, t.versions[VersionKey(record: record, version: version)]?.dataKey ?? pending)
        }
    }

    public func patientKey(id: Hash256) throws -> StoredPatientKey? {
        tables.withLock { t in t.patientKeys[id].map { StoredPatientKey(id: id, patient: $0.patient, custodian: $0.custodian, copies: $0.copies) } }
    }

    public func patientKey(patient: IdentityID, custodian: IdentityID) throws -> StoredPatientKey? {
        tables.withLock { t in
            guard let id = t.patientKeyOrder.last(where: { t.patientKeys[$0]?.patient == patient && t.patientKeys[$0]?.custodian == custodian }),
                  let row = t.patientKeys[id] else { return nil }
            return StoredPatientKey(id: id, patient: row.patient, custodian: row.custodian, copies: row.copies)
        }
    }

    /// Data keys wrapped per record predate patient keys; a vault that was never SQLite holds none.
    public func wrappedKey(record: Hash256, version: UInt64, recipient: IdentityID) throws -> WrappedKey? { nil }

    public func erase(record: Hash256) throws -> ErasureReport {
        tables.withLock { t in
            var blobs = 0
            var keys = 0
            for (key, row) in t.versions where key.record == record {
                if t.blobs.removeValue(forKey: row.blobHash) != nil { blobs += 1 }
                if row.dataKey != nil {
                    t.versions[key]?.dataKey = nil
                    keys += 1
                }
            }
            for pending in t.pending.keys where pending.record == record {
                t.pending[pending] = nil
                keys += 1
                if t.blobs.removeValue(forKey: pending.blob) != nil { blobs += 1 }
            }
            let index = t.dropIndexEntries(record: record)
            return ErasureReport(blobs: blobs, wrappedKeys: keys, indexEntries: index)
        }
    }

    public func records(withAll tokens: [BlindToken], limit: Int) throws -> [Hash256] {
        guard !tokens.isEmpty else { return [] }
        return tables.withLock { t in
            var candidates: Set<Hash256>?
            for token in tokens {
                let matching = Set(t.tokens.lazy.filter { $0.token == token }.map(\.record))
                candidates = candidates.map { $0.intersection(matching) } ?? matching
            }
            return Array((candidates ?? []).sorted().prefix(max(0, limit)))
        }
    }

    public func records(withAny tokens: [BlindToken], limit: Int) throws -> [Hash256] {
        let wanted = Set(tokens)
        return tables.withLock { t in
            Array(Set(t.tokens.lazy.filter { wanted.contains($0.token) }.map(\.record)).sorted().prefix(max(0, limit)))
        }
    }

    public func blindIndexedValues(param: String, tokens: [Hash256: [BlindToken]], sealed: [Hash256: [String]]) throws {
        tables.withLock { t in
            for (record, added) in tokens {
                for token in added { t.tokens.insert(TokenEntry(token: token, record: record)) }
            }
            t.values = t.values.filter { $0.param != param || $0.value.hasPrefix(BlindIndexer.sealedPrefix) }
            for (record, values) in sealed {
                for value in values { t.values.insert(IndexEntry(param: param, value: value, record: record)) }
            }
            for (key, row) in t.versions {
                guard let listed = row.indexKeys else { continue }
                let kept = listed.values.filter { $0.param != param || $0.value.hasPrefix(BlindIndexer.sealedPrefix) }
                guard tokens[key.record] != nil || kept.count != listed.values.count else { continue }
                t.versions[key]?.indexKeys = (listed.tokens + (tokens[key.record] ?? []),
                                              kept + (sealed[key.record] ?? []).map { IndexedValue(param: param, value: $0) })
            }
        }
    }

    public func records(param: String, value: String, limit: Int) throws -> [Hash256] {
        tables.withLock { t in
            Array(t.values.lazy.filter { $0.param == param && $0.value == value }.map(\.record).sorted().prefix(max(0, limit)))
        }
    }

    public func records(param: String, from: String, to: String?, limit: Int) throws -> [Hash256] {
        func precedes(_ a: String, _ b: String) -> Bool { String.utf8Order(a, b) < 0 }
        return tables.withLock { t in
            // In the order SQLite walks its (param, value, record) key, each record once.
            let matching = t.values.filter { entry in
                entry.param == param && !precedes(entry.value, from) && (to.map { precedes(entry.value, $0) } ?? true)
            }.sorted { $0.value != $1.value ? precedes($0.value, $1.value) : $0.record < $1.record }
            var seen = Set<Hash256>()
            var out: [Hash256] = []
            for entry in matching where out.count < limit && seen.insert(entry.record).inserted { out.append(entry.record) }
            return out
        }
    }

    public func indexedVersions(after: Hash256?, limit: Int) throws -> [(record: Hash256, version: UInt64)] {
        tables.withLock { t in
            t.versions.filter { row in row.value.indexKeys != nil && (after.map { $0 < row.key.record } ?? true) }
                .map { ($0.key.record, $0.key.version) }.sorted { $0.0 < $1.0 }.prefix(max(0, limit)).map { $0 }
        }
    }

    public func reindex(_ entries: [(record: Hash256, version: UInt64, tokens: [BlindToken], values: [IndexedValue])]) throws {
        tables.withLock { t in
            for entry in entries {
                _ = t.dropIndexEntries(record: entry.record)
                t.versions[VersionKey(record: entry.record, version: entry.version)]?.indexKeys = (entry.tokens, entry.values)
                for token in entry.tokens { t.tokens.insert(TokenEntry(token: token, record: entry.record)) }
                for value in entry.values { t.values.insert(IndexEntry(param: value.param, value: value.value, record: entry.record)) }
            }
        }
    }

    public func entries(param: String, from: String, to: String?, limit: Int) throws -> [(record: Hash256, value: String)] {
        func precedes(_ a: String, _ b: String) -> Bool { String.utf8Order(a, b) < 0 }
        return tables.withLock { t in
            t.values.filter { entry in
                entry.param == param && !precedes(entry.value, from) && (to.map { precedes(entry.value, $0) } ?? true)
            }.sorted { $0.value != $1.value ? precedes($0.value, $1.value) : $0.record < $1.record }
            .prefix(max(0, limit)).map { ($0.record, $0.value) }
        }
    }

    public func records(patient: IdentityID, limit: Int) throws -> [Hash256] {
        tables.withLock { t in
            Array(Set(t.versions.lazy.filter { $0.value.patient == patient }.map(\.key.record)).sorted().prefix(max(0, limit)))
        }
    }

    public func values(param: String, records: [Hash256]) throws -> [Hash256: [String]] {
        let wanted = Set(records)
        return tables.withLock { t in
            var out: [Hash256: [String]] = [:]
            for (key, row) in t.versions where wanted.contains(key.record) {
                let values = row.indexKeys?.values.filter { $0.param == param }.map(\.value) ?? []
                if !values.isEmpty { out[key.record] = values }
            }
            return out
        }
    }

    // MARK: audit log

    public func appendAudit(_ entries: [(bytes: [UInt8], patient: IdentityID)]) throws -> UInt64 {
        precondition(entries.count <= SQLiteVaultStore.auditBatchMax, "audit batch too large")
        return tables.withLock { t in
            for entry in entries {
                let leaf = MerkleHashing.leafHash(entry.bytes)
                t.audit.append(AuditRow(patient: entry.patient, bytes: entry.bytes, leafHash: leaf))
                for node in t.auditFrontier.append(leafHash: leaf) { t.auditNodes[NodeKey(level: node.level, index: node.index)] = node.hash }
            }
            return t.auditFrontier.size
        }
    }

    public func auditHead() throws -> (size: UInt64, root: Hash256) {
        tables.withLock { ($0.auditFrontier.size, $0.auditFrontier.root) }
    }

    public func auditEntries(patient: IdentityID, after: UInt64?, limit: Int) throws -> [StoredAuditEntry] {
        tables.withLock { t in
            var out: [StoredAuditEntry] = []
            let start = after.map { Int(min($0, UInt64(t.audit.count))) + 1 } ?? 0
            for index in start..<max(start, t.audit.count) where out.count < limit && t.audit[index].patient == patient {
                out.append(StoredAuditEntry(index: UInt64(index), bytes: t.audit[index].bytes))
            }
            return out
        }
    }

    public func auditEntries(patient: IdentityID, before: UInt64?, limit: Int) throws -> [StoredAuditEntry] {
        tables.withLock { t in
            var out: [StoredAuditEntry] = []
            let end = before.map { Int(min($0, UInt64(t.audit.count))) } ?? t.audit.count
            for index in (0..<end).reversed() where t.audit[index].patient == patient {
                guard out.count < limit else { break }
                out.append(StoredAuditEntry(index: UInt64(index), bytes: t.audit[index].bytes))
            }
            return out
        }
    }

    public func auditEntries(from: UInt64, limit: Int) throws -> [StoredAuditEntry] {
        tables.withLock { t in
            guard from < UInt64(t.audit.count), limit > 0 else { return [] }
            let start = Int(from)
            return (start..<(start + min(limit, t.audit.count - start))).map { StoredAuditEntry(index: UInt64($0), bytes: t.audit[$0].bytes) }
        }
    }

    public func auditEntry(_ index: UInt64) throws -> StoredAuditEntry? {
        tables.withLock { t in index < UInt64(t.audit.count) ? StoredAuditEntry(index: index, bytes: t.audit[Int(index)].bytes) : nil }
    }

    public func subtreeHash(level: Int, index: UInt64) throws -> Hash256 {
        let found = tables.withLock { t -> Hash256? in
            if level == 0 { return index < UInt64(t.audit.count) ? t.audit[Int(index)].leafHash : nil }
            return t.auditNodes[NodeKey(level: level, index: index)]
        }
        guard let found else { throw StorageError.missing("audit log node level \(level) index \(index)") }
        return found
    }
}
