import LedgerCore

/// Consent, with FHIR Consent semantics: a patient (or their delegate) grants a member, an
/// organization or a role access to categories, resource types or records, for purposes of use
/// and actions, within a period; revokes it at any time. Also: delegates, and break-glass
/// grants for emergency clinicians (time-limited, flagged, and a notice to the patient).
public struct ConsentContract: Contract {
    public let name = "consent"
    public let methods: Set<String> = ["grant", "revoke", "addDelegate", "removeDelegate", "breakGlass"]

    /// Most active consents one patient holds.
    public static let perPatientMax = 1_000
    /// Most active consents one patient gives one grantee (bounds the decision's reads).
    public static let perGranteeMax = 32
    /// Most entries in each scope list.
    public static let scopeItemsMax = 32
    /// Most delegates one patient names.
    public static let delegatesMax = 8
    /// Longest break-glass access, in minutes.
    public static let breakGlassMinutesMax: Int64 = 240
    /// Latest end of a consent: 100 years after its start.
    public static let periodMsMax: Int64 = 100 * 366 * 86_400_000

    public init() {}

    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] {
        guard let patient = transaction.body.args["patient"]?.bytesValue.flatMap({ Hash256(bytes: $0) }) else { return [] }
        return [Directory.identityKey(patient), ConsentIndex.delegatesKey(patient), ConsentIndex.countKey(patient)]
    }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        let args = try Arguments(call.args)
        switch call.method {
        case "grant": try grant(call, args, &state)
        case "revoke": try revoke(call, args, &state)
        case "addDelegate": try addDelegate(call, args, &state)
        case "removeDelegate": try removeDelegate(call, args, &state)
        case "breakGlass": try breakGlass(call, args, &state)
        default: throw Rejection(.unknownMethod, "consent has no method \(call.method)")
        }
    }

    /// The patient or a delegate grants a consent; its id is the transaction id.
    private func grant(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["patient", "grantee", "categories", "resourceTypes", "records", "purposes", "actions", "startMs", "endMs"])
        let (grantor, patient) = try patientSide(call, args, state)
        let grantee = try Self.grantee(try args.nested("grantee"), state)
        let scope = ConsentScope(
            categories: try args.enumList("categories", maxCount: Self.scopeItemsMax, what: "sensitivity category", code: .unknownCategory,
                                          SensitivityCategory.init(rawValue:)),
            resourceTypes: try args.enumList("resourceTypes", maxCount: Self.scopeItemsMax, what: "resource type", code: .unknownResourceType) {
                RecordsContract.isResourceTypeName($0) ? $0 : nil
            },
            records: try args.hashList("records", maxCount: Self.scopeItemsMax))
        let purposes = try args.enumList("purposes", maxCount: Purpose.allCases.count, what: "purpose of use", code: .unknownPurpose,
                                         Purpose.init(rawValue:))
        guard !purposes.isEmpty else { throw Rejection(.badArguments, "name at least one purpose of use") }
        let actions = try args.enumList("actions", maxCount: ConsentAction.allCases.count, what: "action", ConsentAction.init(rawValue:))
        guard !actions.isEmpty else { throw Rejection(.badArguments, "name at least one action (read, contribute)") }
        let startMs = try args.optionalInt("startMs", in: 0...Int64.max / 2) ?? call.timeMs
        let endMs = try args.optionalInt("endMs", in: 0...Int64.max / 2)
        if let endMs {
            guard endMs > startMs else { throw Rejection(.badPeriod, "the consent period ends before it starts") }
            guard endMs > call.timeMs else { throw Rejection(.badPeriod, "the consent period has already ended") }
            guard endMs - startMs <= Self.periodMsMax else { throw Rejection(.badPeriod, "a consent period lasts at most 100 years") }
        }
        let count = ConsentIndex.activeCount(patient, in: state)
        guard count < Self.perPatientMax else {
            throw Rejection(.tooManyConsents, "patient has \(Self.perPatientMax) active consents; revoke one first")
        }
        var ids = ConsentIndex.activeIDs(patient, grantee, in: state)
        guard ids.count < Self.perGranteeMax else {
            throw Rejection(.tooManyConsents, "patient has \(Self.perGranteeMax) active consents for \(grantee); revoke one first")
        }
        let consent = ConsentEntry(id: call.transaction.id, patient: patient, grantor: grantor, grantee: grantee, scope: scope,
                                   purposes: purposes, actions: actions, startMs: startMs, endMs: endMs, grantedHeight: call.height)
        ids.append(consent.id)
        state.set(ConsentIndex.grantKey(patient, consent.id), consent.canonical)
        state.set(ConsentIndex.indexKey(patient, grantee), .list(ids.map { .bytes($0.bytes) }))
        state.set(ConsentIndex.countKey(patient), .int(Int64(count + 1)))
    }

    /// The patient or a delegate revokes a consent; decisions stop using it from this block on.
    private func revoke(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["patient", "consent"])
        let (revoker, patient) = try patientSide(call, args, state)
        let id = try args.hash("consent")
        guard var consent = ConsentIndex.consent(id, patient: patient, in: state) else {
            throw Rejection(.unknownConsent, "patient \(patient.hex) has no consent \(id.hex)")
        }
        guard !consent.isRevoked else { throw Rejection(.consentAlreadyRevoked, "consent \(id.hex) is already revoked") }
        consent.revokedHeight = call.height
        consent.revokedBy = revoker
        state.set(ConsentIndex.grantKey(patient, id), consent.canonical)
        let remaining = ConsentIndex.activeIDs(patient, consent.grantee, in: state).filter { $0 != id }
        if remaining.isEmpty {
            state.delete(ConsentIndex.indexKey(patient, consent.grantee))
        } else {
            state.set(ConsentIndex.indexKey(patient, consent.grantee), .list(remaining.map { .bytes($0.bytes) }))
        }
        state.set(ConsentIndex.countKey(patient), .int(Int64(max(0, ConsentIndex.activeCount(patient, in: state) - 1))))
    }

    /// A patient names a delegate (a registered person or staff account).
    private func addDelegate(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["delegate", "relationship"])
        let patient = try Self.sendingPatient(call, state)
        let id = try args.hash("delegate")
        let relationshipName = try args.string("relationship", maxBytes: 16)
        guard let relationship = Delegate.Relationship(rawValue: relationshipName) else {
            throw Rejection(.badArguments, "relationship must be one of \(Delegate.Relationship.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let delegate = Directory.identity(id, in: state), delegate.kind == .patient || delegate.kind == .member, id != patient.id else {
            throw Rejection(.unknownIdentity, "no person \(id.hex) to name as delegate")
        }
        guard !delegate.revoked else { throw Rejection(.granteeRevoked, "\(id.hex) is revoked") }
        var delegates = ConsentIndex.delegates(of: patient.id, in: state).filter { $0.id != id }
        guard delegates.count < Self.delegatesMax else { throw Rejection(.tooManyDelegates, "a patient names at most \(Self.delegatesMax) delegates") }
        delegates.append(Delegate(id: id, relationship: relationship, height: call.height))
        Self.store(delegates, of: patient.id, &state)
    }

    /// A patient removes a delegate.
    private func removeDelegate(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["delegate"])
        let patient = try Self.sendingPatient(call, state)
        let id = try args.hash("delegate")
        let delegates = ConsentIndex.delegates(of: patient.id, in: state)
        guard delegates.contains(where: { $0.id == id }) else { throw Rejection(.unknownDelegate, "\(id.hex) is not a delegate") }
        Self.store(delegates.filter { $0.id != id }, of: patient.id, &state)
    }

    /// An emergency clinician opens time-limited access without consent; the patient gets a notice.
    private func breakGlass(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["patient", "record", "reason", "justificationHash", "minutes"])
        let requester = try Directory.require(.emergencyClinician, of: call, in: state)
        let patient = try args.hash("patient")
        guard Directory.identity(patient, in: state)?.kind == .patient else { throw Rejection(.unknownPatient, "no patient \(patient.hex)") }
        let record = try args.optionalHash("record")
        if let record {
            guard let entry = RecordIndex.current(record, in: state), entry.patient == patient else {
                throw Rejection(.unknownRecord, "patient \(patient.hex) has no record \(record.hex)")
            }
        }
        let reasonName = try args.string("reason", maxBytes: 32)
        guard let reason = BreakGlassReason(rawValue: reasonName) else {
            throw Rejection(.badArguments, "reason must be one of \(BreakGlassReason.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let minutes = try args.int("minutes", in: 1...Self.breakGlassMinutesMax)
        let grant = BreakGlassGrant(requester: requester.id, patient: patient, record: record, reason: reason,
                                    justificationHash: try args.hash("justificationHash"), expiresMs: call.timeMs + minutes * 60_000,
                                    height: call.height, timeMs: call.timeMs)
        state.set(ConsentIndex.breakGlassKey(patient, requester.id), grant.canonical)
        state.set(ConsentIndex.noticeKey(patient, call.transaction.id), grant.canonical)
    }

    // MARK: helpers

    /// The sender (patient or delegate) and the patient a consent call acts for.
    private func patientSide(_ call: ContractCall, _ args: Arguments, _ state: StateView) throws(Rejection) -> (IdentityID, IdentityID) {
        let sender = try Directory.activeSender(call, in: state)
        let patient = try args.hash("patient")
        guard let identity = Directory.identity(patient, in: state), identity.kind == .patient else {
            throw Rejection(.unknownPatient, "no patient \(patient.hex)")
        }
        guard sender.id == patient || ConsentIndex.isDelegate(sender.id, of: patient, in: state) else {
            throw Rejection(.notPatientOrDelegate, "only patient \(patient.hex) or their delegate may manage their consents")
        }
        return (sender.id, patient)
    }

    private static func sendingPatient(_ call: ContractCall, _ state: StateView) throws(Rejection) -> Identity {
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .patient else { throw Rejection(.unauthorized, "only a patient names delegates") }
        return sender
    }

    private static func grantee(_ args: Arguments, _ state: StateView) throws(Rejection) -> Grantee {
        let kind = try args.string("kind", maxBytes: 16)
        if kind == "role" {
            try args.allowOnly(["kind", "role"])
            let name = try args.string("role", maxBytes: 32)
            guard let role = Role(rawValue: name) else { throw Rejection(.unknownRole, "unknown role “\(name)”") }
            return .role(role)
        }
        try args.allowOnly(["kind", "id"])
        let id = try args.hash("id")
        guard let identity = Directory.identity(id, in: state) else { throw Rejection(.unknownGrantee, "no identity \(id.hex) to grant to") }
        guard !identity.revoked else { throw Rejection(.granteeRevoked, "grantee \(id.hex) is revoked") }
        switch (kind, identity.kind) {
        case ("member", .member), ("member", .device): return .member(id)
        case ("organization", .organization): return .organization(id)
        case ("member", _), ("organization", _): throw Rejection(.unknownGrantee, "\(id.hex) is not a \(kind)")
        default: throw Rejection(.badArguments, "grantee kind must be member, organization or role")
        }
    }

    private static func store(_ delegates: [Delegate], of patient: IdentityID, _ state: inout StateView) {
        guard !delegates.isEmpty else { state.delete(ConsentIndex.delegatesKey(patient)); return }
        state.set(ConsentIndex.delegatesKey(patient), .list(delegates.map {
            .map(["id": .bytes($0.id.bytes), "relationship": .string($0.relationship.rawValue), "height": .int(Int64($0.height))])
        }))
    }
}
