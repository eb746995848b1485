import LedgerCore

/// Membership: who is on the chain and what they may do. Founding organizations are named in
/// the genesis block; organizations enroll members (with roles) and devices, admit further
/// organizations, and revoke their own members; patients register themselves (their id is their
/// pseudonym); anyone rotates their own keys.
public struct MembershipContract: Contract {
    public let name = "membership"
    public let methods: Set<String> = ["found", "admitOrganization", "enroll", "setRoles", "registerPatient", "rotateKey", "revoke"]
    public let selfRegistrationMethods: Set<String> = ["found", "registerPatient"]

    /// Most roles one member holds.
    public static let rolesMax = 8
    /// Most orderer keys named by one founding organization.
    public static let orderersPerOrganizationMax = 4
    /// Longest label of an organization or member account.
    public static let labelBytesMax = 128

    public init() {}

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        let args = try Arguments(call.args)
        switch call.method {
        case "found": try found(call, args, &state)
        case "admitOrganization": try admitOrganization(call, args, &state)
        case "enroll": try enroll(call, args, &state)
        case "setRoles": try setRoles(call, args, &state)
        case "registerPatient": try registerPatient(call, args, &state)
        case "rotateKey": try rotateKey(call, args, &state)
        case "revoke": try revoke(call, args, &state)
        default: throw Rejection(.unknownMethod, "membership has no method \(call.method)")
        }
    }

    /// Genesis only: a founding organization registers itself and may name orderer keys.
    private func found(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        guard call.height == 0 else { throw Rejection(.genesisOnly, "organizations are founded only in the genesis block") }
        try args.allowOnly(["label", "organizationType", "agreementKey", "orderers"])
        let type = try organizationType(args)
        let orderers = try args.optionalBytesList("orderers", count: 32, maxCount: Self.orderersPerOrganizationMax)
        let identity = Identity(id: call.sender, kind: .organization, organization: nil, organizationType: type,
                                roles: [.admin], signingKey: call.transaction.body.publicKey,
                                agreementKey: try args.bytes("agreementKey", count: 32),
                                label: try args.string("label", maxBytes: Self.labelBytesMax), registeredHeight: call.height)
        try register(identity, &state)
        for raw in orderers {
            guard let key = SigningPublicKey(rawValue: raw) else { throw Rejection(.badArguments, "orderer key is not an Ed25519 key") }
            state.set(Directory.ordererKey(key), .bytes(call.sender.bytes))
        }
    }

    /// An active organization admits a new one (a later issue makes this a consortium vote).
    private func admitOrganization(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["label", "organizationType", "signingKey", "agreementKey"])
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .organization else { throw Rejection(.unauthorized, "only an organization can admit another") }
        guard call.height > 0 else { throw Rejection(.notAfterGenesis, "use found in the genesis block") }
        let key = try args.signingKey("signingKey")
        let identity = Identity(id: key.derivedID, kind: .organization, organization: nil, organizationType: try organizationType(args),
                                roles: [.admin], signingKey: key, agreementKey: try args.bytes("agreementKey", count: 32),
                                label: try args.string("label", maxBytes: Self.labelBytesMax), registeredHeight: call.height)
        try register(identity, &state)
    }

    /// An organization enrolls a member or device with roles.
    private func enroll(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["kind", "label", "roles", "signingKey", "agreementKey"])
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .organization else { throw Rejection(.unauthorized, "only an organization can enroll members") }
        let kindName = try args.string("kind", maxBytes: 16)
        guard let kind = IdentityKind(rawValue: kindName), kind == .member || kind == .device else {
            throw Rejection(.badArguments, "kind must be member or device")
        }
        let key = try args.signingKey("signingKey")
        let identity = Identity(id: key.derivedID, kind: kind, organization: sender.id, organizationType: nil,
                                roles: try roles(args), signingKey: key, agreementKey: try args.bytes("agreementKey", count: 32),
                                label: try args.string("label", maxBytes: Self.labelBytesMax), registeredHeight: call.height)
        try register(identity, &state)
    }

    /// An organization changes the roles of its own member.
    private func setRoles(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["member", "roles"])
        var member = try ownMember(call, args, state)
        guard !member.revoked else { throw Rejection(.alreadyRevoked, "member \(member.id.hex) is revoked") }
        member.roles = try roles(args).sorted()
        state.set(Directory.identityKey(member.id), member.canonical)
    }

    /// A patient registers themselves; no name or other PHI, just keys.
    private func registerPatient(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["agreementKey"])
        let identity = Identity(id: call.sender, kind: .patient, organization: nil, organizationType: nil, roles: [],
                                signingKey: call.transaction.body.publicKey, agreementKey: try args.bytes("agreementKey", count: 32),
                                label: "", registeredHeight: call.height)
        try register(identity, &state)
    }

    /// Any active identity replaces its own keys; the old signing key stops working at once.
    private func rotateKey(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["signingKey", "agreementKey"])
        var identity = try Directory.activeSender(call, in: state)
        let key = try args.signingKey("signingKey")
        guard state.get(Directory.signingKeyIndex(key)) == nil else { throw Rejection(.keyInUse, "that signing key is already in use") }
        state.delete(Directory.signingKeyIndex(identity.signingKey))
        state.set(Directory.signingKeyIndex(key), .bytes(identity.id.bytes))
        identity.signingKey = key
        identity.agreementKey = try args.bytes("agreementKey", count: 32)
        identity.keyVersion += 1
        state.set(Directory.identityKey(identity.id), identity.canonical)
    }

    /// An organization revokes its own member or device; every later transaction from it is refused.
    private func revoke(_ call: ContractCall, _ args: Arguments, _ state: inout StateView) throws(Rejection) {
        try args.allowOnly(["member"])
        var member = try ownMember(call, args, state)
        guard !member.revoked else { throw Rejection(.alreadyRevoked, "member \(member.id.hex) is already revoked") }
        member.revoked = true
        state.set(Directory.identityKey(member.id), member.canonical)
    }

    // MARK: helpers

    private func ownMember(_ call: ContractCall, _ args: Arguments, _ state: StateView) throws(Rejection) -> Identity {
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .organization else { throw Rejection(.unauthorized, "only an organization manages members") }
        let memberID = try args.hash("member")
        guard let member = Directory.identity(memberID, in: state) else {
            throw Rejection(.unknownIdentity, "no identity \(memberID.hex)")
        }
        guard member.organization == sender.id else {
            throw Rejection(.notOrganizationMember, "\(memberID.hex) is not a member of \(sender.id.hex)")
        }
        return member
    }

    private func register(_ identity: Identity, _ state: inout StateView) throws(Rejection) {
        guard Directory.identity(identity.id, in: state) == nil else {
            throw Rejection(.alreadyRegistered, "identity \(identity.id.hex) is already registered")
        }
        guard state.get(Directory.signingKeyIndex(identity.signingKey)) == nil else {
            throw Rejection(.keyInUse, "that signing key is already in use")
        }
        state.set(Directory.identityKey(identity.id), identity.canonical)
        state.set(Directory.signingKeyIndex(identity.signingKey), .bytes(identity.id.bytes))
    }

    private func roles(_ args: Arguments) throws(Rejection) -> [Role] {
        var result: [Role] = []
        for name in try args.stringList("roles", maxCount: Self.rolesMax) {
            guard let role = Role(rawValue: name) else { throw Rejection(.unknownRole, "unknown role “\(name)”") }
            if !result.contains(role) { result.append(role) }
        }
        return result
    }

    private func organizationType(_ args: Arguments) throws(Rejection) -> OrganizationType {
        let name = try args.string("organizationType", maxBytes: 32)
        guard let type = OrganizationType(rawValue: name) else {
            throw Rejection(.unknownOrganizationType, "unknown organization type “\(name)”")
        }
        return type
    }
}
