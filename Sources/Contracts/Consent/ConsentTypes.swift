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

    var canonical: CanonicalValue {
        switch self {
        case .member(let id): .map(["kind": .string("member"), "id": .bytes(id.bytes)])
        case .organization(let id): .map(["kind": .string("organization"), "id": .bytes(id.bytes)])
        case .role(let role): .map(["kind": .string("role"), "role": .string(role.rawValue)])
        }
    }

    init?(canonical value: CanonicalValue) {
        switch value["kind"]?.stringValue {
        case "member": guard let id = value["id"]?.bytesValue.flatMap({ Hash256(bytes: $0) }) else { return nil }; self = .member(id)
        case "organization": guard let id = value["id"]?.bytesValue.flatMap({ Hash256(bytes: $0) }) else { return nil }; self = .organization(id)
        case "role": guard let role = value["role"]?.stringValue.flatMap(Role.init(rawValue:)) else { return nil }; self = .role(role)
        default: return nil
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
public struct ConsentScope: Sendable, Equatable {
    public var categories: [SensitivityCategory]
    public var resourceTypes: [String]
    public var records: [Hash256]

    public init(categories: [SensitivityCategory] = [], resourceTypes: [String] = [], records: [Hash256] = []) {
        self.categories = categories.sorted()
        self.resourceTypes = resourceTypes.sorted()
        self.records = records.sorted()
    }

    /// Why the scope does not cover a record, or nil if it does.
    func mismatch(_ record: RecordEntry) -> DecisionReason? {
        if !records.isEmpty, !records.contains(record.record) { return .outsideScope }
        if !resourceTypes.isEmpty, !resourceTypes.contains(record.resourceType) { return .outsideScope }
        if !categories.isEmpty, !categories.contains(record.category) {
            return record.category.isSensitive ? .sensitiveNotNamed : .outsideScope
        }
        if record.category.isSensitive, categories.isEmpty, !records.contains(record.record) { return .sensitiveNotNamed }
        return nil
    }

    var canonical: CanonicalValue {
        .map([
            "categories": .list(categories.map { .string($0.rawValue) }),
            "resourceTypes": .list(resourceTypes.map { .string($0) }),
            "records": .list(records.map { .bytes($0.bytes) }),
        ])
    }

    init?(canonical value: CanonicalValue) {
        guard let c = value["categories"]?.listValue, let t = value["resourceTypes"]?.listValue, let r = value["records"]?.listValue
        else { return nil }
        self.categories = c.compactMap { $0.stringValue.flatMap(SensitivityCategory.init(rawValue:)) }
        self.resourceTypes = t.compactMap(\.stringValue)
        self.records = r.compactMap { $0.bytesValue.flatMap { Hash256(bytes: $0) } }
    }
}

/// A consent as the chain stores it. Its id is the id of the transaction that granted it.
public struct ConsentEntry: Sendable, Equatable {
    public var id: Hash256
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

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = [
            "patient": .bytes(patient.bytes), "grantor": .bytes(grantor.bytes), "grantee": grantee.canonical,
            "scope": scope.canonical, "purposes": .list(purposes.sorted().map { .string($0.rawValue) }),
            "actions": .list(actions.sorted().map { .string($0.rawValue) }), "startMs": .int(startMs),
            "grantedHeight": .int(Int64(grantedHeight)),
        ]
        if let endMs { map["endMs"] = .int(endMs) }
        if let revokedHeight { map["revokedHeight"] = .int(Int64(revokedHeight)) }
        if let revokedBy { map["revokedBy"] = .bytes(revokedBy.bytes) }
        return .map(map)
    }

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

    init?(id: Hash256, canonical value: CanonicalValue) {
        guard let patient = value["patient"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let grantor = value["grantor"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let grantee = value["grantee"].flatMap(Grantee.init(canonical:)),
              let scope = value["scope"].flatMap(ConsentScope.init(canonical:)),
              let purposes = value["purposes"]?.listValue, let actions = value["actions"]?.listValue,
              let startMs = value["startMs"]?.intValue, let granted = value["grantedHeight"]?.intValue
        else { return nil }
        self.init(id: id, patient: patient, grantor: grantor, grantee: grantee, scope: scope,
                  purposes: purposes.compactMap { $0.stringValue.flatMap(Purpose.init(rawValue:)) },
                  actions: actions.compactMap { $0.stringValue.flatMap(ConsentAction.init(rawValue:)) },
                  startMs: startMs, endMs: value["endMs"]?.intValue, grantedHeight: UInt64(granted))
        revokedHeight = value["revokedHeight"]?.intValue.map { UInt64($0) }
        revokedBy = value["revokedBy"]?.bytesValue.flatMap { Hash256(bytes: $0) }
    }
}

/// Coded reasons an emergency clinician may give for break-glass access.
public enum BreakGlassReason: String, Sendable, CaseIterable {
    case unconscious, lifeThreatening = "life-threatening", unableToConsent = "unable-to-consent", other
}

/// An active break-glass grant: one emergency clinician, one patient, until `expiresMs`.
public struct BreakGlassGrant: Sendable, Equatable {
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

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = [
            "requester": .bytes(requester.bytes), "patient": .bytes(patient.bytes), "reason": .string(reason.rawValue),
            "justificationHash": .bytes(justificationHash.bytes), "expiresMs": .int(expiresMs),
            "height": .int(Int64(height)), "timeMs": .int(timeMs),
        ]
        if let record { map["record"] = .bytes(record.bytes) }
        return .map(map)
    }

    init(requester: IdentityID, patient: IdentityID, record: Hash256?, reason: BreakGlassReason, justificationHash: Hash256,
         expiresMs: Int64, height: UInt64, timeMs: Int64) {
        self.requester = requester
        self.patient = patient
        self.record = record
        self.reason = reason
        self.justificationHash = justificationHash
        self.expiresMs = expiresMs
        self.height = height
        self.timeMs = timeMs
    }

    init?(canonical value: CanonicalValue) {
        guard let requester = value["requester"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let patient = value["patient"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let reason = value["reason"]?.stringValue.flatMap(BreakGlassReason.init(rawValue:)),
              let justification = value["justificationHash"]?.bytesValue.flatMap({ Hash256(bytes: $0) }),
              let expires = value["expiresMs"]?.intValue, let height = value["height"]?.intValue, let time = value["timeMs"]?.intValue
        else { return nil }
        self.init(requester: requester, patient: patient, record: value["record"]?.bytesValue.flatMap { Hash256(bytes: $0) },
                  reason: reason, justificationHash: justification, expiresMs: expires, height: UInt64(height), timeMs: time)
    }
}

/// A delegate (guardian, proxy) who may act for a patient in consent matters.
public struct Delegate: Sendable, Equatable {
    /// The relationships a patient can name.
    public enum Relationship: String, Sendable, CaseIterable { case guardian, parent, proxy }

    public var id: IdentityID
    public var relationship: Relationship
    public var height: UInt64
}
