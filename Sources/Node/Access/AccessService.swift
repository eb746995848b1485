public import Contracts
import FHIR
import Crypto
public import LedgerCore
public import Storage
import Synchronization
public import Vault

/// Why an access did not release data. Nothing is released in any of these cases.
public enum AccessError: Error, Sendable, CustomStringConvertible {
    case denied(Decision)
    case auditUnavailable(String)
    case contentUnavailable(Hash256)
    case integrity(String)
    case notHeldHere(custodian: IdentityID)
    case unknownIdentity(IdentityID)
    case invalidContent(String)
    case vault(VaultError)
    case storage(String)

    public var description: String {
        switch self {
        case .denied(let d): "access denied: \(d.requesterReason.text) (\(d.requesterReason.rawValue))"
        case .auditUnavailable(let why): "the access could not be audited, so no data was released: \(why)"
        case .contentUnavailable(let record): "the content of record \(record.hex) is not held here (erased or never stored)"
        case .integrity(let why): "integrity check failed: \(why)"
        case .notHeldHere(let custodian): "this node holds no keys of custodian \(custodian.hex)"
        case .unknownIdentity(let id): "no identity \(id.hex)"
        case .invalidContent(let why): "record content refused: \(why)"
        case .vault(let error): error.description
        case .storage(let why): "vault storage failed: \(why)"
        }
    }
}

/// A decision about a ledger object that concerns a patient (not a record): who asked, whose it
/// is, its id, for what purpose, and whether `ReadRules` let them see it.
public struct ObjectRead: Sendable {
    public let requester: IdentityID
    public let patient: IdentityID
    public let object: Hash256
    public let purpose: Purpose
    public let permitted: Bool

    public init(requester: IdentityID, patient: IdentityID, object: Hash256, purpose: Purpose, permitted: Bool) {
        (self.requester, self.patient, self.object, self.purpose, self.permitted) = (requester, patient, object, purpose, permitted)
    }
}

/// A permitted read: the ciphertext and its data key wrapped for the requester alone.
public struct RecordRelease: Sendable {
    public let entry: RecordEntry
    public let blob: SealedRecord
    public let wrappedKey: WrappedKey
    public let decision: Decision
    /// Where the access sits in the audit log.
    public let auditIndex: UInt64

    /// Unwraps the data key with the requester's private key and decrypts.
    public func open(as requester: IdentityID, with keys: IdentityKeys) throws(VaultError) -> [UInt8] {
        let key = try KeyWrap.unwrap(wrappedKey, with: keys.agreement,
                                     context: WrapContext(record: entry.record, version: entry.version, recipient: requester))
        return try RecordCipher.open(blob, with: key, record: entry.record, version: entry.version)
    }
}

/// What `AccessService.serve` answered for one request: the decision, the (requested version
/// of the) record entry, its plaintext when permitted, and the audit entry that logged it.
public struct ServedRecord: Sendable {
    public let request: AccessRequest
    public let decision: Decision
    public let entry: RecordEntry?
    /// Plaintext content; nil unless permitted and held here.
    public let content: [UInt8]?
    public let auditIndex: UInt64
}

/// An audit entry with the proof that it is in an anchored audit tree head.
public struct AuditProof: Sendable {
    public let index: UInt64
    public let entry: [UInt8]
    public let anchor: AuditContract.Anchor
    public let proof: [Hash256]

    /// Checks the proof against the anchored root.
    public func verify() throws(MerkleProofError) {
        try MerkleVerifier.verifyInclusion(leafHash: MerkleHashing.leafHash(entry), index: index, size: anchor.size, proof: proof,
                                           root: anchor.root)
    }
}

/// Committed record versions whose publishing (their index rows) waits to be done in bulk: a bulk
/// import's, and the publishes queued while the vault's writer is busy. Index rows are random-key
/// inserts that land all over the index tables, so one transaction for many Bundles writes each
/// index page to the WAL once instead of once per Bundle.
/// Until published, a version is readable by id but not found by search; versions a crash leaves
/// unpublished are published when the node opens (`recoverPendingWrites`).
public final class PublishBatch: Sendable {
    private let versions = Mutex<[PendingVersion]>([])

    public init() {}

    /// Versions gathered and not yet published.
    public var count: Int { versions.withLock { $0.count } }

    public func add(_ more: [PendingVersion]) { versions.withLock { $0 += more } }

    func drain() -> [PendingVersion] {
        versions.withLock { gathered in
            defer { gathered = [] }
            return gathered
        }
    }
}

/// The custodian's access service: encrypts and indexes records it holds, decides every read
/// against on-chain consent, writes each decision durably to the audit log before releasing
/// anything, and re-wraps data keys for the permitted requester.
public final class AccessService: Sendable {
    public let node: LedgerNode
    public let vault: any VaultStore
    /// Where writes that wait for the vault's disk run from async code (`BlockingIO`).
    public let vaultWrites = BlockingIO(label: "careledger.vault-writes")
    /// Committed versions waiting to be published. Publishes that queue while the vault's writer
    /// is busy go in one transaction (`publishCommitted`): the index pages they share (random-key
    /// inserts land all over the index tables) are written to the WAL once, not once per Bundle.
    private let toPublish = PublishBatch()
    private let custodians: [IdentityID: IdentityKeys]
    private let indexer: BlindIndexer
    private let clock: any LedgerClock
    /// Durable audit appends, group-committed across concurrent reads.
    private let audit: AuditBatcher
    /// How long an opened patient key stays in memory (never on disk).
    public static let patientKeySeconds: Int64 = 60
    /// Most opened patient keys kept.
    public static let patientKeysMax = 10_000
    private let patientKeys = Mutex(PatientKeyCache())
    /// Serializes opening and creating patient keys, so concurrent writers of a new patient agree on one.
    private let patientKeyOpening = Mutex(())
    /// Who is told when audit entries are appended (`auditAppends`).
    private let auditListeners = Mutex<(next: UInt64, all: [UInt64: AsyncStream<Void>.Continuation])>((0, [:]))

    /// `custodians`: the private keys of the organizations whose records this node holds.
    public init(node: LedgerNode, vault: any VaultStore, custodians: [IdentityKeys], indexKey: BlindIndexKey,
                clock: any LedgerClock = SystemClock()) {
        self.node = node
        self.vault = vault
        self.custodians = Dictionary(custodians.map { ($0.derivedID, $0) }, uniquingKeysWith: { a, _ in a })
        self.indexer = BlindIndexer(key: indexKey)
        self.clock = clock
        self.audit = AuditBatcher(vault: vault)
    }

    // MARK: writing

    /// Encrypts a FHIR resource for a new record version: a fresh data key, wrapped under the
    /// patient's key at this custodian (itself HPKE-wrapped to the patient and the custodian);
    /// blind tokens for its identifiers. Nothing is stored yet.
    public func prepare(content: [UInt8], record: Hash256, version: UInt64, patient: IdentityID, custodian: IdentityID)
        throws(AccessError) -> (version: StoredRecordVersion, resourceType: String) {
        let fields: ExtractedFields
        do { fields = try FHIRIndexer.extract(content) } catch { throw .invalidContent(error.diagnostics) }
        return try prepare(content: content, fields: fields, record: record, version: version, patient: patient, custodian: custodian)
    }

    /// `prepare` for a caller that already extracted the index fields from the parsed resource.
    /// `agreementKeys` supplies X25519 keys of readers not yet on-chain (a patient registered in
    /// the same submission as their records).
    public func prepare(content: [UInt8], fields: ExtractedFields, record: Hash256, version: UInt64, patient: IdentityID,
                        custodian: IdentityID, agreementKeys: [IdentityID: [UInt8]] = [:]) throws(AccessError)
        -> (version: StoredRecordVersion, resourceType: String) {
        guard RecordsContract.isResourceTypeName(fields.resourceType) else {
            throw .invalidContent("“\(fields.resourceType)” is not a FHIR resource type")
        }
        let key = DataKey.generate()
        return try Self.accessing {
            let sealed = try RecordCipher.seal(content, with: key, record: record, version: version)
            let patientKey = try writingKey(patient: patient, custodian: custodian, agreementKeys: agreementKeys)
            var tokens = Set<BlindToken>()
            for identifier in fields.identifiers { tokens.formUnion(indexer.tokens(identifier)) }
            let stored = StoredRecordVersion(record: record, version: version, patient: patient, blob: sealed,
                                             dataKey: try patientKey.key.wrap(key, record: record, version: version),
                                             patientKey: patientKey.stored, blindTokens: tokens,
                                             values: fields.values + fields.sortValues.map { IndexedValue(param: $0.param, value: indexer.seal($0.value)) })
            return (stored, fields.resourceType)
        }
    }

    /// Stores prepared versions durably, in one vault transaction, as pending (before their
    /// on-chain registration): a registered version is never without its content, and nothing of
    /// it is searchable or listed until `settle` publishes it.
    public func store(_ versions: [StoredRecordVersion]) throws(AccessError) {
        do { try vault.put(versions) } catch { throw .storage("\(error)") }
    }

    /// Stores a prepared version durably, as pending (before its on-chain registration is submitted).
    public func store(_ version: StoredRecordVersion) throws(AccessError) {
        do { try vault.put([version]) } catch { throw .storage("\(error)") }
    }

    /// After a write's registration: publishes the stored versions the chain holds (its index
    /// entries become the record's); with `refused` (the ledger definitely refused the write — not
    /// a timeout, after which it may still commit) removes the others and their ciphertext.
    /// Returns how many were published and removed.
    @discardableResult
    public func settle(_ versions: [PendingVersion], refused: Bool) throws(AccessError) -> (published: Int, discarded: Int) {
        let state = node.state
        // An erased record's content is gone for good: its pending versions are removed, never published.
        let committed = versions.filter { version in
            RecordIndex.version(version.record, version.version, in: state)?.ciphertextHash == version.blob
                && RecordIndex.current(version.record, in: state)?.isErased == false
        }
        let erased = versions.filter { RecordIndex.current($0.record, in: state)?.isErased == true }
        let rest = versions.filter { !committed.contains($0) && (refused || erased.contains($0)) }
        do {
            try vault.publish(committed.sorted { ($0.record, $0.version) < ($1.record, $1.version) })
            return (committed.count, try vault.discard(rest))
        } catch { throw .storage("\(error)") }
    }

    /// Publishes `versions` (committed on the chain), with any others queued meanwhile, in one
    /// vault transaction on the vault's writer thread. Returns once `versions` are settled.
    public func publishCommitted(_ versions: [PendingVersion]) async throws(AccessError) {
        toPublish.add(versions)
        // Runs after every earlier call's run: whatever was queued before this one started is
        // settled by now, by this run or an earlier one that took it.
        try await vaultWrites.run { () throws(AccessError) in
            let batch = self.toPublish.drain()
            if !batch.isEmpty { _ = try self.settle(batch, refused: false) }
        }
    }

    /// Publishes what `batch` has gathered (and any other queued publishes) in one transaction.
    public func publish(_ batch: PublishBatch) async throws(AccessError) {
        let versions = batch.drain()
        if !versions.isEmpty { try await publishCommitted(versions) }
    }

    /// Settles every pending version a crash or a timed-out write left behind: those the chain
    /// holds are published, the rest removed (after a restart nothing unsubmitted can commit).
    /// Call once the node is open, before serving.
    @discardableResult
    public func recoverPendingWrites() throws(AccessError) -> (published: Int, discarded: Int) {
        var total = (published: 0, discarded: 0)
        while true {
            let pending: [PendingVersion]
            do { pending = try vault.pendingVersions(limit: 1_000) } catch { throw .storage("\(error)") }
            guard !pending.isEmpty else { return total }
            let done = try settle(pending, refused: true)
            total = (total.published + done.published, total.discarded + done.discarded)
        }
    }

    // MARK: reading

    /// Decides a read, logs the decision durably, and only then releases the record re-wrapped
    /// for the requester. The requester must already be authenticated by the caller.
    public func read(_ request: AccessRequest, sealedJustification: [UInt8]? = nil) async throws(AccessError) -> RecordRelease {
        precondition(request.action == .read, "contributions go through records.register")
        let height = node.height + 1
        let now = clock.nowMs()
        let decision = ConsentPolicy.decide(request, in: node.state, nowMs: now, height: height)
        try checkStateReads()
        let patient = decision.record?.patient ?? Hash256.zero
        let entry = AuditEntry(timeMs: now, requester: request.requester, patient: patient, record: request.record,
                               version: decision.isPermitted ? decision.record?.version ?? 0 : 0, purpose: request.purpose,
                               action: request.action, outcome: decision.outcome, reason: decision.reason, consent: decision.consent,
                               sealedJustification: decision.outcome == .breakGlass ? sealedJustification : nil)
        let auditSize: UInt64
        do { auditSize = try await audit.append([(entry.encoded, patient)]) + 1 } catch { throw .auditUnavailable("\(error)") }
        // Event streams learn of it as of any other append (`auditAppends`).
        auditListeners.withLock { listeners in for listener in listeners.all.values { listener.yield() } }
        guard decision.isPermitted, let record = decision.record else { throw .denied(decision) }
        return try release(record, to: request.requester, decision: decision, auditIndex: auditSize - 1)
    }

    /// The decision for a request, without logging it (to filter search candidates; whatever is
    /// then served goes through `serve`, which logs).
    public func decide(_ request: AccessRequest) async -> Decision {
        ConsentPolicy.decide(request, in: node.state, nowMs: clock.nowMs(), height: node.height + 1)
    }

    /// The custodian's own read path (its FHIR server answering an authenticated requester over
    /// HTTPS): decides every request, writes all decisions to the audit log in one durable batch,
    /// and only then decrypts the permitted records with the custodian's key. `versions` picks
    /// an older version of a record (vread): the decision is against the current entry, under
    /// its labels and the older version's own.
    public func serve(_ requests: [AccessRequest], versions: [Hash256: UInt64] = [:]) async throws(AccessError) -> [ServedRecord] {
        guard !requests.isEmpty else { return [] }
        precondition(requests.allSatisfy { $0.action == .read }, "contributions go through records.register")
        let requests = requests.map { request in
            var request = request
            request.version = request.version ?? versions[request.record]
            return request
        }
        let (decisions, firstIndex) = try await authorize(requests)
        var out: [ServedRecord] = []
        for (offset, (request, decision)) in zip(requests, decisions).enumerated() {
            let auditIndex = firstIndex + UInt64(offset)
            guard decision.isPermitted, let current = decision.record else {
                out.append(ServedRecord(request: request, decision: decision, entry: decision.record, content: nil, auditIndex: auditIndex))
                continue
            }
            var entry = current
            if let version = versions[request.record], version != current.version {
                guard let old = RecordIndex.version(request.record, version, in: node.state) else {
                    out.append(ServedRecord(request: request, decision: decision, entry: nil, content: nil, auditIndex: auditIndex))
                    continue
                }
                entry = old
            }
            let content = try decrypt(entry)
            out.append(ServedRecord(request: request, decision: decision, entry: entry, content: content, auditIndex: auditIndex))
        }
        return out
    }

    /// Decides read requests and writes every decision to the audit log in durable batches,
    /// releasing nothing itself: for a caller that already holds the content and must not hand it
    /// out without a fresh, logged permit (an export file downloaded after it was made), or that
    /// shows only what the decision lets it say about a record (`releasing` false: its entry in
    /// a listing, that it matches a search and counts in its total; logged as version 0).
    /// Returns the decisions and the audit index of the first.
    public func authorize(_ requests: [AccessRequest], releasing: Bool = true) async throws(AccessError)
        -> (decisions: [Decision], firstAuditIndex: UInt64) {
        guard !requests.isEmpty else { return ([], 0) }
        precondition(requests.allSatisfy { $0.action == .read }, "contributions go through records.register")
        let height = node.height + 1
        let now = clock.nowMs()
        let decisions = requests.map { ConsentPolicy.decide($0, in: node.state, nowMs: now, height: height) }
        try checkStateReads()
        var entries: [(bytes: [UInt8], patient: IdentityID)] = []
        for (request, decision) in zip(requests, decisions) {
            let patient = decision.record?.patient ?? Hash256.zero
            let version = decision.isPermitted && releasing ? request.version ?? decision.record?.version ?? 0 : 0
            let entry = AuditEntry(timeMs: now, requester: request.requester, patient: patient, record: request.record, version: version,
                                   purpose: request.purpose, action: request.action, outcome: decision.outcome, reason: decision.reason,
                                   consent: decision.consent, sealedJustification: nil)
            entries.append((entry.encoded, patient))
        }
        return (decisions, try await appendAudit(entries))
    }

    /// Writes decisions about ledger objects that concern a patient — a claim, coverage, prior
    /// authorization, prescription, trial participation or telehealth session, decided by
    /// `ReadRules` rather than by a consent — to the audit log in one durable batch, before the
    /// caller shows anything (security review finding 10). Each entry names the object's id as its
    /// record, version 0 (no record content is released), reason `party` or `not-a-party`.
    public func logObjectReads(_ reads: [ObjectRead]) async throws(AccessError) {
        guard !reads.isEmpty else { return }
        try checkStateReads()
        let now = clock.nowMs()
        let entries = reads.map { read in
            let entry = AuditEntry(timeMs: now, requester: read.requester, patient: read.patient, record: read.object, version: 0,
                                   purpose: read.purpose, action: .read, outcome: read.permitted ? .permit : .deny,
                                   reason: read.permitted ? .party : .notAParty, consent: nil, sealedJustification: nil)
            return (entry.encoded, read.patient)
        }
        _ = try await appendAudit(entries)
    }

    /// Appends entries to the audit log durably, in batches the batcher takes; the index of the first.
    private func appendAudit(_ entries: [(bytes: [UInt8], patient: IdentityID)]) async throws(AccessError) -> UInt64 {
        var firstIndex: UInt64 = 0
        do {
            for chunk in stride(from: 0, to: entries.count, by: AuditBatcher.batchEntriesMax) {
                let first = try await audit.append(Array(entries[chunk..<min(chunk + AuditBatcher.batchEntriesMax, entries.count)]))
                if chunk == 0 { firstIndex = first }
            }
        } catch { throw .auditUnavailable("\(error)") }
        auditListeners.withLock { listeners in for listener in listeners.all.values { listener.yield() } }
        return firstIndex
    }

    /// A signal after each durable append to the audit log (the entries are read with
    /// `auditEntries(from:limit:)`); signals not yet taken are merged into one.
    public func auditAppends() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let token = auditListeners.withLock { listeners in
            listeners.next += 1
            listeners.all[listeners.next] = continuation
            return listeners.next
        }
        continuation.onTermination = { [weak self] _ in _ = self?.auditListeners.withLock { $0.all.removeValue(forKey: token) } }
        return stream
    }

    /// Refuses to act on decisions once a read of the node's state has failed: a consent or a
    /// revocation that could not be read looks absent, and the decision may be wrong.
    private func checkStateReads() throws(AccessError) {
        if let failure = node.stateReadFailure { throw .storage("\(failure)") }
    }

    /// Decrypts a record version with its custodian's key (held by this node).
    private func decrypt(_ entry: RecordEntry) throws(AccessError) -> [UInt8] {
        let (blob, key) = try custodianKey(entry)
        do { return try RecordCipher.open(blob, with: key, record: entry.record, version: entry.version) } catch { throw .vault(error) }
    }

    /// A record version's ciphertext and its data key: unwrapped under the patient key, which is
    /// opened with the custodian's private key and kept in memory for `patientKeySeconds`.
    /// (Versions written before patient keys have their data key HPKE-wrapped to the custodian.)
    private func custodianKey(_ entry: RecordEntry) throws(AccessError) -> (SealedRecord, DataKey) {
        guard let custodianKeys = custodians[entry.custodian] else { throw .notHeldHere(custodian: entry.custodian) }
        return try Self.accessing {
            guard let (blob, dataKey) = try vault.sealedVersion(blob: entry.ciphertextHash, record: entry.record, version: entry.version)
            else { throw AccessError.contentUnavailable(entry.record) }
            if let wrapped = dataKey {
                let patientKey = try openedKey(wrapped.patientKey, custodian: custodianKeys)
                return (blob, try patientKey.unwrap(wrapped, record: entry.record, version: entry.version))
            }
            guard let legacy = try vault.wrappedKey(record: entry.record, version: entry.version, recipient: entry.custodian)
            else { throw AccessError.contentUnavailable(entry.record) }
            return (blob, try KeyWrap.unwrap(legacy, with: custodianKeys.agreement,
                                             context: WrapContext(record: entry.record, version: entry.version, recipient: entry.custodian)))
        }
    }

    /// A patient key by id, from memory or opened from the vault with the custodian's private key.
    private func openedKey(_ id: Hash256, custodian: IdentityKeys) throws(AccessError) -> PatientKey {
        let now = clock.nowMs()
        if let hit = patientKeys.withLock({ $0.byID[id] }), hit.expiresMs > now { return hit.key }
        return try Self.accessing {
            guard let stored = try vault.patientKey(id: id) else { throw AccessError.integrity("patient key \(id.hex) is not in the vault") }
            let opened = try open(stored, custodian: custodian)
            remember(opened, stored: stored, now: now, current: false)
            return opened
        }
    }

    /// The patient key new versions of `patient`'s records at `custodian` are wrapped under: the
    /// one in memory, else the newest in the vault, else a new one wrapped to the patient and
    /// the custodian — new also when either has rotated their X25519 key since the copies were
    /// made. `agreementKeys` supplies X25519 keys of readers not yet on-chain.
    private func writingKey(patient: IdentityID, custodian: IdentityID, agreementKeys: [IdentityID: [UInt8]])
        throws(AccessError) -> (key: PatientKey, stored: StoredPatientKey) {
        guard let custodianKeys = custodians[custodian] else { throw .notHeldHere(custodian: custodian) }
        // Directory data (no patient) is wrapped to its custodian alone.
        var readers: [(id: IdentityID, agreementKey: [UInt8])] = []
        for reader in patient == RecordEntry.noPatient ? [custodian] : [patient, custodian] {
            guard let agreementKey = agreementKeys[reader] ?? Directory.identity(reader, in: node.state)?.agreementKey else {
                throw .unknownIdentity(reader)
            }
            readers.append((reader, agreementKey))
        }
        func current(_ stored: StoredPatientKey) -> Bool { readers.allSatisfy { stored.copies[$0.id]?.agreementKey == $0.agreementKey } }
        let owner = PatientKeyCache.Owner(patient: patient, custodian: custodian)
        let now = clock.nowMs()
        if let hit = patientKeys.withLock({ $0.current(owner, now: now) }), current(hit.stored) { return hit }
        return try Self.accessing {
            return try patientKeyOpening.withLock { _ in
                if let hit = patientKeys.withLock({ $0.current(owner, now: now) }), current(hit.stored) { return hit }
                if let stored = try vault.patientKey(patient: patient, custodian: custodian), current(stored) {
                    let opened = try open(stored, custodian: custodianKeys)
                    remember(opened, stored: stored, now: now, current: true)
                    return (opened, stored)
                }
                let key = PatientKey.generate()
                var copies: [IdentityID: PatientKeyCopy] = [:]
                for reader in readers {
                    copies[reader.id] = PatientKeyCopy(agreementKey: reader.agreementKey, wrapped: try key.wrap(to: reader.agreementKey, recipient: reader.id))
                }
                let stored = StoredPatientKey(id: key.id, patient: patient, custodian: custodian, copies: copies)
                remember(key, stored: stored, now: now, current: true)
                return (key, stored)
            }
        }
    }

    /// Runs vault and storage work, mapping what it throws to an AccessError.
    private static func accessing<T>(_ body: () throws -> T) throws(AccessError) -> T {
        do { return try body() } catch let error as AccessError { throw error } catch let error as VaultError { throw .vault(error) } catch {
            throw .storage("\(error)")
        }
    }

    private func open(_ stored: StoredPatientKey, custodian: IdentityKeys) throws(AccessError) -> PatientKey {
        guard let copy = stored.copies[custodian.derivedID] else {
            throw .integrity("patient key \(stored.id.hex) has no copy for custodian \(custodian.derivedID.hex)")
        }
        do { return try PatientKey.unwrap(copy.wrapped, id: stored.id, with: custodian.agreement, recipient: custodian.derivedID) } catch { throw .vault(error) }
    }

    private func remember(_ key: PatientKey, stored: StoredPatientKey, now: Int64, current: Bool) {
        patientKeys.withLock { cache in
            if cache.byID.count >= Self.patientKeysMax { cache.dropExpired(now: now) }
            if cache.byID.count >= Self.patientKeysMax { cache = PatientKeyCache() }
            cache.byID[key.id] = .init(key: key, stored: stored, expiresMs: now + Self.patientKeySeconds * 1_000)
            if current { cache.current[.init(patient: stored.patient, custodian: stored.custodian)] = key.id }
        }
    }

    /// The custodian organizations whose keys this node holds.
    public var custodianIDs: [IdentityID] { custodians.keys.sorted() }

    /// A custodian's keys (to sign its registrations).
    public func custodianKeys(_ id: IdentityID) -> IdentityKeys? { custodians[id] }

    private func release(_ record: RecordEntry, to requester: IdentityID, decision: Decision, auditIndex: UInt64) throws(AccessError) -> RecordRelease {
        guard let identity = Directory.identity(requester, in: node.state) else { throw .unknownIdentity(requester) }
        let (blob, key) = try custodianKey(record)
        do {
            let rewrapped = try KeyWrap.wrap(key, to: identity.agreementKey,
                                             context: WrapContext(record: record.record, version: record.version, recipient: requester))
            return RecordRelease(entry: record, blob: blob, wrappedKey: rewrapped, decision: decision, auditIndex: auditIndex)
        } catch { throw .vault(error) }
    }

    // MARK: search, erasure, audit

    /// Records whose blind index matches `query` in `field` for the search parameter `scope`
    /// (nil: the field's own name), matched as `match` says. Reading them still needs a permitted decision.
    public func search(_ field: IdentifierField, _ query: String, match: BlindMatch = .prefix, scope: String? = nil,
                       limit: Int = 100) throws(AccessError) -> [Hash256] {
        if field == .birthDate {
            // A date (YYYY, YYYY-MM or YYYY-MM-DD): the records whose date falls in it.
            guard let range = FHIRDateTime.range(query) else { return [] }
            return try search(field, prefix: "eq", lo: range.lo, hi: range.hi, scope: scope, limit: limit)
        }
        let tokens = indexer.queryTokens(field: field, query: query, match: match, scope: scope)
        guard !tokens.isEmpty else { return [] }
        do { return try vault.records(withAll: tokens, limit: limit) } catch { throw .storage("\(error)") }
    }

    /// Index parameters a vault written before 2026-12-05 holds readable that are now blind: a
    /// birth date and a gender are quasi-identifiers (security review finding 10).
    static let blindedParameters: [(param: String, field: IdentifierField)] = [("birthdate", .birthDate), ("gender", .gender)]

    /// Moves `blindedParameters` still held readable in the vault's index to the blind index
    /// (tokens from the stored values) and deletes the readable values; returns how many records
    /// were moved. Idempotent; `LocalLedger.open` runs it after settling pending writes.
    public func blindLegacyIndexValues() throws(AccessError) -> Int {
        var moved = 0
        for (param, field) in Self.blindedParameters {
            do {
                // Only records with a readable value: the sealed ones ("sealed:…") sort between these two
                // ranges, so a converted vault costs two empty index lookups at each open, not a scan.
                let sealedEnd = String(BlindIndexer.sealedPrefix.dropLast()) + ";"
                let records = Array(Set(try vault.records(param: param, from: "", to: BlindIndexer.sealedPrefix, limit: Int.max)
                    + vault.records(param: param, from: sealedEnd, to: nil, limit: Int.max)))
                guard !records.isEmpty else { continue }
                var tokens: [Hash256: [BlindToken]] = [:]
                var sealed: [Hash256: [String]] = [:]
                for chunk in stride(from: 0, to: records.count, by: 10_000) {
                    let values = try vault.values(param: param, records: Array(records[chunk..<min(records.count, chunk + 10_000)]))
                    for (record, texts) in values {
                        let readable = texts.filter { !$0.hasPrefix(BlindIndexer.sealedPrefix) }
                        guard !readable.isEmpty else { continue }
                        tokens[record] = Array(readable.reduce(into: Set<BlindToken>()) { $0.formUnion(indexer.tokens(field: field, value: $1)) })
                        // A date stays sortable: sealed.
                        if field == .birthDate { sealed[record] = readable.map(indexer.seal) }
                    }
                }
                guard !tokens.isEmpty else { continue }
                try vault.blindIndexedValues(param: param, tokens: tokens, sealed: sealed)
                moved += tokens.count
            } catch { throw .storage("moving \(param) to the blind index: \(error)") }
        }
        return moved
    }

    /// Indexes every published record again from its content (decrypted with its custodian's key,
    /// held here), replacing what an earlier release's search table indexed; records this node
    /// holds no custodian key for, and erased ones, are left as they are. Returns how many were indexed.
    public func rebuildSearchIndex() throws(AccessError) -> Int {
        var after: Hash256?
        var count = 0
        while true {
            let page: [(record: Hash256, version: UInt64)]
            do { page = try vault.indexedVersions(after: after, limit: 500) } catch { throw .storage("\(error)") }
            guard let last = page.last else { return count }
            after = last.record
            var batch: [(record: Hash256, version: UInt64, tokens: [BlindToken], values: [IndexedValue])] = []
            for (record, version) in page {
                guard let entry = RecordIndex.version(record, version, in: node.state) ?? RecordIndex.current(record, in: node.state),
                      entry.version == version, !entry.isErased, custodians[entry.custodian] != nil else { continue }
                guard let fields = try? FHIRIndexer.extract(try decrypt(entry)) else { continue }
                var tokens = Set<BlindToken>()
                for identifier in fields.identifiers { tokens.formUnion(indexer.tokens(identifier)) }
                batch.append((record, version, Array(tokens),
                              fields.values + fields.sortValues.map { IndexedValue(param: $0.param, value: indexer.seal($0.value)) }))
            }
            do { try vault.reindex(batch) } catch { throw .storage("rebuilding the search index: \(error)") }
            count += batch.count
        }
    }

    /// The indexed values of `param` for `records`, sealed ones opened (to sort by; never shown).
    public func sortValues(param: String, records: [Hash256]) throws(AccessError) -> [Hash256: [String]] {
        do {
            return try vault.values(param: param, records: records).mapValues { texts in
                texts.map { $0.hasPrefix(BlindIndexer.sealedPrefix) ? indexer.open($0) ?? "" : $0 }
            }
        } catch { throw .storage("\(error)") }
    }

    /// Records whose blind-indexed date in `field` (a day, a month or a year, as written) matches
    /// the interval [`lo`, `hi`) under a FHIR prefix (`BlindIndexer.dateQueryTokens`).
    public func search(_ field: IdentifierField, prefix: String, lo: String, hi: String, scope: String? = nil, limit: Int) throws(AccessError) -> [Hash256] {
        let tokens = indexer.dateQueryTokens(field: field, prefix: prefix, lo: lo, hi: hi, scope: scope)
        guard !tokens.isEmpty else { return [] }
        do { return try vault.records(withAny: tokens, limit: limit) } catch { throw .storage("\(error)") }
    }

    /// Records with at least one word indexed in `field` (FHIR `:missing=false`).
    public func records(withAny field: IdentifierField, scope: String? = nil, limit: Int) throws(AccessError) -> [Hash256] {
        do { return try vault.records(withAll: [indexer.presenceToken(field: field, scope: scope)], limit: limit) } catch { throw .storage("\(error)") }
    }

    /// Crypto-shreds a record whose erasure is committed on-chain: blobs, wrapped keys, index.
    public func shred(_ record: Hash256) throws(AccessError) -> ErasureReport {
        guard let entry = RecordIndex.current(record, in: node.state), entry.isErased else {
            throw .integrity("record \(record.hex) has no committed erasure on the chain")
        }
        do { return try vault.erase(record: record) } catch { throw .storage("\(error)") }
    }

    /// A patient's access-log entries, oldest first.
    public func accessLog(patient: IdentityID, after: UInt64? = nil, limit: Int = 1_000) throws(AccessError) -> [(index: UInt64, entry: AuditEntry)] {
        do {
            return try vault.auditEntries(patient: patient, after: after, limit: limit).compactMap { stored in
                AuditEntry(decoding: stored.bytes).map { (stored.index, $0) }
            }
        } catch { throw .storage("\(error)") }
    }

    /// A patient's access-log entries newest first, before index `before` (nil: from the newest).
    public func accessLog(patient: IdentityID, before: UInt64?, limit: Int) throws(AccessError) -> [(index: UInt64, entry: AuditEntry)] {
        do {
            return try vault.auditEntries(patient: patient, before: before, limit: limit).compactMap { stored in
                AuditEntry(decoding: stored.bytes).map { (stored.index, $0) }
            }
        } catch { throw .storage("\(error)") }
    }

    /// Up to `limit` consecutive access-log entries from index `from`, every patient, oldest first
    /// (entries that do not decode are skipped).
    public func auditEntries(from: UInt64, limit: Int) throws(AccessError) -> [(index: UInt64, entry: AuditEntry)] {
        do {
            return try vault.auditEntries(from: from, limit: limit).compactMap { stored in
                AuditEntry(decoding: stored.bytes).map { (stored.index, $0) }
            }
        } catch { throw .storage("\(error)") }
    }

    /// The number of entries in the access log.
    public func auditSize() throws(AccessError) -> UInt64 {
        do { return try vault.auditHead().size } catch { throw .storage("\(error)") }
    }

    /// The audit tree head to anchor next, if the log grew past what `anchorer` last anchored.
    public func pendingAnchor(by anchorer: IdentityID) throws(AccessError) -> (size: UInt64, root: Hash256)? {
        let head: (size: UInt64, root: Hash256)
        do { head = try vault.auditHead() } catch { throw .storage("\(error)") }
        let anchored = AuditContract.head(of: anchorer, in: node.state)?.size ?? 0
        return head.size > anchored ? head : nil
    }

    /// Proves an audit entry is in the latest audit tree head `anchorer` anchored on-chain.
    public func auditProof(index: UInt64, anchorer: IdentityID) throws(AccessError) -> AuditProof {
        guard let anchor = AuditContract.head(of: anchorer, in: node.state), index < anchor.size else {
            throw .integrity("audit entry \(index) is not anchored yet")
        }
        do {
            guard let stored = try vault.auditEntry(index) else { throw AccessError.integrity("no audit entry \(index)") }
            let proof = try MerkleProofBuilder(source: vault).inclusionProof(index: index, size: anchor.size)
            return AuditProof(index: index, entry: stored.bytes, anchor: anchor, proof: proof)
        } catch let error as AccessError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }
}

/// Opened patient keys by id, and which one is current for writing each (patient, custodian).
private struct PatientKeyCache {
    struct Owner: Hashable { let patient: IdentityID; let custodian: IdentityID }
    struct Opened { let key: PatientKey; let stored: StoredPatientKey; let expiresMs: Int64 }
    var byID: [Hash256: Opened] = [:]
    var current: [Owner: Hash256] = [:]

    func current(_ owner: Owner, now: Int64) -> (key: PatientKey, stored: StoredPatientKey)? {
        guard let id = current[owner], let hit = byID[id], hit.expiresMs > now else { return nil }
        return (hit.key, hit.stored)
    }

    mutating func dropExpired(now: Int64) {
        byID = byID.filter { $0.value.expiresMs > now }
        current = current.filter { byID[$0.value] != nil }
    }
}
