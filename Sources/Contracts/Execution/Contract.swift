public import LedgerCore

/// A call as a contract sees it: who sent it, what they asked, and where in the chain it runs.
/// Block time comes from the orderer; contracts never read the clock.
public struct ContractCall: Sendable {
    public let transaction: VerifiedTransaction
    public let height: UInt64
    public let timeMs: Int64

    public var sender: IdentityID { transaction.body.sender }
    public var method: String { transaction.body.method }
    public var args: CanonicalValue { transaction.body.args }
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
}

extension Contract {
    public var selfRegistrationMethods: Set<String> { [] }
    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] { [] }
}
