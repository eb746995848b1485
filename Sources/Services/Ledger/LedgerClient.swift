public import Contracts
import Crypto
public import LedgerCore
public import Node
import Synchronization

/// A transaction to sign when it is submitted, so its sequence number follows submission order.
public struct UnsignedCall: Sendable {
    public let keys: IdentityKeys
    /// The sender when it is not the keys' own identity (an identity that rotated its key signs with the new one).
    public let sender: IdentityID
    public let contract: String
    public let method: String
    public let args: CanonicalValue
    /// A fixed sequence number (1 for a new patient's registration); nil takes the sender's next.
    public var sequence: UInt64?
    public var expiryHeight: UInt64?
    /// For a private call, its payload (the method's real arguments); `args` is then the envelope.
    public var payload: PrivatePayload?
    /// An endorsed private call: simulated and endorsed by the organizations it names before it
    /// is signed (`Endorser`); `args` is then the envelope the endorsement extends.
    public var endorsed = false

    /// A raw call, named and with arguments as given: for a caller's own transaction (`careledger submit`) or a call
    /// no typed method describes. Everything else uses `init(_:sender:call:…)`.
    public init(_ keys: IdentityKeys, sender: IdentityID? = nil, contract: String, method: String, args: CanonicalValue,
                sequence: UInt64? = nil, expiryHeight: UInt64? = nil) {
        self.keys = keys
        self.sender = sender ?? keys.derivedID
        self.contract = contract
        self.method = method
        self.args = args
        self.sequence = sequence
        self.expiryHeight = expiryHeight
    }

    /// A call of a typed contract method: its contract, method name and argument map.
    public init(_ keys: IdentityKeys, sender: IdentityID? = nil, call: some ContractMethod, sequence: UInt64? = nil, expiryHeight: UInt64? = nil) {
        self.init(keys, sender: sender, contract: type(of: call).contract, method: type(of: call).methodName, args: call.args,
                  sequence: sequence, expiryHeight: expiryHeight)
    }

    /// A private call of a typed contract method: the chain carries the payload's commitment and
    /// `organizations` (the contract's rule for the call decides who they must be); the arguments,
    /// with a fresh salt, travel only to those organizations' nodes.
    public init(_ keys: IdentityKeys, sender: IdentityID? = nil, privateCall call: some ContractMethod, for organizations: Set<IdentityID>,
                sequence: UInt64? = nil, expiryHeight: UInt64? = nil) {
        let payload = PrivatePayload(args: call.args, salt: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        guard let envelope = PrivateEnvelope(commitment: payload.commitment, organizations: organizations) else {
            preconditionFailure("a private call goes to 1…\(PrivateEnvelope.organizationsMax) organizations")
        }
        self.init(keys, sender: sender, contract: type(of: call).contract, method: type(of: call).methodName, args: envelope.args,
                  sequence: sequence, expiryHeight: expiryHeight)
        self.payload = payload
    }

    /// An endorsed private call of a typed contract method (`EndorsedCall`): private as above, and
    /// endorsed by every organization in `organizations` before it is signed.
    public init(_ keys: IdentityKeys, sender: IdentityID? = nil, endorsedCall call: some ContractMethod, for organizations: Set<IdentityID>,
                sequence: UInt64? = nil, expiryHeight: UInt64? = nil) {
        self.init(keys, sender: sender, privateCall: call, for: organizations, sequence: sequence, expiryHeight: expiryHeight)
        endorsed = true
    }
}

/// Signs, submits and awaits transactions for the keys this process holds: the one place that
/// hands out sender sequence numbers, turns admission and execution refusals into `Refused`, and
/// waits for commits. The CLI, the FHIR facade, the demo, the benches and the tests all use it.
public final class LedgerClient: Sendable {
    public let node: LedgerNode
    /// Longest wait for a transaction's block, unless the caller says otherwise.
    public let commitWaitMs: Int
    /// Next sequence number per sender, counted up while submissions succeed; absent means
    /// "the next after what is committed".
    private let nextSequence = Mutex<[IdentityID: UInt64]>([:])
    /// Serializes "take sequence numbers, sign, submit" across concurrent writers of one process:
    /// one sender's transactions must reach the node in sequence order, or admission refuses the gap.
    private let submission = AsyncLock()

    /// Endorses this process's endorsed calls (a consortium node's); nil: they cannot be made here.
    public let endorser: Endorser?

    public init(node: LedgerNode, commitWaitMs: Int = 15_000, endorser: Endorser? = nil) {
        (self.node, self.commitWaitMs, self.endorser) = (node, commitWaitMs, endorser)
    }

    /// Signs a transaction from `keys` with the sender's next sequence number (taken now).
    public func sign(_ call: UnsignedCall) -> Transaction { Transaction.sign(body(call, args: call.args), with: call.keys) }

    /// The call's body with the sender's next sequence number (taken now) and `args`.
    private func body(_ call: UnsignedCall, args: CanonicalValue, sequence: UInt64? = nil) -> TransactionBody {
        let sequence = sequence ?? call.sequence ?? nextSequence.withLock { next in
            let value = next[call.sender] ?? BlockExecutor.lastSequence(of: call.sender, in: node.state) + 1
            next[call.sender] = value + 1
            return value
        }
        return TransactionBody(chainId: node.chainId, sender: call.sender, publicKey: call.keys.signingPublicKey, sequence: sequence,
                               contract: call.contract, method: call.method, args: args, expiryHeight: call.expiryHeight)
    }

    /// Signs a call, an endorsed one after its endorsement (which is then its arguments), with the
    /// sender's next sequence number (taken now).
    public func sign(endorsing call: UnsignedCall) async throws -> Transaction {
        guard call.endorsed else { return sign(call) }
        guard let endorser, let payload = call.payload else {
            throw ServiceError(.unavailable, "endorsed calls are made through a consortium node, which has an organization key to endorse them")
        }
        let draft = body(call, args: call.args)
        let endorsed = try await endorser.endorse(EndorsementRequest(draft: Transaction.draft(draft), payload: payload), node: node)
        return Transaction.sign(body(call, args: endorsed.args, sequence: draft.sequence), with: call.keys)
    }

    /// A call of a method that is endorsed and private on a consortium node (its shared writes
    /// depend on private data) and in the clear on a single node, which holds every collection.
    public func call(_ keys: IdentityKeys, endorsedOnConsortium call: some ContractMethod, for organizations: Set<IdentityID>) -> UnsignedCall {
        node.configuration.organizations == nil ? UnsignedCall(keys, call: call) : UnsignedCall(keys, endorsedCall: call, for: organizations)
    }

    /// Signs a raw call (see `UnsignedCall`) from `keys` with the sender's next sequence number (taken now).
    public func sign(_ keys: IdentityKeys, sender: IdentityID? = nil, contract: String, method: String, args: CanonicalValue,
                     expiryHeight: UInt64? = nil) -> Transaction {
        sign(UnsignedCall(keys, sender: sender, contract: contract, method: method, args: args, expiryHeight: expiryHeight))
    }

    /// Signs a call of a typed contract method from `keys` with the sender's next sequence number (taken now).
    public func sign(_ keys: IdentityKeys, sender: IdentityID? = nil, _ call: some ContractMethod, expiryHeight: UInt64? = nil) -> Transaction {
        sign(UnsignedCall(keys, sender: sender, call: call, expiryHeight: expiryHeight))
    }

    /// A call of a method that goes privately to `organizations` on a consortium node, which holds
    /// only its own organization's collections. A single node holds every collection: nothing would
    /// be hidden from anyone, and the call stays in the clear so that a claim's accumulators stay
    /// the patient's across providers (architecture.md, "Known limit").
    public func call(_ keys: IdentityKeys, privateOnConsortium call: some ContractMethod, for organizations: Set<IdentityID>) -> UnsignedCall {
        node.configuration.organizations == nil ? UnsignedCall(keys, call: call) : UnsignedCall(keys, privateCall: call, for: organizations)
    }

    /// Forgets the sequence numbers counted for `sender` (after a refusal): the next comes from committed state.
    public func resetSequence(_ sender: IdentityID) { _ = nextSequence.withLock { $0.removeValue(forKey: sender) } }

    /// Submits a signed transaction, waits for its block, and returns the receipt with its inclusion
    /// proof. A refusal at admission or in the block is thrown as `Refused`.
    @discardableResult
    public func commit(_ transaction: Transaction, timeoutMs: Int? = nil) async throws -> CommitReceipt {
        try await commit([transaction], timeoutMs: timeoutMs)
        return try await node.receipt(for: transaction.id)
    }

    /// Signs, submits and waits for one call under the submission lock, so that its sequence number
    /// is taken in order with every other writer of this client (a node's audit anchors and its
    /// FHIR writes may share a key); the receipt with its inclusion proof.
    @discardableResult
    public func commit(_ call: UnsignedCall, timeoutMs: Int? = nil) async throws -> CommitReceipt {
        let statuses = try await commit([call], timeoutMs: timeoutMs)
        return try await node.receipt(for: statuses[0].transactionID)
    }

    /// Signs (in submission order), submits and waits for every call; all must be accepted.
    @discardableResult
    public func commit(_ calls: [UnsignedCall], timeoutMs: Int? = nil) async throws -> [CommitStatus] {
        // Sign and submit under one lock: a concurrent writer must not slip its next sequence number in between.
        let (transactions, results) = try await submission.withLock { () async throws -> ([Transaction], [Result<Hash256, AdmissionError>]) in
            var transactions: [Transaction] = []
            do { for call in calls { transactions.append(try await sign(endorsing: call)) } } catch {
                for sender in Set(calls.map(\.sender)) { resetSequence(sender) }
                throw error
            }
            var payloads: [Hash256: [UInt8]] = [:]
            for (call, tx) in zip(calls, transactions) { if let payload = call.payload { payloads[tx.id] = payload.encoded } }
            return (transactions, await node.submit(transactions, payloads: payloads))
        }
        return try await awaitAll(transactions, results, timeoutMs: timeoutMs)
    }

    /// Submits signed transactions together and waits for every one; all must be accepted.
    @discardableResult
    public func commit(_ transactions: [Transaction], payloads: [Hash256: [UInt8]] = [:], timeoutMs: Int? = nil) async throws -> [CommitStatus] {
        try await awaitAll(transactions, await node.submit(transactions, payloads: payloads), timeoutMs: timeoutMs)
    }

    private func awaitAll(_ transactions: [Transaction], _ results: [Result<Hash256, AdmissionError>], timeoutMs: Int?) async throws
        -> [CommitStatus] {
        for (transaction, result) in zip(transactions, results) {
            if case .failure(let error) = result {
                for sender in Set(transactions.map(\.body.sender)) { resetSequence(sender) }
                switch error {
                case .rejected(let rejection): throw Refused(code: rejection.code.name, message: rejection.message)
                case .mempoolFull, .stopping, .orderingUnavailable: throw ServiceError(.unavailable, error.description)
                default: throw Refused(code: error.code, message: "\(transaction.id.hex): \(error)")
                }
            }
        }
        let waitMs = timeoutMs ?? commitWaitMs
        var statuses: [CommitStatus] = []
        for transaction in transactions {
            let status: CommitStatus
            do { status = try await node.awaitCommit(transaction.id, timeoutMs: waitMs) } catch let error as NodeError {
                if case .timedOut = error {
                    throw ServiceError(.unavailable, "transaction \(transaction.id.hex) was not committed within \(waitMs) ms; retry")
                }
                throw ServiceError(.unavailable, error.description)
            }
            guard status.result.isAccepted else {
                resetSequence(transaction.body.sender)
                throw Refused(code: ResultCode(rawValue: status.result.code)?.name ?? "\(status.result.code)", message: status.result.message)
            }
            statuses.append(status)
        }
        return statuses
    }
}

/// A FIFO lock for async code (a mutex cannot be held across a suspension point).
final class AsyncLock: Sendable {
    private struct State {
        var held = false
        var queue: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func withLock<T>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let immediate = state.withLock { s -> Bool in
                if !s.held { s.held = true; return true }
                s.queue.append(continuation)
                return false
            }
            if immediate { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.queue.isEmpty { s.held = false; return nil }
            return s.queue.removeFirst()
        }
        next?.resume()
    }
}
