public import LedgerCore

/// A call as a contract sees it: who sent it, what they asked, and where in the chain it runs.
/// Block time comes from the orderer; contracts never read the clock.
public struct ContractCall: Sendable {
    public let transaction: VerifiedTransaction
    public let height: UInt64
    public let timeMs: Int64
    /// The arguments the contract executes: the transaction's own, or a private payload's.
    public let args: CanonicalValue
    /// For the private part of a private call, its envelope (the shared arguments); nil otherwise.
    public let envelope: PrivateEnvelope?
    /// The id of what the call creates: the transaction's id, or for an endorsed call the id
    /// fixed before it was signed (`EndorsedCall.callID`).
    public let id: Hash256

    public init(transaction: VerifiedTransaction, height: UInt64, timeMs: Int64) {
        (self.transaction, self.height, self.timeMs) = (transaction, height, timeMs)
        (args, envelope, id) = (transaction.body.args, nil, transaction.id)
    }

    /// The private part of a private call: `payload`'s arguments, executed only where the payload is
    /// (`id` set for an endorsed call).
    public init(transaction: VerifiedTransaction, height: UInt64, timeMs: Int64, payload: PrivatePayload, envelope: PrivateEnvelope,
                id: Hash256? = nil) {
        (self.transaction, self.height, self.timeMs) = (transaction, height, timeMs)
        (args, self.envelope, self.id) = (payload.args, envelope, id ?? transaction.id)
    }

    public var sender: IdentityID { transaction.body.sender }
    public var method: String { transaction.body.method }
}

/// A deterministic state machine: a pure function of (state, ordered call, block time).
public protocol Contract: Sendable {
    /// The contract's name, which is also its state key prefix.
    var name: String { get }
    /// Methods it accepts (a contract derives them from its `ContractMethods` enum).
    var methods: Set<String> { get }
    /// Methods that a sender unknown to the chain may call (self-registration); the sender id must
    /// then be the hash of the transaction's public key.
    var selfRegistrationMethods: Set<String> { get }
    /// Checks and applies a call; throws a rejection (and the executor discards its writes).
    func execute(_ call: ContractCall, state: inout StateView) throws(Rejection)
    /// State keys a call will probably read, so the node can fetch them in one batch before
    /// executing a block. A hint only: reads outside it still work, one at a time.
    func likelyKeys(_ transaction: VerifiedTransaction) -> [String]
    /// Methods whose arguments may travel as a private payload, the chain carrying only its
    /// commitment and the organizations entitled to it (`PrivateEnvelope`).
    var privateMethods: Set<String> { get }
    /// The organizations entitled to a private call's payload, by the contract's rule over its real
    /// arguments; the envelope must name exactly these. Runs only where the payload is.
    func privateOrganizations(_ call: ContractCall, state: StateView) throws(Rejection) -> Set<IdentityID>
    /// Methods that may be called as endorsed private calls (`EndorsedCall`): simulated by the
    /// collection's nodes before ordering, their shared writes applied by every node.
    var endorsedMethods: Set<String> { get }
    /// State-key prefixes an endorsed call keeps in its collection; every other key it writes is shared.
    var privateKeyPrefixes: [String] { get }
    /// Every node, outside the collection too: the endorsed call's shared writes are what the
    /// contract's shared rule gives (`call` as of the proposal's height and time, its arguments the
    /// envelope); throws `badEndorsement` otherwise. The endorsers vouch for the private check; this
    /// bounds what they can vouch for (a fill dispenses only the sender's own units). By default an
    /// endorsed call makes no shared writes.
    func checkSharedWrites(_ call: ContractCall, _ writes: [Proposal.Write], state: StateView) throws(Rejection)
}

extension Contract {
    public var selfRegistrationMethods: Set<String> { [] }
    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] { [] }
    public var privateMethods: Set<String> { [] }
    public var endorsedMethods: Set<String> { [] }
    public var privateKeyPrefixes: [String] { [] }
    public func checkSharedWrites(_ call: ContractCall, _ writes: [Proposal.Write], state: StateView) throws(Rejection) {
        guard writes.isEmpty else { throw Rejection(.badEndorsement, "\(name).\(call.method) makes no shared writes") }
    }
    public func privateOrganizations(_ call: ContractCall, state: StateView) throws(Rejection) -> Set<IdentityID> {
        throw Rejection(.unknownMethod, "\(name).\(call.method) has no private form")
    }
}
