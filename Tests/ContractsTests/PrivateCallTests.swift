import Contracts
import LedgerCore
import Testing

/// A private call as a client builds it: the payload (real arguments and salt) and the signed
/// transaction whose arguments are only the envelope (commitment and entitled organizations).
struct PrivateCall: Sendable {
    let tx: VerifiedTransaction
    let payload: PrivatePayload
    let envelope: PrivateEnvelope
    /// What a node of one of the named organizations holds for this call.
    var payloads: [Hash256: PrivatePayload] { [tx.id: payload] }
}

extension Harness {
    /// Signs `call` as a private call: its arguments become a payload committed to by an envelope
    /// naming `organizations` (in any order; the envelope sorts them).
    mutating func privateCall(_ keys: IdentityKeys, _ call: some ContractMethod, for organizations: [IdentityID],
                              salt: UInt8 = 0x5A) -> PrivateCall {
        let payload = PrivatePayload(args: call.args, salt: Array(repeating: salt, count: PrivatePayload.saltBytes))
        let envelope = PrivateEnvelope(commitment: payload.commitment, organizations: organizations)!
        let tx = sign(keys, type(of: call).contract, type(of: call).methodName, envelope.args.mapValue!)
        return PrivateCall(tx: tx, payload: payload, envelope: envelope)
    }

    /// Executes the next block as a node holding `payloads` would, without applying it.
    func executeNext(_ txs: [VerifiedTransaction], payloads: [Hash256: PrivatePayload]) -> BlockExecution {
        executor.execute(height: height, timeMs: nextTimeMs, transactions: txs, state: state, payloads: payloads)
    }

    /// Executes one block on a node holding `payloads` and applies everything it stores (shared
    /// and private writes); the state root chains over the shared writes only.
    @discardableResult
    mutating func runHolding(_ txs: [VerifiedTransaction], payloads: [Hash256: PrivatePayload]) -> BlockExecution {
        let timeMs = nextTimeMs
        let execution = executeNext(txs, payloads: payloads)
        state.apply(execution.storedWrites)
        history.append((height, timeMs, txs))
        stateRoot = execution.writeSet.stateRoot(after: stateRoot)
        height += 1
        return execution
    }

    /// What contracts read inside a collection: its namespace laid over shared state (private keys
    /// of every collection left out).
    func collectionState(_ envelope: PrivateEnvelope) -> MemoryState {
        let namespace = envelope.keyNamespace
        var values = state.values.filter { !$0.key.hasPrefix(PrivateEnvelope.keyPrefix) }
        for (key, value) in state.values where key.hasPrefix(namespace) { values[String(key.dropFirst(namespace.count))] = value }
        return MemoryState(values)
    }
}

@Suite("Private calls")
struct PrivateCallTests {
    typealias W = ClaimsWorld
    typealias H = Harness

    static let hospitalOrg = H.hospital.derivedID, clinicOrg = H.clinic.derivedID, payerOrg = W.payer.derivedID
    static let patientID = H.patientID, unknownID = Hash256.sha256([0xAB, 0xCD])

    /// claims.submit arguments for claim `name`: one office visit on day 6, billed 200.00.
    static func submit(_ name: String, plan: String = "GOLD",
                       items: [ClaimItem] = [H.line(1, "99213", price: 20_000, day: 6)]) -> ClaimsContract.Submit {
        ClaimsContract.Submit(claim: H.claimID(name), plan: plan, patient: patientID, memberID: H.memberID(patientID),
                              claimHash: Hash256.sha256(Array("fhir claim \(name)".utf8)), diagnoses: ["J06.9"], items: items)
    }

    static func pay(_ name: String, _ amount: Int64) -> ClaimsContract.Pay {
        ClaimsContract.Pay(claim: H.claimID(name), amount: amount, reference: Hash256.sha256(Array("eft \(name) \(amount)".utf8)))
    }

    static func claimKey(_ name: String) -> String { "claims/claim/\(H.claimID(name).hex)" }

    static func resultKey(_ call: PrivateCall) -> String { call.envelope.keyNamespace + BlockExecutor.privateResultKey(call.tx.id) }

    // MARK: 1. A private submit, executed with its payload

    @Test func privateSubmitWithPayloadWritesOnlyInItsNamespace() throws {
        var h = W.shared.h
        #expect(Directory.identity(Self.payerOrg, in: h.state)?.organizationType == .payer)
        #expect(ClaimsContract.claimOrganizations(provider: Self.hospitalOrg, plan: "GOLD", in: h.state) == [Self.hospitalOrg, Self.payerOrg])
        let coverageBefore = try #require(ClaimsContract.coverage(W.shared.goldCoverage, in: h.state))
        let call = h.privateCall(W.billing, Self.submit("p1"), for: [Self.payerOrg, Self.hospitalOrg])
        #expect(call.envelope.organizations.count == 2)

        let execution = h.runHolding([call.tx], payloads: call.payloads)
        #expect(execution.results == [.accepted], "\(execution.results.map(\.message))")
        let privateResult = try #require(execution.privateResults[call.tx.id])
        #expect(privateResult == .accepted, "\(privateResult.message)")

        // Shared writes: the sender's sequence and nothing under "private/".
        #expect(!execution.writeSet.entries.contains { $0.key.hasPrefix(PrivateEnvelope.keyPrefix) })
        #expect(execution.writeSet.entries.map(\.key) == [H.sequenceKey(W.billing.derivedID)])
        // Private writes: all in the collection's namespace, the claim and the stored result among them.
        let namespace = call.envelope.keyNamespace
        #expect(namespace.hasPrefix("private/") && namespace.hasSuffix("/"))
        let privateKeys = Set(execution.privateWrites.entries.map(\.key))
        #expect(privateKeys.allSatisfy { $0.hasPrefix(namespace) }, "\(privateKeys.sorted())")
        #expect(privateKeys.contains(namespace + Self.claimKey("p1")))
        #expect(privateKeys.contains(Self.resultKey(call)))
        let stored = try #require(h.state.value(for: Self.resultKey(call)))
        #expect(try TransactionResult(decoding: stored) == .accepted)

        // Shared state knows nothing of the claim; inside the collection it is adjudicated as usual.
        #expect(ClaimsContract.claim(H.claimID("p1"), in: h.state) == nil)
        #expect(h.state.value(for: Self.claimKey("p1")) == nil)
        let inside = h.collectionState(call.envelope)
        let claim = try #require(ClaimsContract.claim(H.claimID("p1"), in: inside))
        #expect(claim.provider == Self.hospitalOrg && claim.submitter == W.billing.derivedID && claim.plan == "GOLD")
        #expect(claim.outcome == .paid && claim.payerMinor == 4_000 && claim.patientMinor == 11_000)
        // The shared coverage record is untouched, even inside the collection (a private call never
        // shadows a shared record): what the claim used of it is the collection's own usage record.
        #expect(ClaimsContract.coverage(W.shared.goldCoverage, in: h.state) == coverageBefore)
        #expect(ClaimsContract.coverage(W.shared.goldCoverage, in: inside) == coverageBefore)
        #expect(inside.value(for: "claims/usage/\(W.shared.goldCoverage.hex)") != nil)
        #expect(!privateKeys.contains(namespace + "claims/coverage/\(W.shared.goldCoverage.hex)"))
    }

    // MARK: Regressions: a private call never shadows a shared record

    /// Found by review: the private part once wrote a copy of the coverage into the collection, which
    /// then hid the payer's later termination of it — a service after the end was paid privately but
    /// denied in the clear. Now the coverage stays shared, and the collection keeps only its usage.
    @Test func aCoverageTerminatedInSharedStateIsSeenByLaterPrivateClaims() throws {
        var h = W.shared.h
        let orgs = [Self.hospitalOrg, Self.payerOrg]
        let first = h.privateCall(W.billing, Self.submit("t1", items: [H.line(1, "99213", price: 20_000, day: 6)]), for: orgs, salt: 1)
        #expect(h.runHolding([first.tx], payloads: first.payloads).privateResults[first.tx.id] == .accepted)
        // The payer ends the coverage from now on (a clear, shared call); the next visit is after that.
        h.runAccepted([h.sign(W.agent, ClaimsContract.TerminateCoverage(coverage: W.shared.goldCoverage, endMs: h.nextTimeMs))], "terminate")
        h.timeBaseMs += 2 * W.day
        let serviceMs = h.nextTimeMs - 1
        let later = ClaimItem(sequence: 1, code: "99213", quantity: 1, unitPriceMinor: 20_000, serviceMs: serviceMs, record: W.visits[7])
        let second = h.privateCall(W.billing, Self.submit("t2", items: [later]), for: orgs, salt: 2)
        #expect(h.runHolding([second.tx], payloads: second.payloads).privateResults[second.tx.id] == .accepted)
        let claim = try #require(ClaimsContract.claim(H.claimID("t2"), in: h.collectionState(second.envelope)))
        #expect(claim.outcome == .denied, "\(claim.lines)")
        #expect(claim.lines.first?.adjustments.first?.reason == .notEligible, "\(claim.lines)")
    }

    /// A contract whose private method writes the key it is given: the executor refuses the private
    /// part once it touches a key shared state holds, and keeps nothing of it.
    struct ProbeContract: Contract {
        var name: String { "probe" }
        var methods: Set<String> { ["touch"] }
        var privateMethods: Set<String> { ["touch"] }
        func privateOrganizations(_ call: ContractCall, state: StateView) throws(Rejection) -> Set<IdentityID> {
            guard let organization = Directory.identity(call.sender, in: state)?.organization else { throw Rejection(.unauthorized, "no organization") }
            return [organization]
        }
        func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
            guard let key = call.args["key"]?.stringValue else { throw Rejection(.badArguments, "key") }
            state.set(key, CanonicalValue.int(1))
        }
    }

    @Test(arguments: [("probe/fresh", true), ("membership/identity/\(H.patientID.hex)", false)])
    func aPrivatePartMayNotWriteASharedKey(key: String, allowed: Bool) throws {
        let h = W.shared.h
        let executor = BlockExecutor(chainId: Harness.chainId, contracts: [MembershipContract(), ProbeContract()])
        let payload = PrivatePayload(args: .map(["key": .string(key)]), salt: Array(repeating: 3, count: 32))
        let envelope = try #require(PrivateEnvelope(commitment: payload.commitment, organizations: [Self.hospitalOrg]))
        var signer = h
        let tx = signer.sign(H.doctor, "probe", "touch", envelope.args.mapValue!)
        let execution = executor.execute(height: h.height, timeMs: h.nextTimeMs, transactions: [tx], state: h.state, payloads: [tx.id: payload])
        #expect(execution.results == [.accepted])
        let result = try #require(execution.privateResults[tx.id])
        #expect(result.isAccepted == allowed, "\(result)")
        #expect(execution.privateWrites.entries.contains { $0.key == envelope.keyNamespace + key } == allowed)
        if !allowed { #expect(result.code == ResultCode.privateWritesShared.rawValue) }
    }

    // MARK: 2. The shared part does not depend on the payload

    /// One block of a private call (or more), and the payloads an entitled node holds for it.
    struct BlockRow: CustomStringConvertible, Sendable {
        let description: String
        let make: @Sendable (inout Harness) -> (transactions: [VerifiedTransaction], payloads: [Hash256: PrivatePayload])
    }

    static let blockRows: [BlockRow] = [
        BlockRow(description: "accepted private submit") { h in
            let call = h.privateCall(W.billing, submit("s"), for: [hospitalOrg, payerOrg])
            return ([call.tx], call.payloads)
        },
        BlockRow(description: "private submit naming the wrong organizations") { h in
            let call = h.privateCall(W.billing, submit("s"), for: [hospitalOrg, clinicOrg])
            return ([call.tx], call.payloads)
        },
        BlockRow(description: "private submit whose private part is refused (unknown plan)") { h in
            let call = h.privateCall(W.billing, submit("s", plan: "NOPE"), for: [hospitalOrg, payerOrg])
            return ([call.tx], call.payloads)
        },
        BlockRow(description: "private submit whose sender's organization is not named") { h in
            let call = h.privateCall(W.billing, submit("s"), for: [payerOrg, clinicOrg])
            return ([call.tx], call.payloads)
        },
        BlockRow(description: "private submit, then a clear claim of the same patient and plan") { h in
            let call = h.privateCall(W.billing, submit("s"), for: [hospitalOrg, payerOrg])
            let clear = h.claim("c", [H.line(1, "99213", price: 20_000, day: 7)])
            return ([call.tx, clear], call.payloads)
        },
        BlockRow(description: "private submit and private pay of it in one block") { h in
            let submitting = h.privateCall(W.billing, submit("s"), for: [hospitalOrg, payerOrg])
            let paying = h.privateCall(W.agent, pay("s", 1_000), for: [hospitalOrg, payerOrg], salt: 0x11)
            return ([submitting.tx, paying.tx], submitting.payloads.merging(paying.payloads) { a, _ in a })
        },
    ]

    @Test(arguments: blockRows)
    func sharedPartIsTheSameWithoutThePayload(_ row: BlockRow) {
        var h = W.shared.h
        let (txs, payloads) = row.make(&h)
        let holder = h.executeNext(txs, payloads: payloads)
        let third = h.executeNext(txs, payloads: [:])
        #expect(holder.results == third.results, "\(row)")
        #expect(holder.writeSet == third.writeSet, "\(row)")
        #expect(holder.writeSet.stateRoot(after: h.stateRoot) == third.writeSet.stateRoot(after: h.stateRoot), "\(row)")
        #expect(third.privateWrites.entries.isEmpty, "\(row)")
        #expect(third.privateResults.isEmpty, "\(row)")
        #expect(!holder.writeSet.entries.contains { $0.key.hasPrefix(PrivateEnvelope.keyPrefix) }, "\(row)")
        #expect(holder.privateWrites.entries.allSatisfy { $0.key.hasPrefix(PrivateEnvelope.keyPrefix) }, "\(row)")
        #expect(holder.storedWrites.entries.count == holder.writeSet.entries.count + holder.privateWrites.entries.count, "\(row)")
    }

    // MARK: 3 and 4. Which organizations the envelope names

    struct EnvelopeRow: CustomStringConvertible, Sendable {
        let description: String
        var sender: IdentityKeys = W.billing
        let organizations: [IdentityID]
        /// The shared part's result.
        let shared: ResultCode
        /// The private part's result; nil when it must not run.
        let privatePart: ResultCode?
    }

    static let envelopeRows: [EnvelopeRow] = [
        EnvelopeRow(description: "provider and payer", organizations: [hospitalOrg, payerOrg], shared: .accepted, privatePart: .accepted),
        EnvelopeRow(description: "provider and payer, by the hospital itself", sender: H.hospital, organizations: [payerOrg, hospitalOrg],
                    shared: .accepted, privatePart: .accepted),
        EnvelopeRow(description: "hospital and clinic instead of the payer", organizations: [hospitalOrg, clinicOrg],
                    shared: .accepted, privatePart: .wrongCollection),
        EnvelopeRow(description: "the hospital alone", organizations: [hospitalOrg], shared: .accepted, privatePart: .wrongCollection),
        EnvelopeRow(description: "provider, payer and a third organization", organizations: [hospitalOrg, payerOrg, clinicOrg],
                    shared: .accepted, privatePart: .wrongCollection),
        EnvelopeRow(description: "a payer agent submitting a claim", sender: W.agent, organizations: [hospitalOrg, payerOrg],
                    shared: .accepted, privatePart: .notProvider),
        EnvelopeRow(description: "payer and clinic, by the hospital's staff", organizations: [payerOrg, clinicOrg],
                    shared: .badCollection, privatePart: nil),
        EnvelopeRow(description: "the payer alone, by the hospital's staff", organizations: [payerOrg], shared: .badCollection, privatePart: nil),
        EnvelopeRow(description: "a patient named as an organization", organizations: [hospitalOrg, payerOrg, patientID],
                    shared: .badCollection, privatePart: nil),
        EnvelopeRow(description: "an unknown organization", organizations: [hospitalOrg, payerOrg, unknownID],
                    shared: .badCollection, privatePart: nil),
    ]

    @Test(arguments: envelopeRows)
    func envelopeOrganizations(_ row: EnvelopeRow) throws {
        var h = W.shared.h
        let call = h.privateCall(row.sender, Self.submit("e"), for: row.organizations)
        let execution = h.runHolding([call.tx], payloads: call.payloads)
        let shared = try #require(execution.results.first)
        #expect(shared.code == row.shared.rawValue, "\(row): \(shared.code) \(shared.message)")
        // The sequence is consumed either way, and nothing else is written in the clear.
        #expect(execution.writeSet.entries.map(\.key) == [H.sequenceKey(row.sender.derivedID)], "\(row)")
        #expect(BlockExecutor.lastSequence(of: row.sender.derivedID, in: h.state) == call.tx.body.sequence)

        let privateResult = execution.privateResults[call.tx.id]
        #expect(privateResult?.code == row.privatePart?.rawValue, "\(row): \(privateResult.map { "\($0.code) \($0.message)" } ?? "none")")
        let privateKeys = execution.privateWrites.entries.map(\.key)
        let inside = h.collectionState(call.envelope)
        switch row.privatePart {
        case nil:
            #expect(privateKeys.isEmpty, "\(row): \(privateKeys)")
        case .accepted?:
            #expect(privateKeys.contains(Self.resultKey(call)), "\(row)")
            #expect(ClaimsContract.claim(H.claimID("e"), in: inside) != nil, "\(row)")
        case let code?:
            // A refused private part leaves only its result, in the namespace.
            #expect(privateKeys == [Self.resultKey(call)], "\(row): \(privateKeys)")
            let stored = try #require(h.state.value(for: Self.resultKey(call)))
            #expect(try TransactionResult(decoding: stored).code == code.rawValue, "\(row)")
            #expect(ClaimsContract.claim(H.claimID("e"), in: inside) == nil, "\(row)")
        }
        #expect(ClaimsContract.claim(H.claimID("e"), in: h.state) == nil, "\(row)")
    }

    @Test func envelopeRowsAreDistinct() { #expect(Set(Self.envelopeRows.map(\.description)).count == Self.envelopeRows.count) }

    // MARK: 5. A payload that is not the committed one

    @Test(arguments: ["another salt", "other arguments"])
    func payloadNotMatchingTheCommitmentIsNotExecuted(_ kind: String) {
        var h = W.shared.h
        let call = h.privateCall(W.billing, Self.submit("m"), for: [Self.hospitalOrg, Self.payerOrg])
        let other = kind == "another salt"
            ? PrivatePayload(args: call.payload.args, salt: Array(repeating: 0x01, count: 32))
            : PrivatePayload(args: Self.submit("m2").args, salt: call.payload.salt)
        #expect(other.commitment != call.envelope.commitment)
        let execution = h.runHolding([call.tx], payloads: [call.tx.id: other])
        #expect(execution.results == [.accepted])
        #expect(execution.privateResults[call.tx.id] == nil)
        #expect(execution.privateResults.isEmpty)
        #expect(execution.privateWrites.entries.isEmpty)
        #expect(ClaimsContract.claim(H.claimID("m"), in: h.collectionState(call.envelope)) == nil)
        #expect(ClaimsContract.claim(H.claimID("m2"), in: h.collectionState(call.envelope)) == nil)
    }

    // MARK: 6. Canonical forms

    static let hospitalAndPayer = [hospitalOrg, payerOrg].sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    static let commitment = Hash256.sha256([0x42])

    static func envelopeArgs(_ ids: [IdentityID], hash: [UInt8] = commitment.bytes, extra: CanonicalMap = [:]) -> CanonicalValue {
        var map: CanonicalMap = ["private": .bytes(hash), "for": .list(ids.map { .bytes($0.bytes) })]
        for (key, value) in extra { map[key] = value }
        return .map(map)
    }

    struct ArgsRow: CustomStringConvertible, Sendable {
        let description: String
        let args: CanonicalValue
    }

    static let refusedEnvelopes: [ArgsRow] = {
        let ids = hospitalAndPayer
        let seventeen = (0..<17).map { Hash256.sha256([0xE0, UInt8($0)]) }.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        return [
            ArgsRow(description: "unsorted organizations", args: envelopeArgs(ids.reversed())),
            ArgsRow(description: "an organization twice", args: envelopeArgs([ids[0], ids[0], ids[1]])),
            ArgsRow(description: "the only organization twice", args: envelopeArgs([ids[0], ids[0]])),
            ArgsRow(description: "no organizations", args: envelopeArgs([])),
            ArgsRow(description: "17 organizations", args: envelopeArgs(seventeen)),
            ArgsRow(description: "a 31-byte commitment", args: envelopeArgs(ids, hash: Array(commitment.bytes.dropLast()))),
            ArgsRow(description: "a 33-byte commitment", args: envelopeArgs(ids, hash: commitment.bytes + [0])),
            ArgsRow(description: "a 31-byte organization id", args: .map([
                "private": .bytes(commitment.bytes), "for": .list([.bytes(Array(ids[0].bytes.dropLast()))]),
            ])),
            ArgsRow(description: "an organization id as a string", args: .map([
                "private": .bytes(commitment.bytes), "for": .list([.string(ids[0].hex)]),
            ])),
            ArgsRow(description: "an extra key", args: envelopeArgs(ids, extra: ["plan": .string("GOLD")])),
            ArgsRow(description: "no commitment", args: .map(["for": .list(ids.map { .bytes($0.bytes) })])),
            ArgsRow(description: "no organizations key", args: .map(["private": .bytes(commitment.bytes)])),
            ArgsRow(description: "the commitment as a string", args: .map([
                "private": .string(commitment.hex), "for": .list(ids.map { .bytes($0.bytes) }),
            ])),
            ArgsRow(description: "organizations as one id", args: .map(["private": .bytes(commitment.bytes), "for": .bytes(ids[0].bytes)])),
            ArgsRow(description: "a list, not a map", args: .list([.bytes(commitment.bytes)])),
            ArgsRow(description: "the real arguments of a submit", args: submit("x").args),
        ]
    }()

    @Test(arguments: refusedEnvelopes)
    func envelopeRefusesNonCanonicalArguments(_ row: ArgsRow) {
        #expect(PrivateEnvelope(args: row.args) == nil, "\(row)")
    }

    @Test func envelopeRoundTripsItsCanonicalArguments() throws {
        // Any order and repeats in, one sorted list out.
        let envelope = try #require(PrivateEnvelope(commitment: Self.commitment, organizations: [Self.payerOrg, Self.hospitalOrg, Self.payerOrg]))
        #expect(envelope.organizations == Self.hospitalAndPayer)
        #expect(envelope.args == Self.envelopeArgs(Self.hospitalAndPayer))
        #expect(PrivateEnvelope(args: envelope.args) == envelope)
        let sixteen = (0..<16).map { Hash256.sha256([0xE0, UInt8($0)]) }
        let wide = try #require(PrivateEnvelope(commitment: Self.commitment, organizations: sixteen))
        #expect(PrivateEnvelope(args: wide.args) == wide)
        #expect(PrivateEnvelope(commitment: Self.commitment, organizations: []) == nil)
        #expect(PrivateEnvelope(commitment: Self.commitment, organizations: sixteen + [Self.unknownID]) == nil)
        // The same organizations name the same collection; others another one.
        let same = try #require(PrivateEnvelope(commitment: Hash256.sha256([1]), organizations: [Self.hospitalOrg, Self.payerOrg]))
        let other = try #require(PrivateEnvelope(commitment: Self.commitment, organizations: [Self.hospitalOrg, Self.clinicOrg]))
        #expect(same.keyNamespace == envelope.keyNamespace)
        #expect(other.keyNamespace != envelope.keyNamespace)
        #expect(envelope.keyNamespace == "private/\(envelope.collection.hex)/")
    }

    @Test func payloadRoundTrips() throws {
        let payload = PrivatePayload(args: Self.submit("rt").args, salt: Array(0..<32))
        let decoded = try PrivatePayload(decoding: payload.encoded)
        #expect(decoded == payload)
        #expect(decoded.args == payload.args && decoded.salt == Array(0..<32) && decoded.encoded == payload.encoded)
        #expect(decoded.commitment == payload.commitment)
        #expect(payload.encoded.first == PrivatePayload.formatVersion)
        // The salt is part of the commitment.
        #expect(PrivatePayload(args: payload.args, salt: Array(1...32)).commitment != payload.commitment)
    }

    struct BytesRow: CustomStringConvertible, Sendable {
        let description: String
        let bytes: [UInt8]
        /// Nil: any `.malformed`.
        let error: PrivateDataError?
    }

    static let refusedPayloads: [BytesRow] = {
        let payload = PrivatePayload(args: .map(["a": .int(1)]), salt: Array(repeating: 7, count: 32))
        let max = PrivatePayload.encodedBytesMax
        var wrongVersion = payload.encoded
        wrongVersion[0] = 2
        var shortSalt = CanonicalWriter()
        shortSalt.write(versionByte: PrivatePayload.formatVersion)
        shortSalt.write(bytes: Array(repeating: 7, count: 31))
        shortSalt.write(CanonicalValue.null)
        // A big payload whose encoding is one byte over the limit: version, salt, then a byte string.
        var filler = max - 64
        var big = 0
        while big < max + 1 {
            filler += 1
            big = PrivatePayload(args: .bytes(Array(repeating: 0, count: filler)), salt: Array(repeating: 7, count: 32)).encoded.count
        }
        let oversize = PrivatePayload(args: .bytes(Array(repeating: 0, count: filler)), salt: Array(repeating: 7, count: 32)).encoded
        return [
            BytesRow(description: "a trailing byte", bytes: payload.encoded + [0], error: nil),
            BytesRow(description: "a trailing value", bytes: payload.encoded + CanonicalValue.null.encoded, error: nil),
            BytesRow(description: "version 2", bytes: wrongVersion, error: .unsupportedVersion),
            BytesRow(description: "version 0", bytes: [0] + payload.encoded.dropFirst(), error: .unsupportedVersion),
            BytesRow(description: "a 31-byte salt", bytes: shortSalt.bytes, error: nil),
            BytesRow(description: "no arguments", bytes: Array(payload.encoded.prefix(1 + 2 + 32)), error: nil),
            BytesRow(description: "empty", bytes: [], error: nil),
            BytesRow(description: "one byte over the limit", bytes: oversize, error: .tooLarge(bytes: oversize.count, max: max)),
            BytesRow(description: "zeros over the limit", bytes: Array(repeating: 0, count: max + 1), error: .tooLarge(bytes: max + 1, max: max)),
        ]
    }()

    @Test(arguments: refusedPayloads)
    func payloadDecodingRefuses(_ row: BytesRow) {
        do {
            let payload = try PrivatePayload(decoding: row.bytes)
            Issue.record("\(row): decoded \(payload.args)")
        } catch {
            if let expected = row.error {
                #expect(error == expected, "\(row): \(error)")
            } else if case .malformed = error {
            } else {
                Issue.record("\(row): \(error), not malformed")
            }
        }
    }

    @Test func payloadAtTheLimitDecodes() throws {
        let salt = Array(repeating: UInt8(7), count: 32)
        var filler = PrivatePayload.encodedBytesMax - 64
        while PrivatePayload(args: .bytes(Array(repeating: 0, count: filler + 1)), salt: salt).encoded.count <= PrivatePayload.encodedBytesMax {
            filler += 1
        }
        let payload = PrivatePayload(args: .bytes(Array(repeating: 0, count: filler)), salt: salt)
        #expect(payload.encoded.count <= PrivatePayload.encodedBytesMax)
        #expect(try PrivatePayload(decoding: payload.encoded) == payload)
    }

    // MARK: 7. Private pay after private submit

    @Test func privatePayReadsTheClaimFromTheNamespace() throws {
        var h = W.shared.h
        let orgs = [Self.hospitalOrg, Self.payerOrg]
        let submit = h.privateCall(W.billing, Self.submit("pp"), for: orgs)
        let first = h.runHolding([submit.tx], payloads: submit.payloads)
        #expect(first.results == [.accepted] && first.privateResults[submit.tx.id] == .accepted)

        // A third organization's node executes the pay's shared part identically.
        let pay = h.privateCall(W.agent, Self.pay("pp", 1_000), for: orgs)
        #expect(pay.envelope.keyNamespace == submit.envelope.keyNamespace)
        let blind = h.executeNext([pay.tx], payloads: [:])
        let execution = h.runHolding([pay.tx], payloads: pay.payloads)
        #expect(execution.results == [.accepted])
        #expect(blind.results == execution.results && blind.writeSet == execution.writeSet)
        let privateResult = try #require(execution.privateResults[pay.tx.id])
        #expect(privateResult == .accepted, "\(privateResult.message)")
        #expect(execution.writeSet.entries.map(\.key) == [H.sequenceKey(W.agent.derivedID)])
        #expect(execution.privateWrites.entries.map(\.key).contains(submit.envelope.keyNamespace + Self.claimKey("pp")))

        let claim = try #require(ClaimsContract.claim(H.claimID("pp"), in: h.collectionState(pay.envelope)))
        #expect(claim.paidMinor == 1_000 && claim.payments.count == 1)
        #expect(ClaimsContract.claim(H.claimID("pp"), in: h.state) == nil)

        // The private pay's rules still hold inside the namespace: no paying more than is owed.
        let over = h.privateCall(W.agent, Self.pay("pp", 3_001), for: orgs)
        let refused = h.runHolding([over.tx], payloads: over.payloads)
        #expect(refused.results == [.accepted])
        #expect(refused.privateResults[over.tx.id]?.code == ResultCode.overpayment.rawValue)

        // A private pay in another collection cannot find the claim: it is neither in that
        // collection's namespace nor in shared state.
        let elsewhere = h.privateCall(W.agent, Self.pay("pp", 100), for: [Self.payerOrg, Self.clinicOrg])
        #expect(h.runHolding([elsewhere.tx], payloads: elsewhere.payloads).privateResults[elsewhere.tx.id]?.code
                == ResultCode.unknownClaim.rawValue)

        // In the clear, shared state has no such claim.
        let clear = h.pay("pp", 1_000)
        #expect(h.executor.privateEnvelope(clear) == nil)
        let result = h.run([clear])[0]
        #expect(result.code == ResultCode.unknownClaim.rawValue, "\(result.code) \(result.message)")
        #expect(ClaimsContract.claim(H.claimID("pp"), in: h.collectionState(pay.envelope))?.paidMinor == 1_000)
    }

    // MARK: 8. Admission

    struct AdmitRow: CustomStringConvertible, Sendable {
        let description: String
        let make: @Sendable (inout Harness) -> (tx: VerifiedTransaction, payload: PrivatePayload?)
        /// Nil: admitted.
        let expected: ResultCode?
    }

    static let admitRows: [AdmitRow] = [
        AdmitRow(description: "private submit without its payload", make: { h in
            (h.privateCall(W.billing, submit("a"), for: [hospitalOrg, payerOrg]).tx, nil)
        }, expected: .badArguments),
        AdmitRow(description: "private submit with a payload for another commitment", make: { h in
            let call = h.privateCall(W.billing, submit("a"), for: [hospitalOrg, payerOrg])
            return (call.tx, PrivatePayload(args: call.payload.args, salt: Array(repeating: 3, count: 32)))
        }, expected: .badArguments),
        AdmitRow(description: "private submit naming the wrong organizations", make: { h in
            let call = h.privateCall(W.billing, submit("a"), for: [hospitalOrg, clinicOrg])
            return (call.tx, call.payload)
        }, expected: .wrongCollection),
        AdmitRow(description: "private submit whose private part is refused", make: { h in
            let call = h.privateCall(W.billing, submit("a", plan: "NOPE"), for: [hospitalOrg, payerOrg])
            return (call.tx, call.payload)
        }, expected: .unknownPlan),
        AdmitRow(description: "private submit not naming the sender's organization", make: { h in
            let call = h.privateCall(W.billing, submit("a"), for: [payerOrg, clinicOrg])
            return (call.tx, call.payload)
        }, expected: .badCollection),
        AdmitRow(description: "private submit with its payload", make: { h in
            let call = h.privateCall(W.billing, submit("a"), for: [hospitalOrg, payerOrg])
            return (call.tx, call.payload)
        }, expected: nil),
        AdmitRow(description: "clear submit, no payload needed", make: { h in
            (h.claim("a", [H.line(1, "99213", price: 20_000, day: 6)]), nil)
        }, expected: nil),
    ]

    @Test(arguments: admitRows)
    func admission(_ row: AdmitRow) {
        var h = W.shared.h
        let (tx, payload) = row.make(&h)
        let rejection = h.executor.admit(tx, state: h.state, nextHeight: h.height, timeMs: h.nextTimeMs,
                                         expectedSequence: tx.body.sequence, payload: payload)
        #expect(rejection?.code == row.expected, "\(row): \(rejection?.description ?? "admitted")")
        if row.expected != nil { #expect(!(rejection?.message.isEmpty ?? true), "\(row)") }
    }
}
