import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Node
import Storage
import Vault

/// `/v1` routes for records, consents and the access log (ids and codes; record content leaves
/// only as ciphertext with its data key re-wrapped for the requester).
enum RecordRoutes {
    static func add(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices, access: AccessService) {
        group.get("records/:id") { _, context in
            let requester = try context.requester()
            let record = try hash(context, "id", what: "record id")
            guard let entry = RecordIndex.current(record, in: services.state) else { throw APIError.notFound("no record \(record.hex)") }
            try await mayDescribe(entry, requester: requester, access: access)
            var versions: [[String: Any]] = []
            for version in 1...max(entry.version, 1) {
                guard let old = version == entry.version ? entry : RecordIndex.version(record, version, in: services.state) else { continue }
                versions.append(["version": old.version, "ciphertext_hash": old.ciphertextHash.hex, "author": old.author.hex,
                                 "height": old.height, "time_ms": old.timeMs])
            }
            var body = recordJSON(entry)
            body["versions"] = versions
            return JSON.response(body)
        }
        group.get("records/:id/release") { request, context in
            let requester = try context.requester()
            let record = try hash(context, "id", what: "record id")
            let purposeName = request.query("purpose") ?? "TREAT"
            guard let purpose = Purpose(rawValue: purposeName) else { throw APIError.badRequest("purpose must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))") }
            do {
                let release = try await access.read(AccessRequest(requester: requester.id, record: record, purpose: purpose, action: .read))
                return JSON.response([
                    "record": recordJSON(release.entry), "decision": ["outcome": release.decision.outcome.rawValue, "reason": release.decision.reason.rawValue],
                    "audit_index": release.auditIndex, "sealed_record": Data(release.blob.bytes).base64EncodedString(),
                    "wrapped_key": Data(release.wrappedKey.bytes).base64EncodedString(),
                    "note": "decrypt: unwrap wrapped_key with your X25519 key (HPKE, info bound to record, version, recipient), then AES-256-GCM open",
                ])
            } catch let error as AccessError {
                switch error {
                case .denied(let decision):
                    let status: HTTPResponse.Status = decision.reason == .unknownRecord ? .notFound : decision.reason == .recordErased ? .gone : .forbidden
                    throw APIError(status, decision.reason.rawValue, decision.reason.text)
                case .auditUnavailable: throw APIError(.serviceUnavailable, "audit_unavailable", error.description)
                default: throw APIError(.internalServerError, "release_failed", error.description)
                }
            }
        }
        group.get("patients/:id/records") { request, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            guard requester.id == patient || ConsentIndex.isDelegate(requester.id, of: patient, in: services.state) || isCustodianStaff(requester, access) else {
                throw APIError.forbidden("only the patient, a delegate or a custodian's staff list a patient's records")
            }
            let limit = Int(try request.integer("limit", in: 1...1_000, default: 100))
            let rows = try services.store.states(prefix: RecordIndex.patientPrefix(patient), after: request.query("after"), limit: limit)
            let records: [[String: Any]] = rows.compactMap { row in
                guard let id = Hash256(hex: String(row.key.dropFirst(RecordIndex.patientPrefix(patient).count))),
                      let entry = RecordIndex.current(id, in: services.state) else { return nil }
                return recordJSON(entry)
            }
            var body: [String: Any] = ["records": records]
            if rows.count == limit, let last = rows.last { body["next_after"] = last.key }
            return JSON.response(body)
        }
        group.get("patients/:id/consents") { request, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            guard requester.id == patient || ConsentIndex.isDelegate(requester.id, of: patient, in: services.state) else {
                throw APIError.forbidden("only the patient or a delegate lists the patient's consents")
            }
            let limit = Int(try request.integer("limit", in: 1...1_000, default: 100))
            let rows = try services.store.states(prefix: ConsentIndex.grantPrefix(patient), after: request.query("after"), limit: limit)
            let consents: [[String: Any]] = rows.compactMap { row in
                guard let id = Hash256(hex: String(row.key.dropFirst(ConsentIndex.grantPrefix(patient).count))),
                      let consent = ConsentIndex.decodeConsent(id, row.value) else { return nil }
                return consentJSON(consent)
            }
            var body: [String: Any] = ["consents": consents]
            if rows.count == limit, let last = rows.last { body["next_after"] = last.key }
            return JSON.response(body)
        }
        group.get("patients/:id/access-log") { request, context in
            let requester = try context.requester()
            let patient = try hash(context, "id", what: "patient id")
            guard ConsentIndex.isDelegate(requester.id, of: patient, in: services.state) || mayReadAuditLog(of: patient, requester: requester, access) else {
                throw APIError.forbidden("only the patient, a delegate or the custodian's auditors read the access log")
            }
            let after = request.query("after").map { UInt64($0) } ?? nil
            let limit = Int(try request.integer("limit", in: 1...1_000, default: 100))
            let entries = try access.accessLog(patient: patient, after: after, limit: limit)
            let body: [String: Any] = ["entries": entries.map { item -> [String: Any] in
                var out: [String: Any] = [
                    "index": item.index, "time_ms": item.entry.timeMs, "requester": item.entry.requester.hex, "record": item.entry.record.hex,
                    "version": item.entry.version, "purpose": item.entry.purpose.rawValue, "action": item.entry.action.rawValue,
                    "outcome": item.entry.outcome.rawValue, "reason": item.entry.reason.rawValue,
                ]
                if let consent = item.entry.consent { out["consent"] = consent.hex }
                if let sealed = item.entry.sealedJustification { out["sealed_justification"] = Data(sealed).base64EncodedString() }
                return out
            }]
            return JSON.response(body)
        }
    }

    static func hash(_ context: LedgerRequestContext, _ name: String, what: String) throws(APIError) -> Hash256 {
        guard let id = context.parameters.get(name).flatMap(Hash256.init(hex:)) else { throw .badRequest("\(what) must be 64 hex characters") }
        return id
    }

    static func isCustodianStaff(_ requester: Identity, _ access: AccessService) -> Bool {
        let organization = requester.kind == .organization ? requester.id : requester.organization
        return organization.map { access.custodianIDs.contains($0) } == true
    }

    /// The patient, or a custodian held here acting as itself or through an auditor or admin.
    static func mayReadAuditLog(of patient: IdentityID, requester: Identity, _ access: AccessService) -> Bool {
        requester.id == patient || (isCustodianStaff(requester, access)
            && (requester.kind == .organization || requester.has(.auditor) || requester.has(.admin)))
    }

    /// Record metadata is shown to the patient, a delegate, the custodian's staff, or anyone a
    /// consent decision would let read it (the decision is not logged: nothing is released).
    static func mayDescribe(_ entry: RecordEntry, requester: Identity, access: AccessService) async throws(APIError) {
        if requester.id == entry.patient || isCustodianStaff(requester, access) || entry.isDirectory { return }
        if ConsentIndex.isDelegate(requester.id, of: entry.patient, in: access.node.state) { return }
        let decision = await access.decide(AccessRequest(requester: requester.id, record: entry.record, purpose: .treatment, action: .read))
        guard decision.isPermitted else { throw .forbidden("no consent lets \(requester.id.hex) see record \(entry.record.hex)") }
    }

    static func recordJSON(_ entry: RecordEntry) -> [String: Any] {
        var out: [String: Any] = [
            "record": entry.record.hex, "resource_type": entry.resourceType, "category": entry.category.rawValue, "author": entry.author.hex,
            "custodian": entry.custodian.hex, "ciphertext_hash": entry.ciphertextHash.hex, "version": entry.version, "height": entry.height,
            "time_ms": entry.timeMs, "erased": entry.isErased,
        ]
        if !entry.isDirectory { out["patient"] = entry.patient.hex }
        if let height = entry.erasedHeight { out["erased_height"] = height }
        return out
    }

    static func consentJSON(_ consent: ConsentEntry) -> [String: Any] {
        var grantee: [String: Any]
        switch consent.grantee {
        case .member(let id): grantee = ["kind": "member", "id": id.hex]
        case .organization(let id): grantee = ["kind": "organization", "id": id.hex]
        case .role(let role): grantee = ["kind": "role", "role": role.rawValue]
        }
        var out: [String: Any] = [
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
