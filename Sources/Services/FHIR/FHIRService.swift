public import Contracts
public import FHIR
import Foundation
public import LedgerCore
public import Node
import Storage
import Vault

/// Keys the custodian generated for patients registered through FHIR, kept until the patient
/// takes them over (by rotating to a key of their own).
public protocol PatientKeyStore: Sendable {
    func save(_ keys: IdentityKeys) throws
    /// The keys kept for a patient, if this server holds them.
    func keys(of id: IdentityID) -> IdentityKeys?
    /// Whether keys are kept for the patient, without opening them.
    func holds(_ id: IdentityID) -> Bool
    /// Deletes the keys kept for the patient (none kept: nothing happens).
    func forget(_ id: IdentityID) throws
}

/// Keeps generated patient keys in memory (tests).
public final class MemoryPatientKeyStore: PatientKeyStore, @unchecked Sendable {
    private var keys: [IdentityID: IdentityKeys] = [:]
    private let lock = NSLock()
    public init() {}
    public func save(_ keys: IdentityKeys) throws { lock.withLock { self.keys[keys.derivedID] = keys } }
    public func keys(of id: IdentityID) -> IdentityKeys? { lock.withLock { keys[id] } }
    public func holds(_ id: IdentityID) -> Bool { lock.withLock { keys[id] != nil } }
    public func forget(_ id: IdentityID) throws { _ = lock.withLock { keys.removeValue(forKey: id) } }
}

/// One stored resource version as the FHIR API shows it.
public struct FHIRVersion: @unchecked Sendable {
    /// The parsed resource (empty when read with `parse: false`; then use `content`).
    public let resource: [String: Any]
    public let type: String
    public let id: String
    public let version: UInt64
    public let lastUpdatedMs: Int64
    public let entry: RecordEntry
    /// The stored JSON exactly as kept (it already carries meta.versionId and lastUpdated), when read.
    public var content: [UInt8]? = nil
}

/// The FHIR facade over records: resources are encrypted records in the vault, registered
/// on-chain by the custodian organization on behalf of the authenticated author; every read is
/// a consent decision written to the audit log before anything is decrypted.
public final class FHIRService: Sendable {
    public let access: AccessService
    /// Signs and submits the custodian's registrations (shared with the rest of the process, so
    /// sequence numbers are handed out in one place).
    public let client: LedgerClient
    public let patientKeys: any PatientKeyStore
    /// Bulk export jobs (output in memory only).
    public let exports = ExportJobs()
    /// How broad a search may be (`SearchLimits.standard`; tests use small ones).
    public let searchLimits: SearchLimits

    /// The node's keyed record ids (security review finding 1).
    public let recordIDs: FHIRRecordIDs

    public init(client: LedgerClient, access: AccessService, patientKeys: any PatientKeyStore, recordIDs: FHIRRecordIDs,
                searchLimits: SearchLimits = .standard) {
        (self.client, self.access, self.patientKeys, self.recordIDs, self.searchLimits) = (client, access, patientKeys, recordIDs, searchLimits)
    }

    public var node: LedgerNode { access.node }
    public var state: any StateReader { access.node.state }

    /// The on-chain record id of a FHIR resource: its type and id under a domain tag.
    /// The record of FHIR resource `type/id` at this node (`FHIRRecordIDs.resolve`).
    public func recordID(type: String, id: String) -> Hash256 { recordIDs.resolve(type: type, id: id, in: state) }

    // MARK: writes

    /// The custodian a requester writes for: its own organization (when this node holds that
    /// organization's key) and only with an author role; an organization writes for itself.
    public func custodian(for requester: Identity) throws(FHIRError) -> IdentityKeys {
        let organization = requester.kind == .organization ? requester.id : requester.organization
        guard let organization, let keys = access.custodianKeys(organization) else {
            throw .forbidden("this server writes only for the organizations whose keys it holds; \(requester.id.hex) is not their staff")
        }
        if requester.kind != .organization,
           RecordsContract.authorRoles.isDisjoint(with: Directory.effectiveRoles(of: requester, in: state)) {
            throw .forbidden("writing records needs one of the roles \(RecordsContract.authorRoles.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        return keys
    }

    /// `$validate` (type or instance level): the OperationOutcome of checking `body` — the resource,
    /// or a Parameters resource whose `resource` parameter holds it — as a `type` (with id `id` at
    /// instance level) against the R4 definitions. Nothing is stored and nothing is read.
    public static func validate(_ body: [String: Any], type: String, id: String?) throws(FHIRError) -> [String: Any] {
        var resource = body
        if body["resourceType"] as? String == "Parameters" {
            let parameters = body["parameter"] as? [[String: Any]] ?? []
            guard let given = parameters.first(where: { $0["name"] as? String == "resource" })?["resource"] as? [String: Any] else {
                throw .invalid("$validate takes the resource, or Parameters with a `resource` parameter", at: "Parameters.parameter")
            }
            resource = given
        }
        guard resource["resourceType"] as? String == type else {
            throw .invalid("the resource to validate is not a \(type)", at: "resourceType")
        }
        if let id, let given = resource["id"] as? String, given != id {
            throw .invalid("resource id \(given) does not match the URL's \(id)", at: "\(type).id")
        }
        return FHIRValidator.outcome(FHIRValidator.validate(resource))
    }

    /// Creates a resource (server-assigned id unless `id` is given, as in update-as-create).
    public func create(_ resource: [String: Any], type: String, id: String? = nil, requester: Identity) async throws(FHIRError) -> FHIRVersion {
        try FHIRJSON.validate(resource, expectedType: type)
        try FHIRJSON.conform(resource)
        let id = id ?? UUID().uuidString.lowercased()
        let record = recordID(type: type, id: id)
        if RecordIndex.current(record, in: state) != nil { throw .conflict("\(type)/\(id) already exists") }
        return try await write(resource, type: type, id: id, version: 1, requester: requester)
    }

    /// Writes the next version of an existing resource; `ifMatch` is the version the client saw;
    /// `ifNoneMatch` (`If-None-Match: *`) writes only if there is no resource at `id` yet.
    public func update(_ resource: [String: Any], type: String, id: String, ifMatch: UInt64?, ifNoneMatch: Bool = false,
                       requester: Identity) async throws(FHIRError) -> (version: FHIRVersion, created: Bool) {
        try FHIRJSON.validate(resource, expectedType: type)
        try FHIRJSON.conform(resource)
        guard let bodyID = resource["id"] as? String else { throw .invalid("the resource in an update must carry its id", at: "\(type).id") }
        guard bodyID == id else { throw .invalid("resource id \(bodyID) does not match the URL's \(id)", at: "\(type).id") }
        let record = recordID(type: type, id: id)
        guard let current = RecordIndex.current(record, in: state) else {
            if let ifMatch { throw .preconditionFailed("\(type)/\(id) does not exist (If-Match W/\"\(ifMatch)\")") }
            return (try await write(resource, type: type, id: id, version: 1, requester: requester), true)
        }
        // Whether the requester may write here is decided before anything about the record is
        // told (its version, its erasure): a stale If-Match answered 412 to anyone, naming the
        // version (security review finding 12). The custodian's own staff write; others need a
        // contribute consent, as the records contract requires.
        let organization = requester.kind == .organization ? requester.id : requester.organization
        if organization != current.custodian {
            let decision = await access.decide(AccessRequest(requester: requester.id, record: record, purpose: .treatment, action: .contribute))
            guard decision.isPermitted else { throw .forbidden("access denied: \(decision.requesterReason.text)") }
        }
        if ifNoneMatch { throw .preconditionFailed("\(type)/\(id) exists (If-None-Match: *)") }
        guard !current.isErased else { throw .gone("\(type)/\(id) was deleted (erased)") }
        if let ifMatch, ifMatch != current.version {
            throw .preconditionFailed("\(type)/\(id) is at version \(current.version), not \(ifMatch)")
        }
        return (try await write(resource, type: type, id: id, version: current.version + 1, requester: requester), false)
    }

    private func write(_ input: [String: Any], type: String, id: String, version: UInt64, requester: Identity) async throws(FHIRError) -> FHIRVersion {
        let custodian = try custodian(for: requester)
        let record = recordID(type: type, id: id)
        let nowMs = await access.node.nextBlockTimeMs  // the node's clock, never behind the head block
        let resource = Self.stamped(input, id: id, version: version, nowMs: nowMs)
        let category = FHIRSensitivity.category(of: resource)

        var transactions: [UnsignedCall] = []
        let patient: IdentityID
        if RecordsContract.directoryResourceTypes.contains(type) {
            patient = RecordEntry.noPatient
        } else if type == "Patient" {
            if version == 1, let linked = try linkedPatient(resource, at: type) {
                // A patient who holds their own keys: the resource names their ledger id.
                patient = linked
            } else if version == 1 {
                // A patient registered through FHIR gets ledger keys generated here, kept for them.
                let keys = IdentityKeys.generate()
                do { try patientKeys.save(keys) } catch { throw FHIRError(500, "exception", "could not keep the patient's keys: \(error)") }
                transactions.append(UnsignedCall(keys, call: MembershipContract.RegisterPatient(agreementKey: keys.agreementPublicKey), sequence: 1))
                patient = keys.derivedID
            } else {
                guard let existing = RecordIndex.current(record, in: state) else { throw .notFound("\(type)/\(id)") }
                patient = existing.patient
            }
        } else if version > 1, let existing = RecordIndex.current(record, in: state) {
            patient = existing.patient
        } else {
            patient = try self.patient(of: resource, type: type, bundlePatients: [:], at: type)
        }
        // A new patient is registered first: the records contract (and admission's dry run) needs it on-chain.
        if !transactions.isEmpty {
            try await commit(transactions)
            transactions = []
        }
        let content = FHIRJSON.data(resource, sorted: false)
        let prepared: StoredRecordVersion
        do {
            prepared = try access.prepare(content: content, fields: FHIRIndexer.extract(resource), record: record, version: version,
                                          patient: patient, custodian: custodian.derivedID).version
            try access.store(prepared)
        } catch { throw FHIRError(500, "exception", "could not encrypt and store the resource: \(error)") }

        let registration = Self.registration(record: record, type: type, category: category, ciphertext: prepared.blob.hash,
                                             version: version, patient: patient, requester: requester)
        // On a consortium node the record's labels go to the custodian's collection only.
        transactions.append(client.call(custodian, endorsedOnConsortium: registration, for: [custodian.derivedID]))
        let committed: RecordEntry?
        do {
            committed = try await access.registering([prepared], isRefusal: Self.isRefusal) { try await commit(transactions, record: record) }
        } catch { throw Self.fhirError(error) }
        guard let entry = committed else { throw FHIRError(500, "exception", "the committed record is not in state") }
        return FHIRVersion(resource: resource, type: type, id: id, version: version, lastUpdatedMs: nowMs, entry: entry)
    }

    /// The registered patient a new Patient resource names by an identifier of system
    /// `urn:careledger:identity`: a patient who holds their own keys gives the custodian their ledger
    /// id, and their records are registered under it (no keys are generated or kept for them). Nil
    /// when the resource has no such identifier.
    public func linkedPatient(_ resource: [String: Any], at path: String) throws(FHIRError) -> IdentityID? {
        let identifiers = (resource["identifier"] as? [[String: Any]] ?? []).filter { $0["system"] as? String == Self.identitySystem }
        guard !identifiers.isEmpty else { return nil }
        guard identifiers.count == 1, let value = identifiers[0]["value"] as? String, let id = Hash256(hex: value) else {
            throw .invalid("a Patient names at most one \(Self.identitySystem) identifier, whose value is a 64-hex ledger id", at: "\(path).identifier")
        }
        guard let identity = Directory.identity(id, in: state), identity.kind == .patient, !identity.revoked else {
            throw .unprocessable("identifier \(Self.identitySystem)|\(value) names no active patient registered on the ledger", at: "\(path).identifier")
        }
        return id
    }

    /// The resource as stored: its id, and meta.versionId and meta.lastUpdated set (other meta kept).
    public static func stamped(_ input: [String: Any], id: String, version: UInt64, nowMs: Int64) -> [String: Any] {
        var resource = input
        resource["id"] = id
        var meta = resource["meta"] as? [String: Any] ?? [:]
        meta["versionId"] = String(version)
        meta["lastUpdated"] = FHIRDateTime.instant(ms: nowMs)
        resource["meta"] = meta
        return resource
    }

    /// One `records.register` (or one `registerMany` entry); an organization writing for a staff
    /// member names them as `agent`.
    public static func registration(record: Hash256, type: String, category: SensitivityCategory, ciphertext: Hash256, version: UInt64,
                             patient: IdentityID, requester: Identity) -> RecordsContract.Register {
        RecordsContract.Register(record: record, patient: patient != RecordEntry.noPatient ? patient : nil, resourceType: type, category: category,
                                 ciphertextHash: ciphertext, version: Int64(version), agent: requester.kind != .organization ? requester.id : nil)
    }

    /// Submits and waits for every transaction's commit; maps refusals to FHIR errors. With a
    /// `record`, returns its entry as committed.
    @discardableResult
    public func commit(_ calls: [UnsignedCall], record: Hash256? = nil) async throws(FHIRError) -> RecordEntry? {
        _ = try await submitAndAwait(calls)
        guard let record else { return nil }
        guard let entry = RecordIndex.current(record, in: state) else {
            throw FHIRError(500, "exception", "the committed record is not in state")
        }
        return entry
    }

    /// Signs in submission order, submits, and waits until every transaction is committed and
    /// accepted; returns their ids. Refusals map to FHIR errors.
    public func submitAndAwait(_ calls: [UnsignedCall]) async throws(FHIRError) -> [Hash256] {
        do { return try await client.commit(calls).map(\.transactionID) } catch { throw Self.fhirError(error) }
    }

    /// A services-layer error as the FHIR error it answers with.
    static func fhirError(_ error: any Error) -> FHIRError {
        switch error {
        case let refused as Refused: map(refused.code, refused.message)
        case let error as ServiceError: FHIRError(503, "transient", error.message)
        case let error as FHIRError: error
        default: FHIRError(500, "exception", "\(error)")
        }
    }

    /// Whether a write's error means the ledger refused it for good (a 4xx): not a timeout or an
    /// unavailable node, after which the registration may still commit.
    static func isRefusal(_ error: any Error) -> Bool {
        guard let error = error as? FHIRError else { return error is Refused }
        return (400..<500).contains(error.status)
    }

    public static func map(_ code: String, _ message: String) -> FHIRError {
        switch code {
        case "versionConflict": .conflict(message)
        case "recordErased": .gone(message)
        case "unauthorized", "notOrganizationMember", "senderRevoked": .forbidden(message)
        case "mempoolFull", "stopping": FHIRError(503, "transient", message)
        default: .unprocessable(message)
        }
    }

    /// Deletes a resource by erasing it: the erasure is committed on-chain, then every version's
    /// ciphertext and wrapped keys are destroyed. Later reads get 410 Gone.
    public func delete(type: String, id: String, requester: Identity) async throws(FHIRError) {
        let custodian = try custodian(for: requester)
        let record = recordID(type: type, id: id)
        guard let current = RecordIndex.current(record, in: state), current.resourceType == type else { throw .notFound("\(type)/\(id)") }
        guard !current.isErased else { throw .gone("\(type)/\(id) was already deleted") }
        guard current.custodian == custodian.derivedID else { throw .forbidden("\(type)/\(id) is held by another custodian") }
        try Self.checkErases(requester, custodian: custodian.derivedID, state: state)
        do { _ = try await client.erase(record, signer: custodian, access: access) } catch { throw Self.fhirError(error) }
    }

    /// The records contract's rule for the custodian side of erasure, applied to the requester the
    /// server signs for (the custodian's signature alone would let any author erase).
    static func checkErases(_ requester: Identity, custodian: IdentityID, state: any StateReader) throws(FHIRError) {
        guard RecordsContract.erasesAsCustodian(requester, custodian: custodian, roles: Directory.effectiveRoles(of: requester, in: state)) else {
            throw .forbidden("deleting (erasing) a record needs the custodian organization or one of its administrators (role \(Role.admin.rawValue))")
        }
    }

    // MARK: reads

    /// Reads the current version (or `version`) after a logged, permitted decision.
    public func read(type: String, id: String, version: UInt64? = nil, requester: Identity, purpose: Purpose,
                     parse: Bool = true) async throws(FHIRError) -> FHIRVersion {
        let record = recordID(type: type, id: id)
        let request = AccessRequest(requester: requester.id, record: record, purpose: purpose, action: .read)
        let served: [ServedRecord]
        do { served = try await access.serve([request], versions: version.map { [record: $0] } ?? [:]) } catch {
            throw Self.map(error)
        }
        guard let one = served.first else { throw .notFound("\(type)/\(id)") }
        return try Self.version(one, type: type, id: id, parse: parse)
    }

    /// The versions `query` asks for (`_since`, then a page), newest first, each read through a
    /// logged decision, and how many versions `_since` kept.
    public func history(type: String, id: String, query: HistoryQuery = HistoryQuery(), requester: Identity,
                        purpose: Purpose) async throws(FHIRError) -> (total: Int, versions: [FHIRVersion]) {
        // The current version first: a record the requester may not read is "not known" (finding 12).
        let current = try await read(type: type, id: id, requester: requester, purpose: purpose)
        let record = recordID(type: type, id: id)
        let all = stride(from: current.version, through: 1, by: -1).map { version in
            (version: version, timeMs: version == current.version ? current.entry.timeMs : RecordIndex.version(record, version, in: state)?.timeMs ?? 0)
        }
        let (total, page) = query.page(all, timeMs: \.timeMs)
        var out: [FHIRVersion] = []
        for item in page {
            out.append(item.version == current.version ? current
                       : try await read(type: type, id: id, version: item.version, requester: requester, purpose: purpose))
        }
        return (total, out)
    }

    /// What a requester hears about a record that is missing, or that they may not read: the same
    /// 404, so that a read cannot probe which ids exist (security review finding 12). The
    /// patient's access log keeps the real reason of a refusal.
    public static func notVisible(_ type: String, _ id: String) -> FHIRError {
        .notFound("\(type)/\(id) is not known here, or no consent lets you read it")
    }

    public static func version(_ served: ServedRecord, type: String, id: String, parse: Bool = true) throws(FHIRError) -> FHIRVersion {
        switch served.decision.reason {
        case .unknownRequester, .requesterRevoked: throw FHIRError(401, "security", served.decision.reason.text)
        case .recordErased where served.decision.existenceVisible: throw .gone("\(type)/\(id) was deleted (erased)")
        default: break
        }
        guard served.decision.isPermitted, let entry = served.entry, entry.resourceType == type else { throw notVisible(type, id) }
        guard let content = served.content else { throw .gone("\(type)/\(id) has no stored content (erased)") }
        guard parse else {
            var version = FHIRVersion(resource: [:], type: type, id: id, version: entry.version, lastUpdatedMs: entry.timeMs, entry: entry)
            version.content = content
            return version
        }
        let resource: [String: Any]
        do { resource = try FHIRJSON.object(content) } catch { throw FHIRError(500, "exception", "stored content is not JSON") }
        let lastUpdated = ((resource["meta"] as? [String: Any])?["lastUpdated"] as? String).flatMap(FHIRDateTime.range).map { _ in entry.timeMs }
        return FHIRVersion(resource: resource, type: type, id: id, version: entry.version, lastUpdatedMs: lastUpdated ?? entry.timeMs, entry: entry)
    }

    public static func map(_ error: AccessError) -> FHIRError {
        switch error {
        case .auditUnavailable(let why): FHIRError(503, "transient", "the access could not be audited, so nothing was released: \(why)")
        case .contentUnavailable: .gone(error.description)
        case .denied(let decision): .forbidden("access denied: \(decision.requesterReason.text)")
        default: FHIRError(500, "exception", error.description)
        }
    }
}
