public import LedgerCore

/// One access a requester asks for.
public struct AccessRequest: Sendable, Equatable {
    public var requester: IdentityID
    public var record: Hash256
    public var purpose: Purpose
    public var action: ConsentAction
    /// The version asked for (vread, history); nil for the current one. An older version is
    /// released under the record's labels and its own, whichever are stricter.
    public var version: UInt64?

    public init(requester: IdentityID, record: Hash256, purpose: Purpose, action: ConsentAction, version: UInt64? = nil) {
        (self.requester, self.record, self.purpose, self.action, self.version) = (requester, record, purpose, action, version)
    }
}

/// Permit, deny, or permit under break-glass.
public enum DecisionOutcome: String, Sendable, CaseIterable {
    case permit, deny
    case breakGlass = "break-glass"
}

/// Why a decision came out as it did. Stable names: they are stored in audit entries.
public enum DecisionReason: String, Sendable, CaseIterable {
    // Permits.
    case patientSelf = "patient-self"
    case delegate
    case author
    case custodianCareTeam = "custodian-care-team"
    case consent
    case directoryResource = "directory-resource"
    case breakGlass = "break-glass"
    /// A ledger object about the patient (a claim, coverage, prior authorization, prescription,
    /// trial participation or telehealth session) shown to one of its parties (`ReadRules`).
    case party
    // Denials.
    case unknownRequester = "unknown-requester"
    case requesterRevoked = "requester-revoked"
    case unknownRecord = "unknown-record"
    case recordErased = "record-erased"
    case noConsent = "no-consent"
    case consentExpired = "consent-expired"
    case consentNotYetValid = "consent-not-yet-valid"
    case purposeNotPermitted = "purpose-not-permitted"
    case actionNotPermitted = "action-not-permitted"
    case outsideScope = "outside-scope"
    case sensitiveNotNamed = "sensitive-category-not-named"
    case breakGlassExpired = "break-glass-expired"
    /// A ledger object about the patient asked for by someone who is not one of its parties.
    case notAParty = "not-a-party"

    /// A sentence for people.
    public var text: String {
        switch self {
        case .patientSelf: "the patient reads their own record"
        case .delegate: "the requester is the patient's registered delegate"
        case .author: "the requester wrote this record"
        case .custodianCareTeam: "the requester is on the care team of the record's custodian"
        case .consent: "a consent of the patient permits it"
        case .directoryResource: "directory data (no patient) is readable by every active identity"
        case .breakGlass: "emergency break-glass access"
        case .unknownRequester: "the requester is not registered"
        case .requesterRevoked: "the requester has been revoked"
        case .unknownRecord: "no such record"
        case .recordErased: "the record was erased"
        case .noConsent: "no consent of the patient covers the requester"
        case .consentExpired: "the consent has expired"
        case .consentNotYetValid: "the consent is not in effect yet"
        case .purposeNotPermitted: "the consent does not cover this purpose of use"
        case .actionNotPermitted: "the consent does not cover this action"
        case .outsideScope: "the record is outside the consent's scope"
        case .sensitiveNotNamed: "the record is in a sensitive category the consent does not name"
        case .breakGlassExpired: "the break-glass access has expired"
        case .party: "the requester is a party to this ledger object (a claim, prescription, session …)"
        case .notAParty: "the requester is not a party to this ledger object"
        }
    }

    /// The reasons `ConsentPolicy.decide` gives (not `party` and `notAParty`: those are for the
    /// ledger objects `ReadRules` decides).
    public static let consentReasons: Set<DecisionReason> = Set(allCases).subtracting([.party, .notAParty])

    /// How close a failed consent came to permitting: the denial reported is the closest one.
    var closeness: Int {
        switch self {
        case .consentExpired, .consentNotYetValid: 5
        case .purposeNotPermitted: 4
        case .actionNotPermitted: 3
        case .sensitiveNotNamed: 2
        case .outsideScope: 1
        default: 0
        }
    }
}

/// The answer to an access request: the outcome, why, and the consent that decided it.
public struct Decision: Sendable, Equatable {
    public var outcome: DecisionOutcome
    public var reason: DecisionReason
    /// The consent that permitted, or the closest one that failed.
    public var consent: Hash256?
    /// The record's current entry, when it exists.
    public var record: RecordEntry?
    /// Whether the requester may be told that the record exists or existed: only when the
    /// decision — for an erased record, the one it would be had the record not been erased —
    /// permits. Anyone else hears "not known" alike for a missing, an erased and a refused
    /// record (security review finding 12); the audit log keeps the real reason.
    public var existenceVisible: Bool

    public init(outcome: DecisionOutcome, reason: DecisionReason, consent: Hash256? = nil, record: RecordEntry? = nil,
                existenceVisible: Bool? = nil) {
        (self.outcome, self.reason, self.consent, self.record) = (outcome, reason, consent, record)
        self.existenceVisible = existenceVisible ?? (outcome != .deny)
    }

    public var isPermitted: Bool { outcome != .deny }

    /// The reason as the requester may hear it. How close one of the patient's consents came
    /// (expired, another purpose, another scope) says that the consent exists and what it
    /// covers, so a denied requester hears only "no consent" (security review finding 12); the
    /// audit log keeps the real reason and the consent for the patient.
    public var requesterReason: DecisionReason { reason.closeness > 0 ? .noConsent : reason }
}

/// The consent decision: a pure function of committed state, the request and the time.
/// Deny unless the requester is the patient, a delegate (read), the author, the custodian's care
/// team (treatment, emergency treatment, operations; for a record with a sensitive label only if
/// the custodian chose to let its care team read that category), a consent permits (one naming
/// every sensitive label of the record, or the record itself), or an unexpired break-glass grant
/// applies (emergency clinician of a hospital or clinic, emergency treatment, read). Roles count
/// only where the requester's organization type allows them (`Directory.effectiveRoles`).
/// A record's labels are its own category, those carried over from earlier versions, and — for
/// an older version — that version's own category.
public enum ConsentPolicy {
    /// Roles of the custodian's care team.
    public static let careTeamRoles: Set<Role> = [.clinician, .emergencyClinician, .nurse]
    /// Purposes the custodian's care team has without consent.
    public static let careTeamPurposes: Set<Purpose> = [.treatment, .emergencyTreatment, .operations]

    /// Decides `request` against `state` at wall time `nowMs`. Consents take effect from the
    /// block after the one that granted them: `height` is the height the decision applies at
    /// (the next block for a node reading committed state, the current block inside a contract).
    public static func decide(_ request: AccessRequest, in state: any StateReader, nowMs: Int64, height: UInt64) -> Decision {
        func deny(_ reason: DecisionReason, _ consent: Hash256? = nil, _ record: RecordEntry? = nil) -> Decision {
            Decision(outcome: .deny, reason: reason, consent: consent, record: record)
        }
        guard let requester = Directory.identity(request.requester, in: state) else { return deny(.unknownRequester) }
        guard !requester.revoked else { return deny(.requesterRevoked) }
        guard let record = RecordIndex.current(request.record, in: state) else { return deny(.unknownRecord) }
        guard !record.isErased else {
            let live = decideLive(request, requester, record, in: state, nowMs: nowMs, height: height)
            return Decision(outcome: .deny, reason: .recordErased, record: record, existenceVisible: live.isPermitted)
        }
        return decideLive(request, requester, record, in: state, nowMs: nowMs, height: height)
    }

    /// The decision for an existing record, erased or not.
    static func decideLive(_ request: AccessRequest, _ requester: Identity, _ record: RecordEntry, in state: any StateReader,
                           nowMs: Int64, height: UInt64) -> Decision {
        func deny(_ reason: DecisionReason, _ consent: Hash256? = nil, _ record: RecordEntry? = nil) -> Decision {
            Decision(outcome: .deny, reason: reason, consent: consent, record: record)
        }
        func permit(_ reason: DecisionReason, _ consent: Hash256? = nil) -> Decision {
            Decision(outcome: reason == .breakGlass ? .breakGlass : .permit, reason: reason, consent: consent, record: record)
        }

        let organizationType = Directory.organizationType(of: requester, in: state)
        let roles = requester.effectiveRoles(organizationType: organizationType)

        if requester.id == record.patient { return permit(.patientSelf) }
        if request.action == .read, ConsentIndex.isDelegate(requester.id, of: record.patient, in: state) { return permit(.delegate) }
        // The author is trusted without consent only while acting for the custodian; a contributor
        // from another organization keeps access only as long as a consent does.
        if requester.id == record.author, requester.id == record.custodian || requester.organization == record.custodian {
            return permit(.author)
        }
        let labels = sensitiveLabels(of: record, version: request.version, in: state)
        if requester.kind == .member, requester.organization == record.custodian, careTeamPurposes.contains(request.purpose),
           !careTeamRoles.isDisjoint(with: roles), labels.isEmpty || labels.isSubset(of: careTeamCategories(record.custodian, in: state)) {
            return permit(.custodianCareTeam)
        }

        if record.isDirectory {
            let isDirectoryData = RecordsContract.directoryResourceTypes.contains(record.resourceType)
            return request.action == .read && isDirectoryData ? permit(.directoryResource) : deny(.noConsent, nil, record)
        }

        var closest: (reason: DecisionReason, consent: Hash256)?
        for grantee in grantees(of: requester, roles: roles) {
            for id in ConsentIndex.activeIDs(record.patient, grantee, in: state) {
                guard let consent = ConsentIndex.consent(id, patient: record.patient, in: state), !consent.isRevoked else { continue }
                guard let failure = mismatch(consent, request, record, labels: labels, nowMs: nowMs, height: height) else {
                    return permit(.consent, id)
                }
                if failure.closeness > (closest?.reason.closeness ?? -1) { closest = (failure, id) }
            }
        }

        if request.action == .read, request.purpose == .emergencyTreatment,
           mayBreakGlass(requester, organizationType: organizationType),
           let grant = ConsentIndex.breakGlass(patient: record.patient, requester: requester.id, in: state),
           grant.record == nil || grant.record == record.record, grant.height < height {
            if nowMs < grant.expiresMs { return permit(.breakGlass) }
            return deny(.breakGlassExpired, nil, record)
        }
        if let closest { return deny(closest.reason, closest.consent, record) }
        return deny(.noConsent, nil, record)
    }

    /// Whether an active (unrevoked) consent of `patient` names `requester`, its organization or
    /// one of its effective roles — whatever it covers and whether or not it is in effect yet. The
    /// ledger's evidence that the patient chose this reader (access-anomaly rules).
    public static func consentNames(_ requester: Identity, patient: IdentityID, in state: any StateReader) -> Bool {
        let roles = requester.effectiveRoles(organizationType: Directory.organizationType(of: requester, in: state))
        return grantees(of: requester, roles: roles).contains { grantee in
            ConsentIndex.activeIDs(patient, grantee, in: state).contains { id in
                ConsentIndex.consent(id, patient: patient, in: state).map { !$0.isRevoked } ?? false
            }
        }
    }

    /// Index lists a requester may be covered by: themself, their organization, their effective
    /// `roles` (sorted, so the consents are tried in the same order on every node).
    static func grantees(of requester: Identity, roles: Set<Role>) -> [Grantee] {
        var out: [Grantee] = [.member(requester.id)]
        if requester.kind == .organization { out = [.organization(requester.id)] }
        if let organization = requester.organization { out.append(.organization(organization)) }
        if requester.kind == .member { out.append(contentsOf: roles.sorted().map { .role($0) }) }
        return out
    }

    /// Whether `requester` may break the glass: a member holding the emergency-clinician role at
    /// a care-providing organization (`MembershipContract.careProviderTypes`) of
    /// `organizationType`. The one rule for `consent.breakGlass` and for reads under a grant.
    public static func mayBreakGlass(_ requester: Identity, organizationType: OrganizationType?) -> Bool {
        guard requester.kind == .member, let organizationType, MembershipContract.careProviderTypes.contains(organizationType) else {
            return false
        }
        return requester.effectiveRoles(organizationType: organizationType).contains(.emergencyClinician)
    }

    /// The sensitive labels a read of `record` (at `version`, nil for the current one) is decided on.
    static func sensitiveLabels(of record: RecordEntry, version: UInt64?, in state: any StateReader) -> Set<SensitivityCategory> {
        var labels = record.sensitiveLabels
        if let version, version != record.version, let old = RecordIndex.version(record.record, version, in: state), old.category.isSensitive {
            labels.insert(old.category)
        }
        return labels
    }

    /// The sensitive categories `custodian` lets its care team read without a naming consent.
    static func careTeamCategories(_ custodian: IdentityID, in state: any StateReader) -> Set<SensitivityCategory> {
        Set(Directory.identity(custodian, in: state)?.careTeamCategories ?? [])
    }

    /// Why a consent does not permit a request, or nil if it does.
    static func mismatch(_ consent: ConsentEntry, _ request: AccessRequest, _ record: RecordEntry, labels: Set<SensitivityCategory>,
                         nowMs: Int64, height: UInt64) -> DecisionReason? {
        if let failure = consent.scope.mismatch(record, labels: labels) { return failure }
        guard consent.actions.contains(request.action) else { return .actionNotPermitted }
        guard consent.purposes.contains(request.purpose) else { return .purposeNotPermitted }
        guard consent.grantedHeight < height, nowMs >= consent.startMs else { return .consentNotYetValid }
        if let end = consent.endMs, nowMs >= end { return .consentExpired }
        return nil
    }
}
