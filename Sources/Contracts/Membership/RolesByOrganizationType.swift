import LedgerCore

/// Which roles an organization may give, by its type, and the roles that count when a contract or
/// a read asks. Without this table any organization could make its members clinicians: a
/// distributor's "emergency clinician" could break the glass on a hospital's patient and would
/// match every consent granted to `role:clinician`. The table is docs/security.md, "Roles by
/// organization type".
extension MembershipContract {
    /// Roles every organization may give: administrators, auditors, and its systems' accounts.
    public static let rolesOfEveryOrganization: Set<Role> = [.admin, .auditor, .integration]

    /// Organization types that provide care. Only their emergency clinicians break the glass.
    public static let careProviderTypes: Set<OrganizationType> = [.hospital, .clinic]

    /// The roles each organization type may give, besides `rolesOfEveryOrganization`. A switch, so
    /// that a new organization type cannot be added without deciding its row.
    private static func typeRoles(_ type: OrganizationType) -> Set<Role> {
        switch type {
        case .hospital: [.clinician, .emergencyClinician, .nurse, .pharmacist, .researcher, .supplyChain, .privacyOfficer]
        case .clinic: [.clinician, .emergencyClinician, .nurse, .researcher, .privacyOfficer]
        // Pathologists author reports and laboratories are trial sites, whose staff are clinicians or researchers.
        case .laboratory: [.clinician, .researcher, .privacyOfficer]
        case .pharmacy: [.pharmacist, .supplyChain]
        case .payer: [.payerAgent]
        // A regulator's staff act in the supply chain (recalls); its auditors audit.
        case .manufacturer, .distributor, .regulator: [.supplyChain]
        case .sponsor: [.researcher]
        case .operator: []
        }
    }

    private static let allowedRolesByType: [OrganizationType: Set<Role>] =
        Dictionary(uniqueKeysWithValues: OrganizationType.allCases.map { ($0, typeRoles($0).union(rolesOfEveryOrganization)) })

    /// The roles members and devices of an organization of `type` may hold. `enroll` and
    /// `setRoles` refuse any other (`roleNotAllowed`); every role check counts only these
    /// (`Directory.effectiveRoles`), so a role given before this rule existed is a role in name only.
    public static func allowedRoles(for type: OrganizationType) -> Set<Role> {
        guard let roles = allowedRolesByType[type] else { preconditionFailure("no role row for organization type \(type.rawValue)") }
        return roles
    }

    /// Refuses the first of `roles` that `organization` may not give (`roleNotAllowed`).
    static func checkAllowed(_ roles: [Role], givenBy organization: Identity) throws(Rejection) {
        let type = organization.organizationType
        let allowed = type.map(allowedRoles(for:)) ?? []
        guard let role = roles.first(where: { !allowed.contains($0) }) else { return }
        throw Rejection(.roleNotAllowed,
                        "role \(role.rawValue) is not allowed for members of a \(type?.rawValue ?? "untyped") organization")
    }
}

extension Identity {
    /// The roles that count for this identity when it acts for an organization of `type`: the
    /// roles it holds that `type` allows. None when revoked, for a patient, or without a type.
    func effectiveRoles(organizationType type: OrganizationType?) -> Set<Role> {
        guard !revoked, kind != .patient, let type else { return [] }
        return MembershipContract.allowedRoles(for: type).intersection(roles)
    }
}

extension Directory {
    /// The type of the organization an identity acts for: an organization's own type, or the type
    /// of the organization that enrolled a member or device. Nil for a patient.
    public static func organizationType(of identity: Identity, in state: StateView) -> OrganizationType? {
        organizationType(of: identity) { id in Directory.identity(id, in: state) }
    }

    /// The type of the organization an identity acts for, from committed state.
    public static func organizationType(of identity: Identity, in reader: any StateReader) -> OrganizationType? {
        organizationType(of: identity) { id in Directory.identity(id, in: reader) }
    }

    /// The roles of `identity` that count: those it holds that its organization's type allows,
    /// none when it is revoked. Every role check asks this, never `Identity.roles` (what was given).
    public static func effectiveRoles(of identity: Identity, in state: StateView) -> Set<Role> {
        identity.effectiveRoles(organizationType: organizationType(of: identity, in: state))
    }

    /// The roles of `identity` that count, from committed state.
    public static func effectiveRoles(of identity: Identity, in reader: any StateReader) -> Set<Role> {
        identity.effectiveRoles(organizationType: organizationType(of: identity, in: reader))
    }

    private static func organizationType(of identity: Identity, _ lookup: (IdentityID) -> Identity?) -> OrganizationType? {
        switch identity.kind {
        case .organization: return identity.organizationType
        case .member, .device:
            guard let id = identity.organization, let owner = lookup(id), owner.kind == .organization else { return nil }
            return owner.organizationType
        case .patient: return nil
        }
    }
}
