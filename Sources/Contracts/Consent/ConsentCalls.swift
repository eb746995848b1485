public import LedgerCore

extension Purpose: ArgumentName {
    public static var argumentDescription: String { "purpose of use" }
    public static var unknownNameCode: ResultCode { .unknownPurpose }
}

extension ConsentAction: ArgumentName {
    public static var argumentDescription: String { "action" }
}

extension Delegate.Relationship: ArgumentName {
    public static var argumentDescription: String { "relationship" }
    public static var nameBytesMax: Int { 16 }
}

extension BreakGlassReason: ArgumentName {
    public static var argumentDescription: String { "break-glass reason" }
}

/// The argument (and stored) form of a grantee: `{kind: member|organization, id}` or `{kind: role, role}`.
extension Grantee: Codable {
    private enum CodingKeys: String, CodingKey { case kind, id, role }

    /// The grantee kinds.
    enum Kind: String, ArgumentName {
        case member, organization, role
        static var argumentDescription: String { "grantee kind" }
        static var nameBytesMax: Int { 16 }
    }

    /// Which kind of grantee this is.
    var kind: Kind {
        switch self {
        case .member: .member
        case .organization: .organization
        case .role: .role
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .kind) {
        case .member: self = .member(try container.decode(IdentityID.self, forKey: .id))
        case .organization: self = .organization(try container.decode(IdentityID.self, forKey: .id))
        case .role: self = .role(try container.decode(Role.self, forKey: .role))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .member(let id), .organization(let id): try container.encode(id, forKey: .id)
        case .role(let role): try container.encode(role, forKey: .role)
        }
    }
}

extension ConsentContract {
    /// The consent contract's methods.
    public enum Method: String, ContractMethods {
        case grant, revoke, addDelegate, removeDelegate, breakGlass
        public static let contract = "consent"
    }

    /// consent.grant: the patient or a delegate grants a consent; its id is the transaction id.
    public struct Grant: ContractMethod, Equatable {
        public static let method = Method.grant
        public var patient: IdentityID
        public var grantee: Grantee
        /// Scope lists; absent or empty means "any" (sensitive categories must be named).
        public var categories: [SensitivityCategory]?
        public var resourceTypes: [String]?
        public var records: [Hash256]?
        public var purposes: [Purpose]
        public var actions: [ConsentAction]
        /// Period; the start defaults to the block time, no end means until revoked.
        public var startMs: Int64?
        public var endMs: Int64?

        public init(patient: IdentityID, grantee: Grantee, categories: [SensitivityCategory]? = nil, resourceTypes: [String]? = nil,
                    records: [Hash256]? = nil, purposes: [Purpose], actions: [ConsentAction], startMs: Int64? = nil, endMs: Int64? = nil) {
            (self.patient, self.grantee, self.categories, self.resourceTypes, self.records, self.purposes, self.actions, self.startMs, self.endMs) =
                (patient, grantee, categories, resourceTypes, records, purposes, actions, startMs, endMs)
        }

        public func validate() throws(Rejection) {
            try Check.count(categories, CodingKeys.categories, 0...ConsentContract.scopeItemsMax)
            try Check.count(resourceTypes, CodingKeys.resourceTypes, 0...ConsentContract.scopeItemsMax)
            for name in resourceTypes ?? [] where !RecordsContract.isResourceTypeName(name) {
                throw Rejection(.unknownResourceType, "unknown resource type “\(name.prefix(40))”")
            }
            try Check.count(records, CodingKeys.records, 0...ConsentContract.scopeItemsMax)
            try Check.count(purposes, CodingKeys.purposes, 0...Purpose.allCases.count)
            guard !purposes.isEmpty else { throw Rejection(.badArguments, "name at least one purpose of use") }
            try Check.count(actions, CodingKeys.actions, 0...ConsentAction.allCases.count)
            guard !actions.isEmpty else { throw Rejection(.badArguments, "name at least one action (read, contribute)") }
            try Check.timeMs(startMs, CodingKeys.startMs)
            try Check.timeMs(endMs, CodingKeys.endMs)
        }
    }

    /// consent.revoke: the patient or a delegate revokes a consent.
    public struct Revoke: ContractMethod, Equatable {
        public static let method = Method.revoke
        public var patient: IdentityID
        public var consent: Hash256

        public init(patient: IdentityID, consent: Hash256) { (self.patient, self.consent) = (patient, consent) }
    }

    /// consent.addDelegate: a patient names a delegate.
    public struct AddDelegate: ContractMethod, Equatable {
        public static let method = Method.addDelegate
        public var delegate: IdentityID
        public var relationship: Delegate.Relationship

        public init(delegate: IdentityID, relationship: Delegate.Relationship) { (self.delegate, self.relationship) = (delegate, relationship) }
    }

    /// consent.removeDelegate: a patient removes a delegate.
    public struct RemoveDelegate: ContractMethod, Equatable {
        public static let method = Method.removeDelegate
        public var delegate: IdentityID

        public init(delegate: IdentityID) { self.delegate = delegate }
    }

    /// consent.breakGlass: an emergency clinician opens time-limited access without consent.
    public struct BreakGlass: ContractMethod, Equatable {
        public static let method = Method.breakGlass
        public var patient: IdentityID
        /// Limits the access to one record when set.
        public var record: Hash256?
        public var reason: BreakGlassReason
        /// SHA-256 of the sealed free-text justification.
        public var justificationHash: Hash256
        public var minutes: Int64

        public init(patient: IdentityID, record: Hash256? = nil, reason: BreakGlassReason, justificationHash: Hash256, minutes: Int64) {
            (self.patient, self.record, self.reason, self.justificationHash, self.minutes) = (patient, record, reason, justificationHash, minutes)
        }

        public func validate() throws(Rejection) {
            try Check.int(minutes, CodingKeys.minutes, in: 1...ConsentContract.breakGlassMinutesMax)
        }
    }
}
