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

    /// Builds the genesis block. `finalityQuorum`: how many organizations must attest a block for
    /// it to be final; nil for a majority of the founders. `foundersDecide`: organizations are
    /// admitted and removed by a majority of the founders (a consortium), not by any one.
    public static func make(chainId: String, founders: [Founder], ordererKeys: IdentityKeys, timeMs: Int64,
                            finalityQuorum: Int? = nil, foundersDecide: Bool = false) throws -> (Block, BlockCommit) {
        guard !founders.isEmpty else { throw GenesisError.noFounders }
        guard founders.count <= MembershipContract.foundersMax else {
            throw GenesisError.founderRejected("at most \(MembershipContract.foundersMax) founding organizations")
        }
        if let finalityQuorum, !(1...founders.count).contains(finalityQuorum) {
            throw GenesisError.founderRejected("the finality quorum must be 1…\(founders.count) (the number of founders)")
        }
        let transactions = founders.enumerated().map { index, founder in
            let found = MembershipContract.Found(label: founder.label, organizationType: founder.type,
                                                 agreementKey: founder.keys.agreementPublicKey,
                                                 orderers: index == 0 ? [ordererKeys.signingPublicKey] : nil,
                                                 finalityQuorum: index == 0 ? finalityQuorum.map(Int64.init) : nil,
                                                 foundersDecide: index == 0 && foundersDecide ? true : nil)
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

    /// The store write of a signed genesis block another node holds (for a node that joins a
    /// chain): its transactions executed again, its roots checked against its header.
    public static func commit(of block: Block) throws -> BlockCommit {
        let header = block.header
        guard header.height == 0, header.previousHash == .zero else { throw GenesisError.founderRejected("not a genesis block") }
        let transactions = try block.transactions.map { tx throws(TransactionError) in try VerifiedTransaction.verify(tx) }
        let execution = BlockExecutor.standard(chainId: header.chainId)
            .execute(height: 0, timeMs: header.timeMs, transactions: transactions, state: MemoryState())
        var log = MerkleFrontier()
        var nodes: [MerkleFrontier.Node] = []
        let leafHashes = block.transactions.map { MerkleHashing.leafHash($0.bytes) }
        for leaf in leafHashes { nodes += log.append(leafHash: leaf) }
        let ids = block.transactions.map(\.id)
        guard execution.results == block.results, TransactionResult.root(execution.results, transactionIDs: ids) == header.resultsRoot,
              execution.writeSet.stateRoot(after: .zero) == header.stateRoot, log.root == header.logRoot, log.size == header.logSize,
              Block.transactionsRoot(ids) == header.transactionsRoot else {
            throw GenesisError.founderRejected("the genesis block's roots do not match its transactions")
        }
        return BlockCommit(block: block, firstLogIndex: 0, leafHashes: leafHashes, logNodes: nodes, writeSet: execution.writeSet)
    }

    /// The signed block a store holds at `height`, decoded.
    public static func block(at height: UInt64, in store: any LedgerStore) throws -> Block? {
        guard let raw = try store.rawBlock(height: height) else { return nil }
        return Block(header: try BlockHeader(decoding: raw.headerBytes), signature: raw.signature,
                     transactions: try raw.transactionBytes.map { bytes throws(TransactionError) in try Transaction(decoding: bytes) },
                     results: try raw.resultBytes.map { bytes throws(CanonicalError) in try TransactionResult(decoding: bytes) })
    }

    /// Builds the genesis block and writes it to an empty store.
    @discardableResult
    public static func create(in store: any LedgerStore, chainId: String, founders: [Founder], ordererKeys: IdentityKeys,
                              timeMs: Int64, finalityQuorum: Int? = nil) throws -> Block {
        guard try store.head() == nil else { throw GenesisError.storeNotEmpty }
        let (block, commit) = try make(chainId: chainId, founders: founders, ordererKeys: ordererKeys, timeMs: timeMs,
                                       finalityQuorum: finalityQuorum)
        try store.commit(commit)
        return block
    }
}

extension Genesis {
    /// The chain's finality quorum, read from its genesis block: the first founder's
    /// `finalityQuorum`, or a majority of the founders.
    public static func finalityQuorum(in store: any LedgerStore) throws -> Int {
        guard let raw = try store.rawBlock(height: 0) else { throw NodeError.storeHasNoGenesis }
        var founders = 0
        var named: Int64?
        for bytes in raw.transactionBytes {
            guard let tx = try? Transaction(decoding: bytes), tx.body.contract == MembershipContract.Found.contract,
                  tx.body.method == MembershipContract.Found.methodName else { continue }
            founders += 1
            if named == nil, let found = try? MembershipContract.Found(args: tx.body.args) { named = found.finalityQuorum }
        }
        guard founders > 0 else { throw NodeError.inconsistentStore("the genesis block founds no organization") }
        return min(founders, Int(named ?? Int64(founders / 2 + 1)))
    }
}
