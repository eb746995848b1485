public import LedgerCore

extension Role: ArgumentName {
    public static var argumentDescription: String { "role" }
    public static var unknownNameCode: ResultCode { .unknownRole }
}

extension OrganizationType: ArgumentName {
    public static var argumentDescription: String { "organization type" }
    public static var unknownNameCode: ResultCode { .unknownOrganizationType }
}

extension IdentityKind: ArgumentName {
    public static var argumentDescription: String { "identity kind" }
    public static var nameBytesMax: Int { 16 }
}

extension MembershipContract {
    /// The membership contract's methods.
    public enum Method: String, ContractMethods {
        case found, admitOrganization, enroll, setRoles, registerPatient, rotateKey, revoke, setCareTeamCategories, removeOrganization
        public static let contract = "membership"
    }

    /// membership.found (genesis only): a founding organization registers itself, naming orderer keys.
    public struct Found: ContractMethod, Equatable {
        public static let method = Method.found
        public var label: String
        public var organizationType: OrganizationType
        public var agreementKey: [UInt8]
        public var orderers: [SigningPublicKey]?
        /// How many organizations must attest a block's values for it to be final (named by the
        /// first founder only; absent: a majority of the founders).
        public var finalityQuorum: Int64?
        /// True: organizations are admitted and removed by a majority of the founding organizations
        /// (`MembershipContract` "consortium policy"), not by any one organization. Named by the
        /// first founder (`Genesis.make`); founders founded before the one naming it would not vote.
        public var foundersDecide: Bool?

        public init(label: String, organizationType: OrganizationType, agreementKey: [UInt8], orderers: [SigningPublicKey]? = nil,
                    finalityQuorum: Int64? = nil, foundersDecide: Bool? = nil) {
            (self.label, self.organizationType, self.agreementKey, self.orderers, self.finalityQuorum, self.foundersDecide) =
                (label, organizationType, agreementKey, orderers, finalityQuorum, foundersDecide)
        }

        public func validate() throws(Rejection) {
            try Check.text(label, CodingKeys.label, maxBytes: MembershipContract.labelBytesMax)
            try Check.bytes(agreementKey, CodingKeys.agreementKey, count: 32)
            try Check.count(orderers, CodingKeys.orderers, 0...MembershipContract.orderersPerOrganizationMax)
            if let finalityQuorum, !(1...Int64(MembershipContract.foundersMax)).contains(finalityQuorum) {
                throw Rejection(.badArguments, "“finalityQuorum” must be 1…\(MembershipContract.foundersMax)")
            }
        }
    }

    /// membership.removeOrganization (consortium policy only): a founding organization proposes or
    /// approves the removal of an organization; a majority of the founders removes it.
    public struct RemoveOrganization: ContractMethod, Equatable {
        public static let method = Method.removeOrganization
        public var organization: IdentityID

        public init(organization: IdentityID) { self.organization = organization }
    }

    /// membership.admitOrganization: an active organization admits another.
    public struct AdmitOrganization: ContractMethod, Equatable {
        public static let method = Method.admitOrganization
        public var label: String
        public var organizationType: OrganizationType
        public var signingKey: SigningPublicKey
        public var agreementKey: [UInt8]

        public init(label: String, organizationType: OrganizationType, signingKey: SigningPublicKey, agreementKey: [UInt8]) {
            (self.label, self.organizationType, self.signingKey, self.agreementKey) = (label, organizationType, signingKey, agreementKey)
        }

        public func validate() throws(Rejection) {
            try Check.text(label, CodingKeys.label, maxBytes: MembershipContract.labelBytesMax)
            try Check.bytes(agreementKey, CodingKeys.agreementKey, count: 32)
        }
    }

    /// membership.enroll: an organization enrolls a member or a device with roles.
    public struct Enroll: ContractMethod, Equatable {
        public static let method = Method.enroll
        /// `.member` or `.device`.
        public var kind: IdentityKind
        public var label: String
        public var roles: [Role]
        public var signingKey: SigningPublicKey
        public var agreementKey: [UInt8]

        public init(kind: IdentityKind = .member, label: String, roles: [Role], signingKey: SigningPublicKey, agreementKey: [UInt8]) {
            (self.kind, self.label, self.roles, self.signingKey, self.agreementKey) = (kind, label, roles, signingKey, agreementKey)
        }

        public func validate() throws(Rejection) {
            guard kind == .member || kind == .device else { throw Rejection(.badArguments, "kind must be member or device") }
            try Check.text(label, CodingKeys.label, maxBytes: MembershipContract.labelBytesMax)
            try Check.count(roles, CodingKeys.roles, 0...MembershipContract.rolesMax)
            try Check.bytes(agreementKey, CodingKeys.agreementKey, count: 32)
        }
    }

    /// membership.setRoles: an organization changes its member's roles.
    public struct SetRoles: ContractMethod, Equatable {
        public static let method = Method.setRoles
        public var member: IdentityID
        public var roles: [Role]

        public init(member: IdentityID, roles: [Role]) { (self.member, self.roles) = (member, roles) }

        public func validate() throws(Rejection) { try Check.count(roles, CodingKeys.roles, 0...MembershipContract.rolesMax) }
    }

    /// membership.registerPatient (self-registration): a patient registers their keys, no PHI.
    public struct RegisterPatient: ContractMethod, Equatable {
        public static let method = Method.registerPatient
        public var agreementKey: [UInt8]

        public init(agreementKey: [UInt8]) { self.agreementKey = agreementKey }

        public func validate() throws(Rejection) { try Check.bytes(agreementKey, CodingKeys.agreementKey, count: 32) }
    }

    /// membership.rotateKey: an identity replaces its own keys.
    public struct RotateKey: ContractMethod, Equatable {
        public static let method = Method.rotateKey
        public var signingKey: SigningPublicKey
        public var agreementKey: [UInt8]

        public init(signingKey: SigningPublicKey, agreementKey: [UInt8]) { (self.signingKey, self.agreementKey) = (signingKey, agreementKey) }

        public func validate() throws(Rejection) { try Check.bytes(agreementKey, CodingKeys.agreementKey, count: 32) }
    }

    /// membership.revoke: an organization revokes its own member or device.
    public struct Revoke: ContractMethod, Equatable {
        public static let method = Method.revoke
        public var member: IdentityID

        public init(member: IdentityID) { self.member = member }
    }

    /// membership.setCareTeamCategories: a care-providing organization lets its own care team
    /// read its records in these sensitive categories without a consent naming them (a looser
    /// policy than the default, chosen explicitly and on-chain). An empty list restores the default.
    public struct SetCareTeamCategories: ContractMethod, Equatable {
        public static let method = Method.setCareTeamCategories
        public var categories: [SensitivityCategory]

        public init(categories: [SensitivityCategory]) { self.categories = categories }

        public func validate() throws(Rejection) {
            try Check.count(categories, CodingKeys.categories, 0...SensitivityCategory.allCases.count)
            try Check.distinct(categories, CodingKeys.categories) { $0.rawValue }
            guard categories.allSatisfy(\.isSensitive) else {
                throw Rejection(.badArguments, "“categories” lists sensitive categories; general records need no choice")
            }
        }
    }
}
