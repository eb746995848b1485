public import LedgerCore

/// The outcome of executing one block: a result per transaction and the block's write set.
public struct BlockExecution: Sendable {
    /// One per transaction, as every node computes them (a private call's shared part).
    public let results: [TransactionResult]
    /// The shared writes: every node's, under the state root.
    public let writeSet: WriteSet
    /// The private parts' writes, on this node only (it held their payloads).
    public let privateWrites: WriteSet
    /// The private parts' results, by transaction id, for the private calls executed here.
    public let privateResults: [Hash256: TransactionResult]

    /// Everything the node stores: shared and private writes.
    public var storedWrites: WriteSet { writeSet.merged(with: privateWrites) }
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

    /// State key, inside a collection's namespace, of a private part's result.
    public static func privateResultKey(_ id: Hash256) -> String { "system/private-result/\(id.hex)" }

    /// Executes a block's transactions in order against committed state. `payloads` are the
    /// private payloads this node holds for the block's private calls, already checked against
    /// their commitments; the private part of a call without one is not executed here.
    public func execute(height: UInt64, timeMs: Int64, transactions: [VerifiedTransaction], state reader: any StateReader,
                        payloads: [Hash256: PrivatePayload] = [:]) -> BlockExecution {
        var state = StateView(base: reader)
        var results: [TransactionResult] = []
        var privateResults: [Hash256: TransactionResult] = [:]
        results.reserveCapacity(transactions.count)
        for tx in transactions {
            let outcome = run(tx, state: &state, height: height, timeMs: timeMs, expectedSequence: nil, payload: payloads[tx.id])
            results.append(outcome.shared)
            if let privateResult = outcome.private { privateResults[tx.id] = privateResult }
        }
        let (shared, privateWrites) = state.writeSet.partitioned
        return BlockExecution(results: results, writeSet: shared, privateWrites: privateWrites, privateResults: privateResults)
    }

    /// Admission dry run: every check execution would make, against committed state, with the
    /// sequence the mempool expects next. Writes are discarded. Nil means it would be accepted.
    public func admit(_ tx: VerifiedTransaction, state reader: any StateReader, nextHeight: UInt64, timeMs: Int64,
                      expectedSequence: UInt64, identityMemo: IdentityMemo = IdentityMemo(), payload: PrivatePayload? = nil) -> Rejection? {
        var state = StateView(base: reader, identityMemo: identityMemo)
        return admit(tx, view: &state, nextHeight: nextHeight, timeMs: timeMs, expectedSequence: expectedSequence, payload: payload)
    }

    /// Admission dry run inside a batch submitted together: `view` carries the writes of the
    /// batch's earlier accepted transactions, so one that depends on them (a patient registered
    /// and that patient's records, in one submission) is judged as it will execute — the orderer
    /// keeps a submission's order. An accepted transaction's writes are kept in `view`.
    /// A private call is admitted only with its payload, and only if its private part would be
    /// accepted too (the submitting node holds the payload).
    public func admit(_ tx: VerifiedTransaction, view: inout StateView, nextHeight: UInt64, timeMs: Int64,
                      expectedSequence: UInt64, payload: PrivatePayload? = nil) -> Rejection? {
        let outcome = run(tx, state: &view, height: nextHeight, timeMs: timeMs, expectedSequence: expectedSequence, payload: payload)
        if !outcome.shared.isAccepted { return Rejection(outcome.shared) }
        if isPrivateCall(tx) {
            guard let result = outcome.private else {
                return Rejection(.badArguments, "a private call is submitted with its payload, matching its commitment")
            }
            if !result.isAccepted { return Rejection(result) }
        }
        return nil
    }

    /// The envelope of a call to a method its contract lets run privately; nil for a clear call.
    /// An endorsed call's envelope too: its payload travels and is fetched the same way.
    public func privateEnvelope(_ tx: VerifiedTransaction) -> PrivateEnvelope? {
        guard let contract = contracts[tx.body.contract] else { return nil }
        if contract.endorsedMethods.contains(tx.body.method) { return EndorsedCall(args: tx.body.args)?.envelope }
        guard contract.privateMethods.contains(tx.body.method) else { return nil }
        return PrivateEnvelope(args: tx.body.args)
    }

    /// The contract of `name`, if installed.
    func contract(_ name: String) -> (any Contract)? { contracts[name] }

    private func isPrivateCall(_ tx: VerifiedTransaction) -> Bool { privateEnvelope(tx) != nil }

    private func run(_ tx: VerifiedTransaction, state: inout StateView, height: UInt64, timeMs: Int64,
                     expectedSequence: UInt64?, payload: PrivatePayload?) -> (shared: TransactionResult, private: TransactionResult?) {
        let contract: any Contract
        do {
            contract = try checkEnvelope(tx, state: state, height: height, expectedSequence: expectedSequence)
        } catch {
            return (error.result, nil)
        }
        if contract.endorsedMethods.contains(tx.body.method), let endorsed = EndorsedCall(args: tx.body.args) {
            return runEndorsed(contract, tx, endorsed, state: &state, height: height, timeMs: timeMs, payload: payload)
        }
        let envelope = contract.privateMethods.contains(tx.body.method) ? PrivateEnvelope(args: tx.body.args) : nil
        do {
            if let envelope {
                try Self.checkCollection(envelope, sender: tx.body.sender, state: state)
            } else {
                try contract.execute(ContractCall(transaction: tx, height: height, timeMs: timeMs), state: &state)
            }
            state.set(Self.sequenceKey(tx.body.sender), .int(Int64(tx.body.sequence)))
            state.commitTransaction()
        } catch {
            // A contract refusal still consumes the sequence number: the sender signed and the chain ordered it.
            state.discardTransaction()
            state.set(Self.sequenceKey(tx.body.sender), .int(Int64(tx.body.sequence)))
            state.commitTransaction()
            return (error.result, nil)
        }
        guard let envelope, let payload, payload.commitment == envelope.commitment else { return (.accepted, nil) }
        return (.accepted, runPrivate(contract, tx, envelope, payload, state: &state, height: height, timeMs: timeMs))
    }

    /// The private part: the payload's arguments, executed in the collection's namespace. Its result
    /// is kept there too; the shared part stands whatever it is.
    private func runPrivate(_ contract: any Contract, _ tx: VerifiedTransaction, _ envelope: PrivateEnvelope, _ payload: PrivatePayload,
                            state: inout StateView, height: UInt64, timeMs: Int64) -> TransactionResult {
        state.namespace = envelope.keyNamespace
        defer { state.namespace = nil }
        let call = ContractCall(transaction: tx, height: height, timeMs: timeMs, payload: payload, envelope: envelope)
        let result: TransactionResult
        do throws(Rejection) {
            let entitled = try contract.privateOrganizations(call, state: state)
            guard entitled == Set(envelope.organizations) else {
                throw Rejection(.wrongCollection, "\(tx.body.contract).\(tx.body.method)'s payload goes to exactly the organizations "
                                + entitled.map(\.hex).sorted().joined(separator: ", "))
            }
            try contract.execute(call, state: &state)
            if let key = state.sharedWriteAttempt {
                throw Rejection(.privateWritesShared, "a private call changes only its collection's state, not shared \(key)")
            }
            result = .accepted
        } catch {
            state.discardTransaction()
            result = error.result
        }
        state.set(Self.privateResultKey(tx.id), result.encoded)
        state.commitTransaction()
        return result
    }

    /// The shared rule of every private call: each organization named is an active organization,
    /// and the sender is one of them or a member of one — or, for an endorsed call (which every
    /// organization named signs), a patient (a patient joining a telehealth session).
    static func checkCollection(_ envelope: PrivateEnvelope, sender: IdentityID, state: StateView, patientsMay: Bool = false)
        throws(Rejection) {
        for id in envelope.organizations {
            guard let organization = Directory.identity(id, in: state), organization.kind == .organization, !organization.revoked else {
                throw Rejection(.badCollection, "\(id.hex) is not an active organization")
            }
        }
        if patientsMay, let identity = Directory.identity(sender, in: state), identity.kind == .patient { return }
        let senderOrganization = Directory.identity(sender, in: state).flatMap { $0.kind == .organization ? $0.id : $0.organization }
        guard let senderOrganization, envelope.organizations.contains(senderOrganization) else {
            throw Rejection(.badCollection, "a private call's payload goes to the sender's own organization among others")
        }
    }

    /// Checks that do not depend on the contract: chain, expiry, sequence, contract and method,
    /// and that the signing key is the sender's current key (or a valid self-registration).
    func checkEnvelope(_ tx: VerifiedTransaction, state: StateView, height: UInt64,
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

    /// The private payloads this node holds for a block's transactions (replayed in their
    /// collections' namespaces, as the node executed them).
    private let payloads: @Sendable ([VerifiedTransaction]) -> [Hash256: PrivatePayload]

    public init(executor: BlockExecutor, payloads: @escaping @Sendable ([VerifiedTransaction]) -> [Hash256: PrivatePayload] = { _ in [:] }) {
        (self.executor, self.payloads) = (executor, payloads)
    }

    /// A replayer starting from `state` (a checkpoint snapshot's), each key last written at the height given.
    public init(executor: BlockExecutor, state: [String: (value: [UInt8], height: UInt64)],
                payloads: @escaping @Sendable ([VerifiedTransaction]) -> [Hash256: PrivatePayload] = { _ in [:] }) {
        (self.executor, self.payloads) = (executor, payloads)
        self.state = MemoryState(state.mapValues(\.value))
        lastWriteHeight = state.mapValues(\.height)
    }

    public func isAuthorizedOrderer(_ key: SigningPublicKey, height: UInt64) -> Bool {
        Directory.isOrderer(key, in: state)
    }

    public mutating func replay(header: BlockHeader, transactions: [VerifiedTransaction]) -> (results: [TransactionResult], writeSet: WriteSet) {
        let execution = executor.execute(height: header.height, timeMs: header.timeMs, transactions: transactions, state: state,
                                         payloads: payloads(transactions))
        state.apply(execution.storedWrites)
        for entry in execution.storedWrites.entries { lastWriteHeight[entry.key] = header.height }
        return (execution.results, execution.writeSet)
    }
}
