public import LedgerCore
public import Vault

/// One reader's copy of a patient key: HPKE-wrapped to the X25519 key the reader had on-chain
/// when it was made (a reader who rotates that key gets a new patient key for later records).
public struct PatientKeyCopy: Sendable, Equatable {
    public let agreementKey: [UInt8]
    public let wrapped: WrappedKey

    public init(agreementKey: [UInt8], wrapped: WrappedKey) { (self.agreementKey, self.wrapped) = (agreementKey, wrapped) }
}

/// A patient key as stored: whose it is, at which custodian, and its HPKE-wrapped copies (one
/// for the patient, one for the custodian; directory data has the custodian's alone).
public struct StoredPatientKey: Sendable {
    public let id: Hash256
    public let patient: IdentityID
    public let custodian: IdentityID
    public let copies: [IdentityID: PatientKeyCopy]

    public init(id: Hash256, patient: IdentityID, custodian: IdentityID, copies: [IdentityID: PatientKeyCopy]) {
        (self.id, self.patient, self.custodian, self.copies) = (id, patient, custodian, copies)
    }
}

/// One stored version of an encrypted record: its blob, its data key wrapped under the patient
/// key, and that patient key (stored with it if not yet stored, so no version is ever written
/// without the key that opens it).
public struct StoredRecordVersion: Sendable {
    public let record: Hash256
    public let version: UInt64
    public let patient: IdentityID
    public let blob: SealedRecord
    public let dataKey: WrappedDataKey
    public let patientKey: StoredPatientKey
    /// Keyed hashes of the record's direct identifiers (never the identifiers).
    public let blindTokens: Set<BlindToken>
    /// Non-identifying indexed values (codes, dates, status), keyed by the record id only.
    public let values: [IndexedValue]

    public init(record: Hash256, version: UInt64, patient: IdentityID, blob: SealedRecord, dataKey: WrappedDataKey,
                patientKey: StoredPatientKey, blindTokens: Set<BlindToken>, values: [IndexedValue]) {
        (self.record, self.version, self.patient, self.blob, self.dataKey, self.patientKey, self.blindTokens, self.values) =
            (record, version, patient, blob, dataKey, patientKey, blindTokens, values)
    }
}

/// A stored version not yet published: which record version, and the blob that holds it.
public struct PendingVersion: Sendable, Hashable {
    public let record: Hash256
    public let version: UInt64
    public let blob: Hash256

    public init(record: Hash256, version: UInt64, blob: Hash256) { (self.record, self.version, self.blob) = (record, version, blob) }
}

extension StoredRecordVersion {
    /// The version as a pending one.
    public var pending: PendingVersion { PendingVersion(record: record, version: version, blob: blob.hash) }
}

/// What an erasure destroyed.
public struct ErasureReport: Sendable, Equatable {
    public let blobs: Int
    public let wrappedKeys: Int
    public let indexEntries: Int
}

/// One access-audit entry as stored: its canonical bytes and the patient it concerns.
public struct StoredAuditEntry: Sendable, Equatable {
    public let index: UInt64
    public let bytes: [UInt8]
}

/// The custodian's off-chain store: encrypted blobs addressed by ciphertext hash, wrapped data
/// keys, the blind search index, and the access-audit log (an RFC 9162 Merkle log whose
/// appends are durable when they return).
public protocol VaultStore: BlobStore, MerkleNodeSource, AnyObject {
    /// Stores record versions (blobs, wrapped data keys, their patient keys, index entries)
    /// atomically and durably, as pending: a pending version's index entries are not searched
    /// and it is not listed, until `publish` (once the ledger accepted it) or `discard` (once it
    /// refused it). Two writers of the same record version keep their own pending rows.
    func put(_ versions: [StoredRecordVersion]) throws
    /// Makes pending versions the stored ones, in order: each replaces its record's index
    /// entries with its own. Already published versions are skipped; an unknown one is an error.
    func publish(_ versions: [PendingVersion]) throws
    /// Removes pending versions and every blob no other version holds; returns how many were removed.
    @discardableResult
    func discard(_ versions: [PendingVersion]) throws -> Int
    /// Pending versions, oldest records first, at most `limit`.
    func pendingVersions(limit: Int) throws -> [PendingVersion]
    /// A record version's blob (by its content address) and its data key wrapped under its
    /// patient key, read together; nil if the blob is not held.
    func sealedVersion(blob: Hash256, record: Hash256, version: UInt64) throws -> (blob: SealedRecord, dataKey: WrappedDataKey?)?
    /// A stored patient key with its wrapped copies.
    func patientKey(id: Hash256) throws -> StoredPatientKey?
    /// The newest patient key of `patient` at `custodian`, if any.
    func patientKey(patient: IdentityID, custodian: IdentityID) throws -> StoredPatientKey?
    /// The data key of a record version HPKE-wrapped for `recipient` (the format before patient
    /// keys; vaults written by earlier releases hold these).
    func wrappedKey(record: Hash256, version: UInt64, recipient: IdentityID) throws -> WrappedKey?
    /// Destroys every blob, wrapped key and index entry of a record and scrubs them from disk.
    func erase(record: Hash256) throws -> ErasureReport
    /// Records whose blind index holds every token.
    func records(withAll tokens: [BlindToken], limit: Int) throws -> [Hash256]
    /// Records whose blind index holds at least one of the tokens, in record-id order.
    func records(withAny tokens: [BlindToken], limit: Int) throws -> [Hash256]
    /// Records with an indexed value.
    func records(param: String, value: String, limit: Int) throws -> [Hash256]
    /// Moves a parameter from the readable index to the blind index, in one transaction: each
    /// record in `tokens` gains its tokens (in the index and in the list its versions keep for
    /// erasure), every readable value of `param` — in the index and in those lists — is replaced
    /// by the record's `sealed` values (none if absent). For vaults written before the parameter
    /// was indexed blind.
    func blindIndexedValues(param: String, tokens: [Hash256: [BlindToken]], sealed: [Hash256: [String]]) throws
    /// Records with an indexed value of `param` in [from, to) in string order (`to` nil: unbounded).
    func records(param: String, from: String, to: String?, limit: Int) throws -> [Hash256]
    /// The published versions holding their record's index entries, in record order after `after` (at most `limit`).
    func indexedVersions(after: Hash256?, limit: Int) throws -> [(record: Hash256, version: UInt64)]
    /// Replaces each record's index entries with the given tokens and values, listed on the given
    /// version, in one transaction (a search index rebuilt by a newer release).
    func reindex(_ entries: [(record: Hash256, version: UInt64, tokens: [BlindToken], values: [IndexedValue])]) throws
    /// The indexed values of `param` in [from, to) in string order, with their records (at most `limit` rows).
    func entries(param: String, from: String, to: String?, limit: Int) throws -> [(record: Hash256, value: String)]
    /// Records about a patient, in record-id order.
    func records(patient: IdentityID, limit: Int) throws -> [Hash256]
    /// The indexed values of `param` held by each of `records` (records without one are absent).
    func values(param: String, records: [Hash256]) throws -> [Hash256: [String]]

    /// Appends audit entries durably; returns the log size after them.
    func appendAudit(_ entries: [(bytes: [UInt8], patient: IdentityID)]) throws -> UInt64
    /// Current size and root of the audit log.
    func auditHead() throws -> (size: UInt64, root: Hash256)
    /// A patient's audit entries, oldest first, after index `after`.
    func auditEntries(patient: IdentityID, after: UInt64?, limit: Int) throws -> [StoredAuditEntry]
    /// A patient's audit entries, newest first, before index `before` (nil: from the newest).
    func auditEntries(patient: IdentityID, before: UInt64?, limit: Int) throws -> [StoredAuditEntry]
    /// One audit entry by index.
    func auditEntry(_ index: UInt64) throws -> StoredAuditEntry?
    /// Up to `limit` consecutive audit entries from index `from`, oldest first (every patient).
    func auditEntries(from: UInt64, limit: Int) throws -> [StoredAuditEntry]
}

extension VaultStore {
    /// Entry by entry, for stores without a range read.
    public func auditEntries(from: UInt64, limit: Int) throws -> [StoredAuditEntry] {
        var out: [StoredAuditEntry] = []
        var index = from
        while out.count < limit, let entry = try auditEntry(index) {
            out.append(entry)
            index += 1
        }
        return out
    }

    /// Stores that do not answer per-record value queries say so (search then refuses `_sort`/`:missing`).
    public func values(param: String, records: [Hash256]) throws -> [Hash256: [String]] {
        throw StorageError.missing("this vault store does not answer per-record value queries")
    }
}
