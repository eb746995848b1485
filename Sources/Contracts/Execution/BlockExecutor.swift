public import LedgerCore

/// The outcome of executing one block: a result per transaction and the block's write set.
public struct BlockExecution: Sendable {
    public let results: [TransactionResult]
    public let writeSet: WriteSet
}

/// Applies contracts to ordered transactions deterministically. The same (state, block) gives the
/// same results and write set on every node: no clock, no randomness, no I/O, no floats.
public struct BlockExecutor: Sendable {
    public let chainId: String
    private let contracts: [String: any Contract]

    public init(chainId: String, contracts: [any Contract]) {
        self.chainId = chainId
        self.contracts = Dictionary(uniqueKeysWithValues: contracts.map { ($0.name, $0) })
    }

    /// The executor with every contract this build knows.
    public static func standard(chainId: String) -> BlockExecutor {
        BlockExecutor(chainId: chainId, contracts: [
            MembershipContract(), AnchorContract(), RecordsContract(), ConsentContract(), AuditContract(), ClaimsContract(),
            SupplyChainContract(), PrescriptionContract(), TrialsContract(), TelehealthContract(),
        ])
    }

    /// Names of the installed contracts.
    public var contractNames: [String] { contracts.keys.sorted() }

    static func sequenceKey(_ sender: IdentityID) -> String { "system/sequence/\(sender.hex)" }

    /// The last sequence number `sender` used in committed state (0 if none).
    public static func lastSequence(of sender: IdentityID, in reader: any StateReader) -> UInt64 {
        lastSequence(of: sender, in: StateView(base: reader))
    }

    static func lastSequence(of sender: IdentityID, in state: StateView) -> UInt64 {
        state.getValue(sequenceKey(sender))?.intValue.map { UInt64($0) } ?? 0
    }

    /// Every state key the transactions will probably read: sender identity and sequence, plus
    /// what each contract declares. For batch prefetching; not needed for correctness.
    public func likelyKeys(_ transactions: [VerifiedTransaction]) -> [String] {
        var keys: [String] = []
        keys.reserveCapacity(transactions.count * 3)
        for tx in transactions {
            keys.append(Directory.identityKey(tx.body.sender))
            keys.append(Self.sequenceKey(tx.body.sender))
            if let contract = contracts[tx.body.contract] { keys.append(contentsOf: contract.likelyKeys(tx)) }
        }
        return keys
    }

    /// Executes a block's transactions in order against committed state.
    public func execute(height: UInt64, timeMs: Int64, transactions: [VerifiedTransaction], state reader: any StateReader) -> BlockExecution {
        var state = StateView(base: reader)
        var results: [TransactionResult] = []
        results.reserveCapacity(transactions.count)
        for tx in transactions {
            results.append(run(tx, state: &state, height: height, timeMs: timeMs, expectedSequence: nil))
        }
        return BlockExecution(results: results, writeSet: state.writeSet)
    }

    /// Admission dry run: every check execution would make, against committed state, with the
    /// sequence the mempool expects next. Writes are discarded. Nil means it would be accepted.
    public func admit(_ tx: VerifiedTransaction, state reader: any StateReader, nextHeight: UInt64, timeMs: Int64,
                      expectedSequence: UInt64, identityMemo: IdentityMemo = IdentityMemo()) -> Rejection? {
        var state = StateView(base: reader, identityMemo: identityMemo)
        let result = run(tx, state: &state, height: nextHeight, timeMs: timeMs, expectedSequence: expectedSequence)
        return result.isAccepted ? nil : Rejection(ResultCode(rawValue: result.code) ?? .badArguments, result.message)
    }

    /// Admission dry run inside a batch submitted together: `view` carries the writes of the
    /// batch's earlier accepted transactions, so one that depends on them (a patient registered
    /// and that patient's records, in one submission) is judged as it will execute — the orderer
    /// keeps a submission's order. An accepted transaction's writes are kept in `view`.
    public func admit(_ tx: VerifiedTransaction, view: inout StateView, nextHeight: UInt64, timeMs: Int64,
                      expectedSequence: UInt64) -> Rejection? {
        let result = run(tx, state: &view, height: nextHeight, timeMs: timeMs, expectedSequence: expectedSequence)
        return result.isAccepted ? nil : Rejection(ResultCode(rawValue: result.code) ?? .badArguments, result.message)
    }

    private func run(_ tx: VerifiedTransaction, state: inout StateView, height: UInt64, timeMs: Int64,
                     expectedSequence: UInt64?) -> TransactionResult {
        let contract: any Contract
        do {
            contract = try checkEnvelope(tx, state: state, height: height, expectedSequence: expectedSequence)
        } catch {
            return error.result
        }
        let call = ContractCall(transaction: tx, height: height, timeMs: timeMs)
        do {
            try contract.execute(call, state: &state)
            state.set(Self.sequenceKey(tx.body.sender), .int(Int64(tx.body.sequence)))
            state.commitTransaction()
            return .accepted
        } catch {
            // A contract refusal still consumes the sequence number: the sender signed and the chain ordered it.
            state.discardTransaction()
            state.set(Self.sequenceKey(tx.body.sender), .int(Int64(tx.body.sequence)))
            state.commitTransaction()
            return error.result
        }
    }

    /// Checks that do not depend on the contract: chain, expiry, sequence, contract and method,
    /// and that the signing key is the sender's current key (or a valid self-registration).
    private func checkEnvelope(_ tx: VerifiedTransaction, state: StateView, height: UInt64,
                               expectedSequence: UInt64?) throws(Rejection) -> any Contract {
        let body = tx.body
        guard body.chainId == chainId else { throw Rejection(.wrongChain, "transaction is for chain \(body.chainId), not \(chainId)") }
        if let expiry = body.expiryHeight, height > expiry {
            throw Rejection(.expired, "transaction expired at height \(expiry); current height is \(height)")
        }
        let expected = expectedSequence ?? Self.lastSequence(of: body.sender, in: state) + 1
        if body.sequence < expected {
            throw Rejection(.sequenceReplayed, "sequence \(body.sequence) already used; next is \(expected)")
        }
        if body.sequence > expected {
            throw Rejection(.sequenceGap, "sequence \(body.sequence) skips ahead; next is \(expected)")
        }
        guard let contract = contracts[body.contract] else { throw Rejection(.unknownContract, "no contract named \(body.contract)") }
        guard contract.methods.contains(body.method) else {
            throw Rejection(.unknownMethod, "\(body.contract) has no method \(body.method)")
        }
        if let identity = Directory.identity(body.sender, in: state) {
            guard identity.signingKey == body.publicKey else {
                throw Rejection(.keyMismatch, "the signing key is not the current key of \(body.sender.hex)")
            }
            guard !identity.revoked else { throw Rejection(.senderRevoked, "sender \(body.sender.hex) has been revoked") }
        } else if contract.selfRegistrationMethods.contains(body.method) {
            guard body.sender == body.publicKey.derivedID else {
                throw Rejection(.keyMismatch, "a self-registering sender's id must be the hash of its public key")
            }
        } else {
            throw Rejection(.unknownSender, "sender \(body.sender.hex) is not registered")
        }
        return contract
    }
}

/// Replays blocks for `ChainVerifier` over an in-memory copy of state.
public struct ContractReplayer: BlockReplayer {
    public let executor: BlockExecutor
    /// State rebuilt by replay.
    public private(set) var state = MemoryState()
    /// Height of the block that last wrote each key, to name where a stored state row went wrong.
    public private(set) var lastWriteHeight: [String: UInt64] = [:]

    public init(executor: BlockExecutor) { self.executor = executor }

    public func isAuthorizedOrderer(_ key: SigningPublicKey, height: UInt64) -> Bool {
        Directory.isOrderer(key, in: state)
    }

    public mutating func replay(header: BlockHeader, transactions: [VerifiedTransaction]) -> (results: [TransactionResult], writeSet: WriteSet) {
        let execution = executor.execute(height: header.height, timeMs: header.timeMs, transactions: transactions, state: state)
        state.apply(execution.writeSet)
        for entry in execution.writeSet.entries { lastWriteHeight[entry.key] = header.height }
        return (execution.results, execution.writeSet)
    }
}
