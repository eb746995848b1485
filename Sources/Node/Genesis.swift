public import Contracts
public import LedgerCore
public import Storage

/// A founding organization named in the genesis block.
public struct Founder: Sendable {
    public let keys: IdentityKeys
    public let label: String
    public let type: OrganizationType

    public init(keys: IdentityKeys, label: String, type: OrganizationType) { (self.keys, self.label, self.type) = (keys, label, type) }
}

/// Builds block 0: each founding organization signs its own `membership.found`, and the first
/// one names the orderer key. Every node that replays the chain starts from this block.
public enum Genesis {
    /// Why a genesis could not be created.
    public enum GenesisError: Error, CustomStringConvertible {
        case noFounders
        case storeNotEmpty
        case founderRejected(String)
        public var description: String {
            switch self {
            case .noFounders: "genesis needs at least one founding organization"
            case .storeNotEmpty: "the store already holds a chain"
            case .founderRejected(let why): "a founding transaction was rejected: \(why)"
            }
        }
    }

    /// Builds the genesis block.
    public static func make(chainId: String, founders: [Founder], ordererKeys: IdentityKeys, timeMs: Int64) throws -> (Block, BlockCommit) {
        guard !founders.isEmpty else { throw GenesisError.noFounders }
        let transactions = founders.enumerated().map { index, founder in
            let found = MembershipContract.Found(label: founder.label, organizationType: founder.type,
                                                 agreementKey: founder.keys.agreementPublicKey,
                                                 orderers: index == 0 ? [ordererKeys.signingPublicKey] : nil)
            let body = TransactionBody(chainId: chainId, sender: founder.keys.derivedID, publicKey: founder.keys.signingPublicKey,
                                       sequence: 1, call: found)
            return Transaction.sign(body, with: founder.keys)
        }
        let executor = BlockExecutor.standard(chainId: chainId)
        let verified = try transactions.map { tx throws(GenesisError) in
            do { return try VerifiedTransaction.verify(tx) } catch { throw .founderRejected("founding transaction \(tx.id.hex) does not verify: \(error)") }
        }
        let execution = executor.execute(height: 0, timeMs: timeMs, transactions: verified, state: MemoryState())
        if let bad = execution.results.first(where: { !$0.isAccepted }) { throw GenesisError.founderRejected(bad.message) }
        let (block, commit, _) = CommitPipeline.assemble(
            chainId: chainId, height: 0, previous: nil, timeMs: timeMs, transactions: transactions,
            execution: execution, frontier: MerkleFrontier(), ordererKeys: ordererKeys)
        return (block, commit)
    }

    /// Builds the genesis block and writes it to an empty store.
    @discardableResult
    public static func create(in store: any LedgerStore, chainId: String, founders: [Founder], ordererKeys: IdentityKeys,
                              timeMs: Int64) throws -> Block {
        guard try store.head() == nil else { throw GenesisError.storeNotEmpty }
        let (block, commit) = try make(chainId: chainId, founders: founders, ordererKeys: ordererKeys, timeMs: timeMs)
        try store.commit(commit)
        return block
    }
}
