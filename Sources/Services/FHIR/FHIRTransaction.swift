public import Contracts
public import FHIR
import Foundation
public import LedgerCore
public import Node
import Storage
import Vault

extension FHIRService {
    /// Most entries in one transaction or batch Bundle.
    public static let bundleEntriesMax = 20_000

    /// One planned write of a transaction.
    public struct PlannedWrite {
        var method: String          // POST, PUT or DELETE
        var type: String
        var id: String
        var resource: [String: Any]
        var version: UInt64
        var created: Bool
        var patient: IdentityID = RecordEntry.noPatient
        /// The record id (`FHIRService.recordID`), resolved once.
        var record: Hash256 = .zero
        var prepared: StoredRecordVersion?
        var category: SensitivityCategory = .general
        var lastUpdatedMs: Int64 = 0
    }

    /// Processes a `transaction` Bundle all or nothing: every entry is checked, ids assigned and
    /// `urn:uuid:` references resolved before anything is written; patients are registered, the
    /// resources encrypted and stored, then registered on-chain (200 to a transaction). Supported
    /// entries: POST (create), PUT Type/id (update or create), DELETE Type/id.
    public func transaction(_ bundle: [String: Any], requester: Identity, base: String,
                            deferredPublishing: PublishBatch? = nil) async throws(FHIRError) -> [String: Any] {
        let rawEntries = bundle["entry"] as? [Any] ?? []
        guard rawEntries.count <= Self.bundleEntriesMax else {
            throw FHIRError(413, "too-costly", "a Bundle holds at most \(Self.bundleEntriesMax) entries")
        }
        let entries = rawEntries.compactMap { $0 as? [String: Any] }
        guard entries.count == rawEntries.count else { throw .invalid("every Bundle.entry must be an object", at: "Bundle.entry") }
        let custodian = try custodian(for: requester)

        // 1. Plan: methods, ids, the urn:uuid map.
        var plans: [PlannedWrite] = []
        var aliases: [String: String] = [:]
        var seen = Set<String>()
        for (index, entry) in entries.enumerated() {
            let at = "Bundle.entry[\(index)]"
            guard let request = entry["request"] as? [String: Any], let method = request["method"] as? String,
                  let url = request["url"] as? String else { throw .invalid("entry needs request.method and request.url", at: "\(at).request") }
            if request["ifNoneExist"] != nil || request["ifMatch"] != nil || url.contains("?") {
                throw .notSupported("\(at): conditional requests are not supported inside a transaction")
            }
            let parts = url.split(separator: "/").map(String.init)
            var plan: PlannedWrite
            switch method {
            case "POST":
                guard parts.count == 1, FHIRResourceTypes.all.contains(parts[0]) else {
                    throw .notSupported("\(at): POST \(url.prefix(80)) is not a create (operations are not supported in a transaction)")
                }
                guard let resource = entry["resource"] as? [String: Any] else { throw .invalid("POST needs a resource", at: "\(at).resource") }
                plan = PlannedWrite(method: method, type: parts[0], id: UUID().uuidString.lowercased(), resource: resource, version: 1, created: true)
            case "PUT", "DELETE":
                guard parts.count == 2, FHIRResourceTypes.all.contains(parts[0]), FHIRJSON.isValidID(parts[1]) else {
                    throw .invalid("\(method) needs request.url Type/id", at: "\(at).request.url")
                }
                let resource = entry["resource"] as? [String: Any] ?? [:]
                if method == "PUT" {
                    guard !resource.isEmpty else { throw .invalid("PUT needs a resource", at: "\(at).resource") }
                    guard resource["id"] as? String == parts[1] else { throw .invalid("resource id must equal the URL's id", at: "\(at).resource.id") }
                }
                plan = PlannedWrite(method: method, type: parts[0], id: parts[1], resource: resource, version: 1, created: false)
            default:
                throw .notSupported("\(at): \(method) is not supported in a transaction (POST, PUT, DELETE)")
            }
            guard seen.insert("\(plan.type)/\(plan.id)").inserted else { throw .invalid("\(plan.type)/\(plan.id) appears twice", at: at) }
            if let fullUrl = entry["fullUrl"] as? String, fullUrl.hasPrefix("urn:uuid:") || fullUrl.hasPrefix("urn:oid:") {
                aliases[fullUrl] = "\(plan.type)/\(plan.id)"
            }
            plans.append(plan)
        }

        // 2. Resolve references, check every resource, find versions and patients.
        var newPatients: [String: IdentityKeys] = [:]
        var linkedPatients: [String: IdentityID] = [:]
        let nowMs = await access.node.nextBlockTimeMs  // the node's clock, never behind the head block
        for index in plans.indices { plans[index].record = recordID(type: plans[index].type, id: plans[index].id) }
        // The entries' records in one store read, not one each (in an import most are new: absent keys).
        access.node.prefetch(plans.map { RecordIndex.currentKey($0.record) })
        for index in plans.indices {
            let at = "Bundle.entry[\(index)].resource"
            let current = RecordIndex.current(plans[index].record, in: state)
            if plans[index].method == "DELETE" {
                guard let current, current.resourceType == plans[index].type else { throw .notFound("\(plans[index].type)/\(plans[index].id)") }
                guard !current.isErased else { throw .gone("\(plans[index].type)/\(plans[index].id) was already deleted") }
                guard current.custodian == custodian.derivedID else { throw .forbidden("\(plans[index].type)/\(plans[index].id) is held by another custodian") }
                try Self.checkErases(requester, custodian: custodian.derivedID, state: state)
                continue
            }
            var resource = try Self.resolve(plans[index].resource, aliases: aliases, at: at) as? [String: Any] ?? [:]
            try FHIRJSON.validate(resource, expectedType: plans[index].type)
            do { try FHIRJSON.conform(resource) } catch { throw Self.located(error, at: "\(at).resource") }
            if let current {
                guard !current.isErased else { throw .gone("\(plans[index].type)/\(plans[index].id) was deleted") }
                plans[index].version = current.version + 1
                plans[index].patient = current.patient
            } else {
                plans[index].created = true
                if plans[index].type == "Patient", let linked = try linkedPatient(resource, at: at) {
                    linkedPatients[plans[index].id] = linked
                    plans[index].patient = linked
                } else if plans[index].type == "Patient" {
                    let keys = IdentityKeys.generate()
                    newPatients[plans[index].id] = keys
                    plans[index].patient = keys.derivedID
                }
            }
            resource = Self.stamped(resource, id: plans[index].id, version: plans[index].version, nowMs: nowMs)
            plans[index].resource = resource
            plans[index].lastUpdatedMs = nowMs
            plans[index].category = FHIRSensitivity.category(of: resource)
        }
        let bundlePatients = newPatients.mapValues(\.derivedID).merging(linkedPatients) { generated, _ in generated }
        for index in plans.indices where plans[index].method != "DELETE" && plans[index].type != "Patient" && plans[index].created {
            plans[index].patient = try patient(of: plans[index].resource, type: plans[index].type, bundlePatients: bundlePatients,
                                               at: "Bundle.entry[\(index)].resource")
        }

        // 3. New patients' keys are kept now; their registrations go on-chain in the same
        // submission as their records, ahead of them (admission sees the batch in order).
        let registrations = newPatients.values.map { keys in
            UnsignedCall(keys, call: MembershipContract.RegisterPatient(agreementKey: keys.agreementPublicKey), sequence: 1)
        }
        for keys in newPatients.values {
            do { try patientKeys.save(keys) } catch { throw FHIRError(500, "exception", "could not keep a patient's keys: \(error)") }
        }
        let newAgreementKeys = Dictionary(uniqueKeysWithValues: newPatients.values.map { ($0.derivedID, $0.agreementPublicKey) })

        // 4. Encrypt every version on all cores (Dispatch threads, not the cooperative pool, so the
        // node's actor and the other Bundles in flight keep running meanwhile), store them in one
        // vault transaction, then register them on-chain.
        let writeIndexes = plans.indices.filter { plans[$0].method != "DELETE" }
        let access = self.access
        let custodianID = custodian.derivedID
        nonisolated(unsafe) let frozen = plans
        let prepared: [StoredRecordVersion] = try await Self.offPool { () throws(FHIRError) -> [StoredRecordVersion] in
            let results = AllCores.map(writeIndexes) { index in
                let plan = frozen[index]
                return Result { () throws(AccessError) in
                    try access.prepare(content: FHIRJSON.data(plan.resource, sorted: false), fields: FHIRIndexer.extract(plan.resource),
                                       record: plan.record, version: plan.version, patient: plan.patient,
                                       custodian: custodianID, agreementKeys: newAgreementKeys).version
                }
            }
            var versions: [StoredRecordVersion] = []
            versions.reserveCapacity(results.count)
            for (slot, index) in writeIndexes.enumerated() {
                switch results[slot] {
                case .success(let version): versions.append(version)
                case .failure(let error): throw FHIRError(500, "exception", "could not encrypt \(frozen[index].type)/\(frozen[index].id): \(error)")
                }
            }
            return versions
        }
        // The fsync'd vault write on a thread of its own, so that other Bundles' work keeps both cores.
        try await access.vaultWrites.run { () throws(FHIRError) in
            do { try access.store(prepared) } catch { throw FHIRError(500, "exception", "could not store the transaction's resources: \(error)") }
        }
        for (slot, index) in writeIndexes.enumerated() { plans[index].prepared = prepared[slot] }
        var transactions: [UnsignedCall] = registrations
        let writes = plans.filter { $0.method != "DELETE" }
        for chunk in stride(from: 0, to: writes.count, by: RecordsContract.registrationsPerTransactionMax) {
            let part = writes[chunk..<min(writes.count, chunk + RecordsContract.registrationsPerTransactionMax)]
            let entries = part.map { plan in
                Self.registration(record: plan.record, type: plan.type, category: plan.category,
                                  ciphertext: plan.prepared!.blob.hash, version: plan.version, patient: plan.patient, requester: requester)
            }
            transactions.append(client.call(custodian, endorsedOnConsortium: RecordsContract.RegisterMany(entries: entries), for: [custodian.derivedID]))
        }
        for plan in plans where plan.method == "DELETE" {
            transactions.append(UnsignedCall(custodian, call: RecordsContract.Erase(record: plan.record)))
        }
        do {
            _ = try await access.registering(prepared, isRefusal: FHIRService.isRefusal, deferred: deferredPublishing) { try await commit(transactions) }
        } catch {
            await compensate(writes.map(\.record), custodian: custodian)
            throw FHIRService.fhirError(error)
        }
        for plan in plans where plan.method == "DELETE" { _ = try? access.shred(plan.record) }

        let responses: [[String: Any]] = plans.map { plan in
            if plan.method == "DELETE" { return ["response": ["status": "204 No Content"]] }
            return ["fullUrl": "\(base)/\(plan.type)/\(plan.id)", "resource": plan.resource,
                    "response": ["status": plan.created ? "201 Created" : "200 OK", "location": "\(plan.type)/\(plan.id)/_history/\(plan.version)",
                                 "etag": "W/\"\(plan.version)\"", "lastModified": FHIRDateTime.instant(ms: plan.lastUpdatedMs)]]
        }
        return ["resourceType": "Bundle", "type": "transaction-response", "entry": responses]
    }

    /// Runs blocking work (all-core encryption, an fsync'd vault write) on a Dispatch thread and
    /// resumes with its result, keeping the cooperative pool free for the node and other requests.
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws(FHIRError) -> T) async throws(FHIRError) -> T {
        let result: Result<T, FHIRError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Result { () throws(FHIRError) in try body() }) }
        }
        return try result.get()
    }

    /// After a failed commit of part of a transaction: erase what did commit (records the
    /// rollback on-chain) and destroy its ciphertext, so nothing of the transaction stays readable.
    private func compensate(_ records: [Hash256], custodian: IdentityKeys) async {
        for record in records {
            guard let entry = RecordIndex.current(record, in: state), !entry.isErased, entry.custodian == custodian.derivedID else { continue }
            _ = try? await client.erase(record, signer: custodian, access: access)
        }
    }

    /// Anchors the audit log's tree head on-chain, signed by `anchorer`, if the log grew since
    /// its last anchor. Shares this service's sequence numbers, so it may run beside FHIR writes.
    @discardableResult
    public func anchorAudit(anchorer: IdentityKeys) async throws(FHIRError) -> Bool {
        do { return try await client.anchorAudit(of: access, anchorer: anchorer) } catch { throw Self.fhirError(error) }
    }


    /// The ledger patient a (non-Patient) resource is about: the first `Patient/…` reference along
    /// its type's paths in the R4 Patient compartment (`FHIRResourceTypes.patientCompartment`);
    /// none — or a type outside the compartment — means the resource is about no identifiable
    /// patient (custodian-only).
    public func patient(of resource: [String: Any], type: String, bundlePatients: [String: IdentityID], at: String) throws(FHIRError) -> IdentityID {
        if RecordsContract.directoryResourceTypes.contains(type) { return RecordEntry.noPatient }
        func known(_ id: String) -> IdentityID? {
            if let patient = bundlePatients[id] { return patient }
            guard let record = RecordIndex.current(recordID(type: "Patient", id: id), in: state), !record.isErased else { return nil }
            return record.patient
        }
        guard let direct = FHIRResourceTypes.patientID(of: resource) else { return RecordEntry.noPatient }
        guard let patient = known(direct) else { throw .unprocessable("Patient/\(direct) does not exist on this server", at: at) }
        return patient
    }

    /// Every `reference` string in a resource.
    public static func allReferences(_ value: Any) -> [String] {
        if let object = value as? [String: Any] {
            var out: [String] = []
            for (key, child) in object {
                if key == "reference", let text = child as? String { out.append(text) } else { out += allReferences(child) }
            }
            return out
        }
        if let list = value as? [Any] { return list.flatMap(allReferences) }
        return []
    }

    /// Replaces `urn:uuid:` references with the ids assigned in this transaction.
    public static func resolve(_ value: Any, aliases: [String: String], at: String) throws(FHIRError) -> Any {
        try resolved(value, aliases: aliases, at: at) ?? value
    }

    /// `value` with its `urn:uuid:` and `urn:oid:` references replaced, or nil when it holds none:
    /// only the objects and arrays on the way to a replaced reference are copied.
    private static func resolved(_ value: Any, aliases: [String: String], at: String) throws(FHIRError) -> Any? {
        if let object = value as? [String: Any] {
            var copy: [String: Any]?
            for (key, child) in object {
                let replacement: Any?
                if key == "reference", let text = child as? String, text.hasPrefix("urn:uuid:") || text.hasPrefix("urn:oid:") {
                    guard let target = aliases[text] else { throw .invalid("reference \(text) names no entry of this Bundle", at: at) }
                    replacement = target
                } else {
                    replacement = try resolved(child, aliases: aliases, at: at)
                }
                guard let replacement else { continue }
                if copy == nil { copy = object }
                copy![key] = replacement
            }
            return copy
        }
        if let list = value as? [Any] {
            var copy: [Any]?
            for (index, child) in list.enumerated() {
                guard let replacement = try resolved(child, aliases: aliases, at: at) else { continue }
                if copy == nil { copy = list }
                copy![index] = replacement
            }
            return copy
        }
        return nil
    }

    /// A validation error of one entry's resource, its expressions placed inside the Bundle (`Bundle.entry[2].resource.status`).
    static func located(_ error: FHIRError, at prefix: String) -> FHIRError {
        func place(_ expression: String) -> String {
            guard let dot = expression.firstIndex(of: ".") else { return prefix }
            return prefix + expression[dot...]
        }
        return FHIRError(error.status, error.code, error.diagnostics, expression: error.expression.map(place),
                         issues: error.issues.map { FHIRValidationIssue(severity: $0.severity, code: $0.code, message: $0.message, expression: place($0.expression)) })
    }
}
