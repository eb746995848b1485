import Contracts
import LedgerCore

/// An in-memory chain for contract tests: executes blocks with the standard executor.
struct Harness {
    static let chainId = "contracts-test"
    let executor = BlockExecutor.standard(chainId: Harness.chainId)
    var state = MemoryState()
    var height: UInt64 = 0
    var sequences: [IdentityID: UInt64] = [:]
    /// Every executed block: (height, time, transactions), for replay.
    var history: [(height: UInt64, timeMs: Int64, transactions: [VerifiedTransaction])] = []
    /// State root chained over every executed block.
    var stateRoot = Hash256.zero
    /// Block time of height 0, and how far each block moves the clock.
    var timeBaseMs: Int64 = 1_000
    var msPerBlock: Int64 = 1
    /// The time the next block will carry.
    var nextTimeMs: Int64 { timeBaseMs + Int64(height) * msPerBlock }

    static func keys(_ n: UInt8) -> IdentityKeys { IdentityKeys(seed: Array(repeating: n, count: 32)) }
    static let hospital = keys(1), clinic = keys(2), orderer = keys(3), doctor = keys(4), patient = keys(5), stranger = keys(6)

    /// Genesis with a hospital and a clinic; the doctor enrolled by the hospital; a patient.
    static func standard() -> Harness {
        var h = Harness()
        let found = [(hospital, OrganizationType.hospital), (clinic, .clinic)].map { keys, type in h.found(keys, type) }
        precondition(h.run(found).allSatisfy(\.isAccepted))
        precondition(h.run([h.enroll(doctor, by: hospital, roles: ["clinician"])])[0].isAccepted)
        precondition(h.run([h.sign(patient, MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey))])[0].isAccepted)
        return h
    }

    mutating func sign(_ keys: IdentityKeys, _ contract: String, _ method: String, _ args: CanonicalMap,
                       sender: IdentityID? = nil, sequence: UInt64? = nil, chainId: String = Harness.chainId, expiry: UInt64? = nil) -> VerifiedTransaction {
        let sender = sender ?? keys.derivedID
        let seq = sequence ?? (sequences[sender] ?? 0) + 1
        if sequence == nil { sequences[sender] = seq }
        let tx = Transaction.sign(TransactionBody(chainId: chainId, sender: sender, publicKey: keys.signingPublicKey, sequence: seq,
                                                  contract: contract, method: method, args: .map(args), expiryHeight: expiry), with: keys)
        return try! VerifiedTransaction.verify(tx)
    }

    /// A typed contract call; `overriding` replaces or adds raw arguments, for tests of malformed ones.
    mutating func sign(_ keys: IdentityKeys, _ call: some ContractMethod, overriding raw: CanonicalMap = [:],
                       sender: IdentityID? = nil, sequence: UInt64? = nil, chainId: String = Harness.chainId,
                       expiry: UInt64? = nil) -> VerifiedTransaction {
        var args = call.args.mapValue!
        for (key, value) in raw { args[key] = value }
        return sign(keys, type(of: call).contract, type(of: call).methodName, args, sender: sender, sequence: sequence, chainId: chainId,
                    expiry: expiry)
    }

    /// Parses wire names for a typed call; names the type does not know (tests of their refusal)
    /// are sent as raw strings under `key` instead.
    static func names<N: ArgumentName>(_ names: [String], _ key: String, into raw: inout CanonicalMap) -> [N] {
        let parsed = names.compactMap(N.init(rawValue:))
        if parsed.count != names.count { raw[key] = .list(names.map { .string($0) }) }
        return parsed
    }

    /// membership.found of a genesis organization naming the harness orderer.
    mutating func found(_ keys: IdentityKeys, _ type: OrganizationType) -> VerifiedTransaction {
        sign(keys, MembershipContract.Found(label: type.rawValue, organizationType: type, agreementKey: keys.agreementPublicKey,
                                            orderers: [Harness.orderer.signingPublicKey]))
    }

    /// membership.enroll; unknown roles or kinds are sent raw.
    mutating func enroll(_ member: IdentityKeys, by org: IdentityKeys, roles: [String], kind: String = "member") -> VerifiedTransaction {
        var raw: CanonicalMap = [:]
        let parsed: [Role] = Self.names(roles, "roles", into: &raw)
        if IdentityKind(rawValue: kind) == nil { raw["kind"] = .string(kind) }
        return sign(org, MembershipContract.Enroll(kind: IdentityKind(rawValue: kind) ?? .member, label: "m", roles: parsed,
                                                   signingKey: member.signingPublicKey, agreementKey: member.agreementPublicKey),
                    overriding: raw)
    }

    /// Rewrites `member`'s stored roles to `roles`, as a chain written before roles were checked
    /// against the organization's type may hold them: today's `enroll` and `setRoles` refuse such
    /// roles, so the identity is written directly.
    mutating func giveLegacyRoles(_ roles: [Role], to member: IdentityKeys) {
        var values = state.values
        let key = Directory.identityKey(member.derivedID)
        guard var identity = values[key].flatMap({ try? CanonicalValue(decoding: $0) })?.mapValue else {
            preconditionFailure("no identity \(member.derivedID.hex)")
        }
        identity["roles"] = .list(roles.sorted().map { .string($0.rawValue) })
        values[key] = CanonicalValue.map(identity).encoded
        state = MemoryState(values)
    }

    mutating func anchor(_ keys: IdentityKeys, _ label: String) -> VerifiedTransaction {
        sign(keys, AnchorContract.Put(digest: Hash256.sha256(Array(label.utf8)), kind: "doc"))
    }

    /// Executes one block and applies it.
    @discardableResult
    mutating func run(_ txs: [VerifiedTransaction]) -> [TransactionResult] {
        let timeMs = nextTimeMs
        let execution = executor.execute(height: height, timeMs: timeMs, transactions: txs, state: state)
        state.apply(execution.writeSet)
        history.append((height, timeMs, txs))
        stateRoot = execution.writeSet.stateRoot(after: stateRoot)
        height += 1
        return execution.results
    }
}

/// A table row that builds a block on a harness and names the result it must get.
struct BlockRow<Block>: CustomStringConvertible, Sendable {
    let description: String
    let expected: ResultCode
    /// Builds the block, running any blocks that come before it.
    let make: @Sendable (inout Harness) throws -> Block
    init(_ description: String, _ expected: ResultCode, _ make: @escaping @Sendable (inout Harness) throws -> Block) {
        (self.description, self.expected, self.make) = (description, expected, make)
    }
}
