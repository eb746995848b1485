public import LedgerCore

/// What kind of party an identity is.
public enum IdentityKind: String, Sendable, CaseIterable {
    case organization, member, patient, device
}

/// The roles an organization can give its members. Later contracts ask for these.
public enum Role: String, Sendable, CaseIterable, Comparable {
    case admin, clinician, emergencyClinician = "emergency-clinician", nurse, pharmacist
    case payerAgent = "payer-agent", auditor, researcher, integration, supplyChain = "supply-chain"
    /// Answers for the organization's handling of sensitive records; may release a carried label.
    case privacyOfficer = "privacy-officer"

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The kinds of organization a consortium admits.
public enum OrganizationType: String, Sendable, CaseIterable {
    case hospital, clinic, payer, pharmacy, laboratory, manufacturer, distributor, sponsor, regulator, `operator`
}

/// An identity as the Membership contract stores it. No PHI: labels name organizations and staff
/// accounts; patients have no label at all (their id is their pseudonym).
public struct Identity: StoredValue, Equatable {
    /// From the state key.
    public var id: IdentityID = .zero
    public var kind: IdentityKind
    /// For members and devices, the organization that enrolled them.
    public var organization: IdentityID?
    /// For organizations, their type.
    public var organizationType: OrganizationType?
    /// The roles given. Only those the organization's type allows count: ask
    /// `Directory.effectiveRoles(of:in:)`, never this list, whether a role may act.
    public var roles: [Role]
    public var signingKey: SigningPublicKey
    public var agreementKey: [UInt8]
    public var label: String
    public var revoked: Bool
    public var registeredHeight: UInt64
    /// Incremented by each key rotation.
    public var keyVersion: UInt64
    /// For organizations: sensitive categories their care team reads without a consent naming
    /// them (`membership.setCareTeamCategories`, an explicit and on-chain choice). Nil: none, the default.
    public var careTeamCategories: [SensitivityCategory]?

    init(id: IdentityID, kind: IdentityKind, organization: IdentityID?, organizationType: OrganizationType?, roles: [Role],
         signingKey: SigningPublicKey, agreementKey: [UInt8], label: String, registeredHeight: UInt64) {
        self.id = id
        self.kind = kind
        self.organization = organization
        self.organizationType = organizationType
        self.roles = roles.sorted()
        self.signingKey = signingKey
        self.agreementKey = agreementKey
        self.label = label
        self.revoked = false
        self.registeredHeight = registeredHeight
        self.keyVersion = 1
    }

    private enum CodingKeys: String, CodingKey {
        case kind, organization, organizationType, roles, signingKey, agreementKey, label, revoked, registeredHeight, keyVersion
        case careTeamCategories
    }
}

/// Read-only questions every contract asks: "who is this sender and what may they do".
public enum Directory {
    public static func identityKey(_ id: IdentityID) -> String { "membership/identity/\(id.hex)" }
    static func signingKeyIndex(_ key: SigningPublicKey) -> String { "membership/key/\(Hex.encode(key.rawValue))" }
    static func ordererKey(_ key: SigningPublicKey) -> String { "membership/orderer/\(Hex.encode(key.rawValue))" }

    /// The identity, if registered.
    public static func identity(_ id: IdentityID, in state: StateView) -> Identity? {
        let key = identityKey(id)
        guard let bytes = state.get(key) else { return nil }
        // The memo serves the block's repeated reads; on a miss the committed-state reader's own
        // decoded cache (the node's state cache) serves identities unchanged since earlier blocks.
        return state.identityMemo.value(for: key, bytes: bytes) { _ in
            state.decoded(key) { bytes in Identity.decode(bytes) { $0.id = id } }
        }
    }

    /// The identity from committed state.
    public static func identity(_ id: IdentityID, in reader: any StateReader) -> Identity? {
        reader.decoded(identityKey(id)) { bytes in Identity.decode(bytes) { $0.id = id } }
    }

    /// Whether `key` may sign blocks.
    public static func isOrderer(_ key: SigningPublicKey, in reader: any StateReader) -> Bool {
        reader.value(for: ordererKey(key)) != nil
    }

    /// The active sender of a call, or a rejection. Use in every contract method.
    public static func activeSender(_ call: ContractCall, in state: StateView) throws(Rejection) -> Identity {
        guard let identity = identity(call.sender, in: state) else {
            throw Rejection(.unknownSender, "sender \(call.sender.hex) is not registered")
        }
        guard !identity.revoked else { throw Rejection(.senderRevoked, "sender \(call.sender.hex) has been revoked") }
        return identity
    }
}
