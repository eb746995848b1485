public import LedgerCore

/// Why data is accessed: HL7 v3 PurposeOfUse codes, as FHIR Consent uses them.
public enum Purpose: String, Sendable, CaseIterable, Comparable {
    case treatment = "TREAT"
    case emergencyTreatment = "ETREAT"
    case payment = "HPAYMT"
    case operations = "HOPERAT"
    case research = "HRESCH"
    case publicHealth = "PUBHLTH"

    public static func < (lhs: Purpose, rhs: Purpose) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a consent lets the grantee do with covered records.
public enum ConsentAction: String, Sendable, CaseIterable, Comparable {
    case read, contribute

    public static func < (lhs: ConsentAction, rhs: ConsentAction) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Who a consent is granted to: one member, every active member of an organization, or every
/// active member holding a role.
public enum Grantee: Sendable, Hashable, CustomStringConvertible {
    case member(IdentityID)
    case organization(IdentityID)
    case role(Role)

    /// The fragment of the consent index key for this grantee.
    var indexFragment: String {
        switch self {
        case .member(let id): "m-\(id.hex)"
        case .organization(let id): "o-\(id.hex)"
        case .role(let role): "r-\(role.rawValue)"
        }
    }

    public var description: String {
        switch self {
        case .member(let id): "member \(id.hex)"
        case .organization(let id): "organization \(id.hex)"
        case .role(let role): "role \(role.rawValue)"
        }
    }
}

/// What a consent covers, with FHIR Consent provision semantics: every non-empty list must
/// match; an empty list matches anything — except sensitive categories, which only a consent
/// that names the category or the record covers.
public struct ConsentScope: StoredValue, Equatable {
    public var categories: [SensitivityCategory]
    public var resourceTypes: [String]
    public var records: [Hash256]

    public init(categories: [SensitivityCategory] = [], resourceTypes: [String] = [], records: [Hash256] = []) {
        self.categories = categories.sorted()
        self.resourceTypes = resourceTypes.sorted()
        self.records = records.sorted()
    }

    /// Why the scope does not cover a record protected by the sensitive `labels` (its own
    /// category, the labels carried over from earlier versions, an older version's own), or nil
    /// if it does. A labelled record is in the scope only when the scope names every label, or
    /// names no category but the record itself.
    func mismatch(_ record: RecordEntry, labels: Set<SensitivityCategory>) -> DecisionReason? {
        if !records.isEmpty, !records.contains(record.record) { return .outsideScope }
        if !resourceTypes.isEmpty, !resourceTypes.contains(record.resourceType) { return .outsideScope }
        if !categories.isEmpty {
            if labels.isEmpty { return categories.contains(record.category) ? nil : .outsideScope }
            return labels.isSubset(of: categories) ? nil : .sensitiveNotNamed
        }
        if !labels.isEmpty, !records.contains(record.record) { return .sensitiveNotNamed }
        return nil
    }
}

/// A consent as the chain stores it. Its id is the id of the transaction that granted it.
public struct ConsentEntry: StoredValue, Equatable {
    /// The granting transaction's id (from the state key).
    public var id: Hash256 = .zero
    public var patient: IdentityID
    /// Who signed the grant: the patient or a delegate.
    public var grantor: IdentityID
    public var grantee: Grantee
    public var scope: ConsentScope
    public var purposes: [Purpose]
    public var actions: [ConsentAction]
    public var startMs: Int64
    /// Exclusive end; nil means until revoked.
    public var endMs: Int64?
    public var grantedHeight: UInt64
    public var revokedHeight: UInt64?
    public var revokedBy: IdentityID?

    public var isRevoked: Bool { revokedHeight != nil }

    init(id: Hash256, patient: IdentityID, grantor: IdentityID, grantee: Grantee, scope: ConsentScope, purposes: [Purpose],
         actions: [ConsentAction], startMs: Int64, endMs: Int64?, grantedHeight: UInt64) {
        self.id = id
        self.patient = patient
        self.grantor = grantor
        self.grantee = grantee
        self.scope = scope
        self.purposes = purposes.sorted()
        self.actions = actions.sorted()
        self.startMs = startMs
        self.endMs = endMs
        self.grantedHeight = grantedHeight
    }
}

/// Coded reasons an emergency clinician may give for break-glass access.
public enum BreakGlassReason: String, Sendable, CaseIterable {
    case unconscious, lifeThreatening = "life-threatening", unableToConsent = "unable-to-consent", other
}

/// An active break-glass grant: one emergency clinician, one patient, until `expiresMs`.
public struct BreakGlassGrant: StoredValue, Equatable {
    public var requester: IdentityID
    public var patient: IdentityID
    /// Limits the grant to one record when set.
    public var record: Hash256?
    public var reason: BreakGlassReason
    /// SHA-256 of the sealed free-text justification kept in the custodian's audit log.
    public var justificationHash: Hash256
    public var expiresMs: Int64
    public var height: UInt64
    public var timeMs: Int64
}

/// A delegate (guardian, proxy) who may act for a patient in consent matters.
public struct Delegate: StoredValue, Equatable {
    /// The relationships a patient can name.
    public enum Relationship: String, Sendable, CaseIterable { case guardian, parent, proxy }

    public var id: IdentityID
    public var relationship: Relationship
    public var height: UInt64
}

// MARK: Stored forms (keys as the chain stores them)

extension ConsentEntry {
    private enum CodingKeys: String, CodingKey {
        case patient, grantor, grantee, scope, purposes, actions, startMs, endMs, grantedHeight, revokedHeight, revokedBy
    }
}

extension BreakGlassGrant {
    private enum CodingKeys: String, CodingKey {
        case requester, patient, record, reason, justificationHash, expiresMs, height, timeMs
    }
}
