public import Contracts
import Foundation
public import LedgerCore
public import Node
import Storage

/// Read models of records, consents and the access log at a custodian node: ids, codes and
/// decisions, never record content (content leaves only through `AccessService.read`, a logged
/// consent decision). Who may see what is `ReadRules`.
extension AccessService {
    /// The most entries one page of a list returns.
    public static let pageEntriesMax = 1_000

    /// A record's on-chain entry and its versions. Shown to the patient, a delegate, anyone for
    /// directory data; to anyone else — the custodian's own staff included — only under a consent
    /// decision that lets them read the record, logged in the patient's access log like any read
    /// (security review finding 4: an entry's resource type and category are health information).
    public func describeRecord(_ record: Hash256, as requester: Identity) async throws(ServiceError) -> JSONObject {
        let state = node.state
        // A record the requester may not see is "not known", like a missing one (finding 12).
        let unseen = ServiceError.notFound("no record \(record.hex) visible to you: not known here, or no consent lets you see it")
        guard let entry = RecordIndex.current(record, in: state) else { throw unseen }
        if !entry.isDirectory, !ReadRules.isPatientSide(entry.patient, requester, state) {
            guard let decision = try await loggedDecisions([entry], as: requester).first,
                  decision.isPermitted || (decision.reason == .recordErased && decision.existenceVisible) else { throw unseen }
        }
        var versions: [JSONObject] = []
        for version in 1...max(entry.version, 1) {
            guard let old = version == entry.version ? entry : RecordIndex.version(record, version, in: state) else { continue }
            versions.append(["version": old.version, "ciphertext_hash": old.ciphertextHash.hex, "author": old.author.hex,
                             "height": old.height, "time_ms": old.timeMs])
        }
        var body = Self.recordJSON(entry)
        body["versions"] = versions
        return body
    }

    /// A page of a patient's records, in key order after `after`. The patient and delegates see
    /// every entry. A custodian's record staff (`ReadRules.mayListRecords`) see their own
    /// organization's entries that a consent decision lets them read — each decision, permit or
    /// deny, is in the patient's access log (finding 4) — and nothing of the others. A page may
    /// therefore hold fewer than `limit` entries while `next_after` says there are more.
    public func patientRecords(_ patient: IdentityID, as requester: Identity, after: String?, limit: Int) async throws(ServiceError) -> JSONObject {
        let custodians = Set(custodianIDs)
        let state = node.state
        guard ReadRules.mayListRecords(of: patient, requester, custodians: custodians, state) else {
            throw .forbidden("only the patient, a delegate or a custodian's clinical, admin or audit staff list a patient's records")
        }
        let prefix = RecordIndex.patientPrefix(patient)
        let rows = try page(prefix: prefix, after: after, limit: limit)
        var entries = rows.compactMap { row in
            Hash256(hex: String(row.key.dropFirst(prefix.count))).flatMap { RecordIndex.current($0, in: state) }
                .flatMap { ReadRules.mayListEntry($0, requester, custodians: custodians, state) ? $0 : nil }
        }
        if !ReadRules.isPatientSide(patient, requester, state) {
            let decisions = try await loggedDecisions(entries, as: requester)
            entries = zip(entries, decisions).filter { $0.1.isPermitted }.map(\.0)
        }
        var body: JSONObject = ["records": entries.map(Self.recordJSON)]
        if rows.count == limit, let last = rows.last { body["next_after"] = last.key }
        return body
    }

    /// Treatment-purpose read decisions for `entries` by `requester`, each written to the audit log
    /// (durably, before the caller shows anything) — what showing a record's entry costs.
    private func loggedDecisions(_ entries: [RecordEntry], as requester: Identity) async throws(ServiceError) -> [Decision] {
        let requests = entries.map { AccessRequest(requester: requester.id, record: $0.record, purpose: .treatment, action: .read) }
        do { return try await authorize(requests, releasing: false).decisions } catch {
            throw ServiceError(.unavailable, "the access decision cannot be logged: \(error)")
        }
    }

    /// A page of a patient's consents (active and revoked), in key order after `after`.
    public func patientConsents(_ patient: IdentityID, as requester: Identity, after: String?, limit: Int) throws(ServiceError) -> JSONObject {
        guard ReadRules.mayListConsents(of: patient, requester, node.state) else {
            throw .forbidden("only the patient or a delegate lists the patient's consents")
        }
        let prefix = ConsentIndex.grantPrefix(patient)
        let rows = try page(prefix: prefix, after: after, limit: limit)
        let consents: [JSONObject] = rows.compactMap { row in
            guard let id = Hash256(hex: String(row.key.dropFirst(prefix.count))), let consent = ConsentIndex.decodeConsent(id, row.value) else {
                return nil
            }
            return Self.consentJSON(consent)
        }
        var body: JSONObject = ["consents": consents]
        if rows.count == limit, let last = rows.last { body["next_after"] = last.key }
        return body
    }

    /// A page of a patient's access log at this custodian: every permit, deny and break-glass,
    /// with break-glass justifications sealed to the patient. `requester` nil is the node's
    /// operator (the CLI over its own data directory).
    public func accessLog(_ patient: IdentityID, as requester: Identity?, after: UInt64?, limit: Int) throws(ServiceError) -> JSONObject {
        if let requester, !ReadRules.mayReadAccessLog(of: patient, requester, custodians: Set(custodianIDs), node.state) {
            throw .forbidden("only the patient, a delegate or the custodian's auditors read the access log")
        }
        guard (1...Self.pageEntriesMax).contains(limit) else { throw ServiceError("limit must be 1…\(Self.pageEntriesMax)") }
        let entries: [(index: UInt64, entry: AuditEntry)]
        do { entries = try accessLog(patient: patient, readBy: requester, after: after, limit: limit) } catch {
            throw ServiceError(.unavailable, "the audit log cannot be read: \(error)")
        }
        return ["entries": entries.map { Self.accessLogEntryJSON($0.index, $0.entry) }]
    }

    /// The same entries newest first: up to `limit` before index `before` (nil: from the newest), as
    /// the portal pages backwards through them; `older` is the `before` of the next page, when there is one.
    public func accessLogNewestFirst(_ patient: IdentityID, as requester: Identity, before: UInt64?, limit: Int) throws(ServiceError)
        -> (entries: [JSONObject], older: UInt64?) {
        guard ReadRules.mayReadAccessLog(of: patient, requester, custodians: Set(custodianIDs), node.state) else {
            throw .forbidden("only the patient, a delegate or the custodian's auditors read the access log")
        }
        guard (1...Self.pageEntriesMax).contains(limit) else { throw ServiceError("limit must be 1…\(Self.pageEntriesMax)") }
        let page: [(index: UInt64, entry: AuditEntry)]
        do { page = try accessLog(patient: patient, before: before, limit: limit + 1) } catch {
            throw ServiceError(.unavailable, "the audit log cannot be read: \(error)")
        }
        let state = node.state
        let shown = page.prefix(limit)
        let readable = shown.filter { ReadRules.mayReadAccessLogEntry(about: $0.entry.record, of: patient, requester, state) }
        return (readable.map { Self.accessLogEntryJSON($0.index, $0.entry) }, page.count > limit ? shown.last?.index : nil)
    }

    /// One access-log entry as the API shows it (break-glass justifications sealed to the patient).
    public static func accessLogEntryJSON(_ index: UInt64, _ entry: AuditEntry) -> JSONObject {
        var out: JSONObject = [
            "index": index, "time_ms": entry.timeMs, "requester": entry.requester.hex, "record": entry.record.hex,
            "version": entry.version, "purpose": entry.purpose.rawValue, "action": entry.action.rawValue,
            "outcome": entry.outcome.rawValue, "reason": entry.reason.rawValue,
        ]
        if let consent = entry.consent { out["consent"] = consent.hex }
        if let sealed = entry.sealedJustification { out["sealed_justification"] = Data(sealed).base64EncodedString() }
        return out
    }

    /// The entries of a patient's access log `requester` may read (`mayReadAccessLogEntry`; nil is
    /// the node itself, which reads all) — the caller has checked `mayReadAccessLog`.
    public func accessLog(patient: IdentityID, readBy requester: Identity?, after: UInt64? = nil,
                          limit: Int) throws(AccessError) -> [(index: UInt64, entry: AuditEntry)] {
        let entries = try accessLog(patient: patient, after: after, limit: limit)
        guard let requester else { return entries }
        let state = node.state
        return entries.filter { ReadRules.mayReadAccessLogEntry(about: $0.entry.record, of: patient, requester, state) }
    }

    /// The break-glass notices the chain holds for a patient (who, why, until when), newest last.
    public func breakGlassNotices(_ patient: IdentityID, as requester: Identity?) throws(ServiceError) -> [JSONObject] {
        if let requester, !ReadRules.isPatientSide(patient, requester, node.state) {
            throw .forbidden("only the patient or a delegate reads the patient's break-glass notices")
        }
        return try page(prefix: ConsentIndex.noticePrefix(patient), after: nil, limit: Self.pageEntriesMax)
            .compactMap { ConsentIndex.decodeNotice($0.value) }
            .map { ["requester": $0.requester.hex, "reason": $0.reason.rawValue, "height": $0.height, "expires_ms": $0.expiresMs] }
    }

    private func page(prefix: String, after: String?, limit: Int) throws(ServiceError) -> [(key: String, value: [UInt8])] {
        guard (1...Self.pageEntriesMax).contains(limit) else { throw ServiceError("limit must be 1…\(Self.pageEntriesMax)") }
        do { return try node.store.states(prefix: prefix, after: after, limit: limit) } catch {
            throw ServiceError(.unavailable, "the ledger store cannot be read: \(error)")
        }
    }

    public static func recordJSON(_ entry: RecordEntry) -> JSONObject {
        var out: JSONObject = [
            "record": entry.record.hex, "resource_type": entry.resourceType, "category": entry.labelsWithheld ? "withheld" : entry.category.rawValue,
            "author": entry.author.hex,
            "custodian": entry.custodian.hex, "ciphertext_hash": entry.ciphertextHash.hex, "version": entry.version, "height": entry.height,
            "time_ms": entry.timeMs, "erased": entry.isErased,
        ]
        if !entry.isDirectory { out["patient"] = entry.patient.hex }
        if let height = entry.erasedHeight { out["erased_height"] = height }
        return out
    }

    public static func consentJSON(_ consent: ConsentEntry) -> JSONObject {
        var grantee: JSONObject
        switch consent.grantee {
        case .member(let id): grantee = ["kind": "member", "id": id.hex]
        case .organization(let id): grantee = ["kind": "organization", "id": id.hex]
        case .role(let role): grantee = ["kind": "role", "role": role.rawValue]
        }
        var out: JSONObject = [
            "id": consent.id.hex, "patient": consent.patient.hex, "grantor": consent.grantor.hex, "grantee": grantee,
            "categories": consent.scope.categories.map(\.rawValue), "resource_types": consent.scope.resourceTypes,
            "records": consent.scope.records.map(\.hex), "purposes": consent.purposes.map(\.rawValue), "actions": consent.actions.map(\.rawValue),
            "start_ms": consent.startMs, "granted_height": consent.grantedHeight, "active": !consent.isRevoked,
        ]
        if let end = consent.endMs { out["end_ms"] = end }
        if let revoked = consent.revokedHeight { out["revoked_height"] = revoked }
        return out
    }
}
