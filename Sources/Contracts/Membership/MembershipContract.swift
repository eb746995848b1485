import LedgerCore

/// Membership: who is on the chain and what they may do. Founding organizations are named in
/// the genesis block; organizations enroll members and devices (with the roles their type may
/// give, `allowedRoles(for:)`), admit further organizations, and revoke their own members;
/// patients register themselves (their id is their pseudonym); anyone rotates their own keys.
public struct MembershipContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names
    public let selfRegistrationMethods: Set<String> = [Found.methodName, RegisterPatient.methodName]

    /// Most roles one member holds.
    public static let rolesMax = 8
    /// Most orderer keys named by one founding organization.
    public static let orderersPerOrganizationMax = 4
    /// Most founding organizations of one chain (so most attestations a block can need).
    public static let foundersMax = 64
    /// Longest label of an organization or member account.
    public static let labelBytesMax = 128

    public init() {}

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        switch try Method.of(call) {
        case .found:
            guard call.height == 0 else { throw Rejection(.genesisOnly, "organizations are founded only in the genesis block") }
            try found(call, try Found(call), &state)
        case .admitOrganization: try admitOrganization(call, try AdmitOrganization(call), &state)
        case .enroll: try enroll(call, try Enroll(call), &state)
        case .setRoles: try setRoles(call, try SetRoles(call), &state)
        case .registerPatient: try registerPatient(call, try RegisterPatient(call), &state)
        case .rotateKey: try rotateKey(call, try RotateKey(call), &state)
        case .revoke: try revoke(call, try Revoke(call), &state)
        case .setCareTeamCategories: try setCareTeamCategories(call, try SetCareTeamCategories(call), &state)
        case .removeOrganization: try removeOrganization(call, try RemoveOrganization(call), &state)
        }
    }

    /// Genesis only: a founding organization registers itself and may name orderer keys.
    private func found(_ call: ContractCall, _ args: Found, _ state: inout StateView) throws(Rejection) {
        let identity = Identity(id: call.sender, kind: .organization, organization: nil, organizationType: args.organizationType,
                                roles: [.admin], signingKey: call.transaction.body.publicKey, agreementKey: args.agreementKey,
                                label: args.label, registeredHeight: call.height)
        // The founders counted are those founded from the one naming the policy on: `Genesis.make`
        // names it on the first, so every founder votes.
        if args.foundersDecide == true, state.get(Self.foundersCountKey) == nil { state.set(Self.foundersCountKey, .int(0)) }
        try register(identity, &state)
        for key in args.orderers ?? [] { state.set(Directory.ordererKey(key), .bytes(call.sender.bytes)) }
        if let count = state.getValue(Self.foundersCountKey)?.intValue {
            state.set(Self.founderKey(call.sender), .null)
            state.set(Self.foundersCountKey, .int(count + 1))
        }
    }

    /// An active organization admits a new one. Under the consortium policy (`Found.foundersDecide`)
    /// the call is a founding organization's vote: the admission waits, as a proposal, until a
    /// majority of the founders made the same call.
    private func admitOrganization(_ call: ContractCall, _ args: AdmitOrganization, _ state: inout StateView) throws(Rejection) {
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .organization else { throw Rejection(.unauthorized, "only an organization can admit another") }
        guard call.height > 0 else { throw Rejection(.notAfterGenesis, "use found in the genesis block") }
        let key = args.signingKey
        let identity = Identity(id: key.derivedID, kind: .organization, organization: nil, organizationType: args.organizationType,
                                roles: [.admin], signingKey: key, agreementKey: args.agreementKey, label: args.label,
                                registeredHeight: call.height)
        if Directory.identity(identity.id, in: state) != nil { throw Rejection(.alreadyRegistered, "\(identity.id.hex) is already registered") }
        guard try Self.founderVote(call, sender, action: "admit", subject: identity.id, &state) else { return }
        try register(identity, &state)
    }

    /// Consortium policy only: a majority of the founding organizations removes an organization
    /// (revoked: its attestations, members and signatures no longer count).
    private func removeOrganization(_ call: ContractCall, _ args: RemoveOrganization, _ state: inout StateView) throws(Rejection) {
        let sender = try Directory.activeSender(call, in: state)
        guard state.get(Self.foundersCountKey) != nil else {
            throw Rejection(.unauthorized, "organizations are removed only on a chain whose founders decide membership (foundersDecide)")
        }
        guard var organization = Directory.identity(args.organization, in: state), organization.kind == .organization else {
            throw Rejection(.unknownIdentity, "no organization \(args.organization.hex)")
        }
        guard !organization.revoked else { throw Rejection(.alreadyRevoked, "organization \(organization.id.hex) is already removed") }
        guard try Self.founderVote(call, sender, action: "remove", subject: organization.id, &state) else { return }
        organization.revoked = true
        try state.set(Directory.identityKey(organization.id), organization)
    }

    // MARK: consortium policy

    /// Present (the number of founders) when the founders decide membership.
    static let foundersCountKey = "membership/policy/founders"
    static func founderKey(_ id: IdentityID) -> String { "membership/founder/\(id.hex)" }
    static func proposalKey(_ action: String, _ subject: IdentityID) -> String { "membership/proposal/\(action)/\(subject.hex)" }

    /// A pending admission or removal: the call's exact arguments and the founders who made it.
    struct Proposal: StoredValue, Equatable {
        var args: [UInt8]
        var approvals: [IdentityID]
        var height: UInt64
    }

    /// Whether the call takes effect now: always without the policy; under it, once a majority of
    /// the founders made the same call (this one counted; its vote kept until then).
    private static func founderVote(_ call: ContractCall, _ sender: Identity, action: String, subject: IdentityID,
                                    _ state: inout StateView) throws(Rejection) -> Bool {
        guard let founders = state.getValue(foundersCountKey)?.intValue else { return true }
        guard state.get(founderKey(sender.id)) != nil else {
            throw Rejection(.unauthorized, "the founding organizations decide membership: \(sender.id.hex) is not one of them")
        }
        let key = proposalKey(action, subject)
        let args = call.args.encoded
        var proposal = Proposal.decode(state.get(key)) { _ in } ?? Proposal(args: args, approvals: [], height: call.height)
        guard proposal.args == args else {
            throw Rejection(.proposalConflict, "another proposal to \(action) \(subject.hex) is pending; approve it with the same arguments")
        }
        guard !proposal.approvals.contains(sender.id) else {
            throw Rejection(.alreadyApproved, "\(sender.id.hex) already approved the proposal to \(action) \(subject.hex)")
        }
        proposal.approvals.append(sender.id)
        // Founders removed since genesis do not vote; the majority is of all founders.
        let approving = proposal.approvals.filter { Directory.identity($0, in: state)?.revoked == false }.count
        if Int64(approving) * 2 > founders {
            state.delete(key)
            return true
        }
        try state.set(key, proposal)
        return false
    }

    /// An organization enrolls a member or device with roles its type may give.
    private func enroll(_ call: ContractCall, _ args: Enroll, _ state: inout StateView) throws(Rejection) {
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .organization else { throw Rejection(.unauthorized, "only an organization can enroll members") }
        let roles = args.roles.uniqued()
        try Self.checkAllowed(roles, givenBy: sender)
        let key = args.signingKey
        let identity = Identity(id: key.derivedID, kind: args.kind, organization: sender.id, organizationType: nil,
                                roles: roles, signingKey: key, agreementKey: args.agreementKey, label: args.label,
                                registeredHeight: call.height)
        try register(identity, &state)
    }

    /// An organization changes the roles of its own member, to roles its type may give.
    private func setRoles(_ call: ContractCall, _ args: SetRoles, _ state: inout StateView) throws(Rejection) {
        let owned = try ownMember(call, args.member, state)
        var member = owned.member
        guard !member.revoked else { throw Rejection(.alreadyRevoked, "member \(member.id.hex) is revoked") }
        let roles = args.roles.uniqued()
        try Self.checkAllowed(roles, givenBy: owned.organization)
        member.roles = roles.sorted()
        try state.set(Directory.identityKey(member.id), member)
    }

    /// A patient registers themselves; no name or other PHI, just keys.
    private func registerPatient(_ call: ContractCall, _ args: RegisterPatient, _ state: inout StateView) throws(Rejection) {
        let identity = Identity(id: call.sender, kind: .patient, organization: nil, organizationType: nil, roles: [],
                                signingKey: call.transaction.body.publicKey, agreementKey: args.agreementKey,
                                label: "", registeredHeight: call.height)
        try register(identity, &state)
    }

    /// Any active identity replaces its own keys; the old signing key stops working at once.
    private func rotateKey(_ call: ContractCall, _ args: RotateKey, _ state: inout StateView) throws(Rejection) {
        var identity = try Directory.activeSender(call, in: state)
        let key = args.signingKey
        guard state.get(Directory.signingKeyIndex(key)) == nil else { throw Rejection(.keyInUse, "that signing key is already in use") }
        state.delete(Directory.signingKeyIndex(identity.signingKey))
        state.set(Directory.signingKeyIndex(key), .bytes(identity.id.bytes))
        identity.signingKey = key
        identity.agreementKey = args.agreementKey
        identity.keyVersion += 1
        try state.set(Directory.identityKey(identity.id), identity)
    }

    /// An organization revokes its own member or device; every later transaction from it is refused.
    private func revoke(_ call: ContractCall, _ args: Revoke, _ state: inout StateView) throws(Rejection) {
        var member = try ownMember(call, args.member, state).member
        guard !member.revoked else { throw Rejection(.alreadyRevoked, "member \(member.id.hex) is already revoked") }
        member.revoked = true
        try state.set(Directory.identityKey(member.id), member)
    }

    /// A care-providing organization (its own key) chooses the sensitive categories its care team
    /// reads without a consent naming them.
    private func setCareTeamCategories(_ call: ContractCall, _ args: SetCareTeamCategories, _ state: inout StateView) throws(Rejection) {
        var organization = try Directory.activeSender(call, in: state)
        guard organization.kind == .organization, let type = organization.organizationType, Self.careProviderTypes.contains(type) else {
            throw Rejection(.unauthorized, "only a care-providing organization (\(Self.careProviderTypes.map(\.rawValue).sorted().joined(separator: ", "))) sets its care team's categories")
        }
        organization.careTeamCategories = args.categories.isEmpty ? nil : args.categories.sorted()
        try state.set(Directory.identityKey(organization.id), organization)
    }

    // MARK: helpers

    /// The sending organization and its member `memberID`.
    private func ownMember(_ call: ContractCall, _ memberID: IdentityID, _ state: StateView) throws(Rejection)
        -> (organization: Identity, member: Identity) {
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .organization else { throw Rejection(.unauthorized, "only an organization manages members") }
        guard let member = Directory.identity(memberID, in: state) else {
            throw Rejection(.unknownIdentity, "no identity \(memberID.hex)")
        }
        guard member.organization == sender.id else {
            throw Rejection(.notOrganizationMember, "\(memberID.hex) is not a member of \(sender.id.hex)")
        }
        return (sender, member)
    }

    private func register(_ identity: Identity, _ state: inout StateView) throws(Rejection) {
        guard Directory.identity(identity.id, in: state) == nil else {
            throw Rejection(.alreadyRegistered, "identity \(identity.id.hex) is already registered")
        }
        guard state.get(Directory.signingKeyIndex(identity.signingKey)) == nil else {
            throw Rejection(.keyInUse, "that signing key is already in use")
        }
        try state.set(Directory.identityKey(identity.id), identity)
        state.set(Directory.signingKeyIndex(identity.signingKey), .bytes(identity.id.bytes))
    }
}
