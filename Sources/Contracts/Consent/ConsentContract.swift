public import LedgerCore

/// Consent, with FHIR Consent semantics: a patient (or their delegate) grants a member, an
/// organization or a role access to categories, resource types or records, for purposes of use
/// and actions, within a period; revokes it at any time. Also: delegates, and break-glass
/// grants for emergency clinicians (time-limited, flagged, and a notice to the patient).
public struct ConsentContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names

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
        let patient: IdentityID
        switch Method(rawValue: transaction.body.method) {
        case .grant: guard let args = Grant(transaction) else { return [] }; patient = args.patient
        case .revoke: guard let args = Revoke(transaction) else { return [] }; patient = args.patient
        case .breakGlass: guard let args = BreakGlass(transaction) else { return [] }; patient = args.patient
        case .addDelegate, .removeDelegate, nil: return []
        }
        return [Directory.identityKey(patient), ConsentIndex.delegatesKey(patient), ConsentIndex.countKey(patient)]
    }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        switch try Method.of(call) {
        case .grant: try grant(call, try Grant(call), &state)
        case .revoke: try revoke(call, try Revoke(call), &state)
        case .addDelegate: try addDelegate(call, try AddDelegate(call), &state)
        case .removeDelegate: try removeDelegate(call, try RemoveDelegate(call), &state)
        case .breakGlass: try breakGlass(call, try BreakGlass(call), &state)
        }
    }

    /// The patient or a delegate grants a consent; its id is the transaction id.
    private func grant(_ call: ContractCall, _ args: Grant, _ state: inout StateView) throws(Rejection) {
        let (grantor, patient) = try patientSide(call, args.patient, state)
        let grantee = try Self.grantee(args.grantee, state)
        let scope = ConsentScope(categories: (args.categories ?? []).uniqued(), resourceTypes: (args.resourceTypes ?? []).uniqued(),
                                 records: args.records ?? [])
        let purposes = args.purposes.uniqued()
        let actions = args.actions.uniqued()
        let startMs = args.startMs ?? call.timeMs
        let endMs = args.endMs
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
        try state.set(ConsentIndex.grantKey(patient, consent.id), consent)
        state.set(ConsentIndex.indexKey(patient, grantee), .list(ids.map { .bytes($0.bytes) }))
        state.set(ConsentIndex.countKey(patient), .int(Int64(count + 1)))
    }

    /// The patient or a delegate revokes a consent; decisions stop using it from this block on.
    private func revoke(_ call: ContractCall, _ args: Revoke, _ state: inout StateView) throws(Rejection) {
        let (revoker, patient) = try patientSide(call, args.patient, state)
        let id = args.consent
        guard var consent = ConsentIndex.consent(id, patient: patient, in: state) else {
            throw Rejection(.unknownConsent, "patient \(patient.hex) has no consent \(id.hex)")
        }
        guard !consent.isRevoked else { throw Rejection(.consentAlreadyRevoked, "consent \(id.hex) is already revoked") }
        consent.revokedHeight = call.height
        consent.revokedBy = revoker
        try state.set(ConsentIndex.grantKey(patient, id), consent)
        let remaining = ConsentIndex.activeIDs(patient, consent.grantee, in: state).filter { $0 != id }
        if remaining.isEmpty {
            state.delete(ConsentIndex.indexKey(patient, consent.grantee))
        } else {
            state.set(ConsentIndex.indexKey(patient, consent.grantee), .list(remaining.map { .bytes($0.bytes) }))
        }
        state.set(ConsentIndex.countKey(patient), .int(Int64(max(0, ConsentIndex.activeCount(patient, in: state) - 1))))
    }

    /// A patient names a delegate (a registered person or staff account).
    private func addDelegate(_ call: ContractCall, _ args: AddDelegate, _ state: inout StateView) throws(Rejection) {
        let patient = try Self.sendingPatient(call, state)
        let id = args.delegate
        let relationship = args.relationship
        guard let delegate = Directory.identity(id, in: state), delegate.kind == .patient || delegate.kind == .member, id != patient.id else {
            throw Rejection(.unknownIdentity, "no person \(id.hex) to name as delegate")
        }
        guard !delegate.revoked else { throw Rejection(.granteeRevoked, "\(id.hex) is revoked") }
        var delegates = ConsentIndex.delegates(of: patient.id, in: state).filter { $0.id != id }
        guard delegates.count < Self.delegatesMax else { throw Rejection(.tooManyDelegates, "a patient names at most \(Self.delegatesMax) delegates") }
        delegates.append(Delegate(id: id, relationship: relationship, height: call.height))
        try Self.store(delegates, of: patient.id, &state)
    }

    /// A patient removes a delegate.
    private func removeDelegate(_ call: ContractCall, _ args: RemoveDelegate, _ state: inout StateView) throws(Rejection) {
        let patient = try Self.sendingPatient(call, state)
        let id = args.delegate
        let delegates = ConsentIndex.delegates(of: patient.id, in: state)
        guard delegates.contains(where: { $0.id == id }) else { throw Rejection(.unknownDelegate, "\(id.hex) is not a delegate") }
        try Self.store(delegates.filter { $0.id != id }, of: patient.id, &state)
    }

    /// An emergency clinician of a hospital or clinic opens time-limited access without consent;
    /// the patient gets a notice.
    private func breakGlass(_ call: ContractCall, _ args: BreakGlass, _ state: inout StateView) throws(Rejection) {
        let requester = try Directory.activeSender(call, in: state)
        guard ConsentPolicy.mayBreakGlass(requester, organizationType: Directory.organizationType(of: requester, in: state)) else {
            throw Rejection(.unauthorized, "breakGlass needs a member with the emergency-clinician role at a hospital or clinic")
        }
        let patient = args.patient
        guard Directory.identity(patient, in: state)?.kind == .patient else { throw Rejection(.unknownPatient, "no patient \(patient.hex)") }
        let record = args.record
        if let record {
            guard let entry = RecordIndex.current(record, in: state), entry.patient == patient else {
                throw Rejection(.unknownRecord, "patient \(patient.hex) has no record \(record.hex)")
            }
        }
        let grant = BreakGlassGrant(requester: requester.id, patient: patient, record: record, reason: args.reason,
                                    justificationHash: args.justificationHash, expiresMs: call.timeMs + args.minutes * 60_000,
                                    height: call.height, timeMs: call.timeMs)
        try state.set(ConsentIndex.breakGlassKey(patient, requester.id), grant)
        try state.set(ConsentIndex.noticeKey(patient, call.transaction.id), grant)
    }

    // MARK: helpers

    /// The sender (patient or delegate) and the patient a consent call acts for.
    private func patientSide(_ call: ContractCall, _ patient: IdentityID, _ state: StateView) throws(Rejection) -> (IdentityID, IdentityID) {
        let sender = try Directory.activeSender(call, in: state)
        guard let identity = Directory.identity(patient, in: state), identity.kind == .patient else {
            throw Rejection(.unknownPatient, "no patient \(patient.hex)")
        }
        guard ConsentIndex.isPatientSide(sender.id, of: patient, in: state) else {
            throw Rejection(.notPatientOrDelegate, "only patient \(patient.hex) or their delegate may manage their consents")
        }
        return (sender.id, patient)
    }

    private static func sendingPatient(_ call: ContractCall, _ state: StateView) throws(Rejection) -> Identity {
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .patient else { throw Rejection(.unauthorized, "only a patient names delegates") }
        return sender
    }

    /// Checks a member or organization grantee against the directory.
    private static func grantee(_ grantee: Grantee, _ state: StateView) throws(Rejection) -> Grantee {
        let id: IdentityID
        let kinds: Set<IdentityKind>
        switch grantee {
        case .role: return grantee
        case .member(let member): (id, kinds) = (member, [.member, .device])
        case .organization(let organization): (id, kinds) = (organization, [.organization])
        }
        guard let identity = Directory.identity(id, in: state) else { throw Rejection(.unknownGrantee, "no identity \(id.hex) to grant to") }
        guard !identity.revoked else { throw Rejection(.granteeRevoked, "grantee \(id.hex) is revoked") }
        guard kinds.contains(identity.kind) else { throw Rejection(.unknownGrantee, "\(id.hex) is not a \(grantee.kind.rawValue)") }
        return grantee
    }

    private static func store(_ delegates: [Delegate], of patient: IdentityID, _ state: inout StateView) throws(Rejection) {
        guard !delegates.isEmpty else { state.delete(ConsentIndex.delegatesKey(patient)); return }
        try state.set(ConsentIndex.delegatesKey(patient), delegates)
    }
}
