import Contracts
import LedgerCore
import Testing

/// An endorsed call before its endorsement: the payload and envelope a client builds, and the
/// provisional transaction (the real sender, sequence, contract and method, with the envelope's
/// arguments) that the collection's node simulates.
struct EndorsedDraft: Sendable {
    var sender: IdentityKeys
    var contract: String
    var method: String
    var sequence: UInt64
    var payload: PrivatePayload
    var envelope: PrivateEnvelope
    var provisional: VerifiedTransaction

    /// The id the call's contract sees (a new prescription's id).
    var callID: Hash256 { EndorsedCall.callID(chainId: Harness.chainId, sender: sender.derivedID, sequence: sequence, envelope: envelope) }

    /// What each organization signs for `proposal` (another sequence or chain: a signature over the wrong call).
    func message(_ proposal: Proposal, sequence: UInt64? = nil, chainId: String = Harness.chainId) -> [UInt8] {
        EndorsedCall.message(chainId: chainId, sender: sender.derivedID, sequence: sequence ?? self.sequence, contract: contract,
                             method: method, envelope: envelope, proposal: proposal)
    }

    /// Each organization's signature over `proposal`, made with its own keys.
    func signatures(_ proposal: Proposal, by organizations: [IdentityKeys]) -> [EndorsedCall.Signature] {
        organizations.map { EndorsedCall.Signature(organization: $0.derivedID, bytes: $0.sign(message(proposal))) }
    }
}

/// A simulated, endorsed and signed call.
struct Endorsed: Sendable {
    let draft: EndorsedDraft
    let proposal: Proposal
    let tx: VerifiedTransaction
    /// What a node of the collection holds for it.
    var payloads: [Hash256: PrivatePayload] { [tx.id: draft.payload] }
}

extension Proposal {
    /// The same proposal with some parts replaced (forged endorsements).
    func replacing(height: UInt64? = nil, timeMs: Int64? = nil, reads: [Read]? = nil, writes: [Write]? = nil,
                   privateKeys: [Hash256]? = nil, privateDigest: Hash256? = nil) -> Proposal {
        Proposal(height: height ?? self.height, timeMs: timeMs ?? self.timeMs, reads: reads ?? self.reads, writes: writes ?? self.writes,
                 privateKeys: privateKeys ?? self.privateKeys, privateDigest: privateDigest ?? self.privateDigest)
    }
}

extension Harness {
    /// Builds `call` as an endorsed call by `keys` for `organizations` and reserves the sender's next
    /// sequence for it (drafts made one after another get consecutive sequences).
    mutating func endorsedDraft(_ keys: IdentityKeys, _ call: some ContractMethod, for organizations: [IdentityID],
                                salt: UInt8 = 0x5A) -> EndorsedDraft {
        let payload = PrivatePayload(args: call.args, salt: Array(repeating: salt, count: PrivatePayload.saltBytes))
        let envelope = PrivateEnvelope(commitment: payload.commitment, organizations: organizations)!
        let (contract, method) = (type(of: call).contract, type(of: call).methodName)
        let provisional = sign(keys, contract, method, envelope.args.mapValue!)
        return EndorsedDraft(sender: keys, contract: contract, method: method, sequence: provisional.body.sequence, payload: payload,
                             envelope: envelope, provisional: provisional)
    }

    /// The draft simulated against this node's state, for the next block (or the height and time given).
    func simulate(_ draft: EndorsedDraft, height: UInt64? = nil, timeMs: Int64? = nil) -> Result<Proposal, Rejection> {
        executor.simulate(draft.provisional, envelope: draft.envelope, payload: draft.payload, state: state,
                          height: height ?? self.height, timeMs: timeMs ?? nextTimeMs)
    }

    /// The real transaction: the draft's call carrying `proposal` and `signatures`, under the draft's sequence.
    mutating func signEndorsed(_ draft: EndorsedDraft, _ proposal: Proposal, _ signatures: [EndorsedCall.Signature]) -> VerifiedTransaction {
        let args = EndorsedCall(envelope: draft.envelope, proposal: proposal, signatures: signatures).args
        return sign(draft.sender, draft.contract, draft.method, args.mapValue!, sequence: draft.sequence)
    }

    /// The whole flow: draft, simulate here, every organization of `endorsers` signs, sign the call.
    mutating func endorsedCall(_ keys: IdentityKeys, _ call: some ContractMethod, endorsers: [IdentityKeys],
                               salt: UInt8 = 0x5A) throws -> Endorsed {
        let draft = endorsedDraft(keys, call, for: endorsers.map(\.derivedID), salt: salt)
        let proposal = try simulate(draft).get()
        return Endorsed(draft: draft, proposal: proposal, tx: signEndorsed(draft, proposal, draft.signatures(proposal, by: endorsers)))
    }

    /// Executes the next block on a node of the collection (holding `payloads`, this harness's state)
    /// and on a node outside it (no payloads, `outsider`: shared state only); each applies what it stores.
    mutating func runBoth(_ txs: [VerifiedTransaction], payloads: [Hash256: PrivatePayload],
                          outsider: inout MemoryState) -> (holder: BlockExecution, outsider: BlockExecution) {
        let third = executor.execute(height: height, timeMs: nextTimeMs, transactions: txs, state: outsider, payloads: [:])
        let holder = runHolding(txs, payloads: payloads)
        outsider.apply(third.storedWrites)
        return (holder, third)
    }
}

@Suite("Endorsed private calls")
struct EndorsedCallTests {
    typealias W = SupplyWorld
    typealias H = Harness

    static let hospitalOrg = H.hospital.derivedID, pharmacyOrg = W.p.derivedID, otherPharmacyOrg = W.p2.derivedID
    static let payerOrg = W.payer.derivedID
    /// The collection of a prescription from the hospital's doctor to pharmacy P: the organizations that endorse.
    static let endorsers = [H.hospital, W.p]
    static let collection = endorsers.map(\.derivedID)

    /// A private rx.issue for the harness patient: G1, one unit per fill, dispensed only by `pharmacies`.
    static func issueCall(pharmacies: [IdentityID]? = [pharmacyOrg], refills: Int64 = 2) -> PrescriptionContract.Issue {
        PrescriptionContract.Issue(medicationRequestHash: Hash256.sha256(Array("MedicationRequest/private".utf8)), patient: H.patientID,
                                   gtin: W.g1, quantity: 1, refills: refills, expiresMs: W.rxExpiry, pharmacies: pharmacies)
    }

    static func unitKey(_ serial: String) -> String { "supply/unit/\(W.g1)/\(serial)" }
    static func hash(_ key: String) -> Hash256 { Hash256.sha256(Array(key.utf8)) }
    static func fillKey(_ prescription: Hash256, _ number: Int) -> String { "rx/fill/\(prescription.hex)/\(number)" }
    static func prescriptionKey(_ prescription: Hash256) -> String { PrescriptionContract.prescriptionPrefix + prescription.hex }

    /// The supply world 100 s later (so a simulation a minute back still has a positive time), with
    /// S001 and S002 received at P, which also holds S006. No private state yet.
    static let base: Harness = {
        var h = W.shared.h
        h.timeBaseMs += 100_000
        h.runAccepted([h.supplyShip(W.d, to: pharmacyOrg, ["S001", "S002"])], "ship to P")
        h.runAccepted([h.supplyReceive(W.pharmacist, from: W.d.derivedID, ["S001", "S002"])], "receive at P")
        return h
    }()

    /// `base` on a node of the collection after a private prescription (2 refills) from the hospital's
    /// doctor to P was issued and committed.
    struct IssuedWorld: Sendable {
        var h: Harness
        let prescription: Hash256
        let envelope: PrivateEnvelope
        let issue: VerifiedTransaction
    }

    static let issued: IssuedWorld = {
        var h = base
        let issue = try! h.endorsedCall(H.doctor, issueCall(), endorsers: endorsers)
        let execution = h.runHolding([issue.tx], payloads: issue.payloads)
        precondition(execution.results == [.accepted] && execution.privateResults[issue.tx.id] == .accepted, "private issue refused")
        return IssuedWorld(h: h, prescription: issue.draft.callID, envelope: issue.draft.envelope, issue: issue.tx)
    }()

    /// A fill of the issued prescription by P's pharmacist.
    static func fillDraft(_ h: inout Harness, _ serials: [String] = ["S006"], salt: UInt8 = 0x21,
                          by keys: IdentityKeys = W.pharmacist, for organizations: [IdentityID] = collection) -> EndorsedDraft {
        h.endorsedDraft(keys, PrescriptionContract.Fill(prescription: issued.prescription, units: W.sgtins(W.g1, serials)),
                        for: organizations, salt: salt)
    }

    static func expectSameSharedPart(_ run: (holder: BlockExecution, outsider: BlockExecution), _ what: String,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.holder.results == run.outsider.results, "\(what)", sourceLocation: sourceLocation)
        #expect(run.holder.writeSet == run.outsider.writeSet, "\(what)", sourceLocation: sourceLocation)
        #expect(!run.holder.writeSet.entries.contains { $0.key.hasPrefix(PrivateEnvelope.keyPrefix) }, "\(what)", sourceLocation: sourceLocation)
        #expect(run.outsider.privateResults.isEmpty, "\(what)", sourceLocation: sourceLocation)
        #expect(run.outsider.privateWrites.entries.isEmpty, "\(what)", sourceLocation: sourceLocation)
    }

    static func contains(_ writeSet: WriteSet, _ key: String, _ value: [UInt8]?) -> Bool {
        writeSet.entries.contains { $0.key == key && $0.value == value }
    }

    // MARK: 1. Happy path: a private issue, then a private fill, on a collection node and an outsider

    @Test func privateIssueAndFillGiveTheSameSharedResultsOnEveryNode() throws {
        var h = Self.base
        var outsider = h.state
        #expect(!outsider.values.keys.contains { $0.hasPrefix(PrivateEnvelope.keyPrefix) })

        // rx.issue, privately to the hospital and P.
        let issue = try h.endorsedCall(H.doctor, Self.issueCall(), endorsers: Self.endorsers)
        let envelope = issue.draft.envelope
        let id = issue.draft.callID
        #expect(id == EndorsedCall.callID(chainId: H.chainId, sender: H.doctor.derivedID, sequence: issue.tx.body.sequence, envelope: envelope))
        #expect(id != issue.tx.id && id != issue.draft.provisional.id)
        #expect(h.executor.privateEnvelope(issue.tx) == envelope)
        #expect(EndorsedCall(args: issue.tx.body.args)?.proposal == issue.proposal)
        let namespace = envelope.keyNamespace
        let rxKey = namespace + Self.prescriptionKey(id)
        #expect(issue.proposal.height == h.height && issue.proposal.timeMs == h.nextTimeMs)
        #expect(issue.proposal.writes.isEmpty, "an issue writes nothing shared: \(issue.proposal.writes.map(\.key))")
        #expect(issue.proposal.privateKeys == [Self.hash(rxKey)])
        #expect(!issue.proposal.reads.contains { $0.name.hasPrefix(PrivateEnvelope.keyPrefix) })

        let issued = h.runBoth([issue.tx], payloads: issue.payloads, outsider: &outsider)
        Self.expectSameSharedPart(issued, "issue")
        #expect(issued.holder.results == [.accepted], "\(issued.holder.results.map(\.message))")
        #expect(issued.holder.privateResults == [issue.tx.id: .accepted], "\(issued.holder.privateResults.values.map(\.message))")
        #expect(Set(issued.holder.writeSet.entries.map(\.key))
                == [H.sequenceKey(H.doctor.derivedID), EndorsedCall.versionKey(Self.hash(rxKey))])
        #expect(Self.contains(issued.holder.writeSet, EndorsedCall.versionKey(Self.hash(rxKey)), issue.tx.id.bytes))
        #expect(Set(issued.holder.privateWrites.entries.map(\.key)) == [rxKey, namespace + BlockExecutor.privateResultKey(issue.tx.id)])

        let inside = try #require(PrescriptionContract.prescription(id, in: h.collectionState(envelope)))
        #expect(inside.prescription.id == id && inside.prescription.prescriber == H.doctor.derivedID)
        #expect(inside.prescription.organization == Self.hospitalOrg && inside.prescription.pharmacies == [Self.pharmacyOrg])
        #expect(inside.prescription.collection == Set(Self.collection) && inside.fillsUsed == 0 && inside.status == .active)
        #expect(PrescriptionContract.prescription(id, in: h.state) == nil)
        #expect(PrescriptionContract.prescription(id, in: outsider) == nil)

        // rx.fill by P's pharmacist with S006, which P owns.
        let fill = try h.endorsedCall(W.pharmacist, PrescriptionContract.Fill(prescription: id, units: W.sgtins(W.g1, ["S006"])),
                                      endorsers: Self.endorsers, salt: 0x11)
        #expect(fill.draft.envelope.keyNamespace == namespace)
        let unitKey = Self.unitKey("S006")
        let fillKey = namespace + Self.fillKey(id, 1)
        #expect(fill.proposal.writes.map(\.key) == [unitKey])
        #expect(Set(fill.proposal.privateKeys) == [Self.hash(rxKey), Self.hash(fillKey)])
        // It read the prescription as the issue left it, and the unit as shared state holds it.
        #expect(fill.proposal.reads.contains(Proposal.Read(name: Proposal.privateReadPrefix + Self.hash(rxKey).hex, digest: issue.tx.id)))
        #expect(fill.proposal.reads.contains(Proposal.Read(name: unitKey, digest: outsider.value(for: unitKey).map { Hash256.sha256($0) })))
        #expect(!fill.proposal.reads.contains { $0.name.hasPrefix(PrivateEnvelope.keyPrefix) })
        // A node outside the collection cannot simulate it: it does not hold the prescription.
        let blind = h.executor.simulate(fill.draft.provisional, envelope: fill.draft.envelope, payload: fill.draft.payload, state: outsider,
                                        height: h.height, timeMs: h.nextTimeMs)
        #expect(throws: Rejection.self) { try blind.get() }
        if case .failure(let rejection) = blind { #expect(rejection.code == .unknownPrescription, "\(rejection)") }

        let filled = h.runBoth([fill.tx], payloads: fill.payloads, outsider: &outsider)
        Self.expectSameSharedPart(filled, "fill")
        #expect(filled.holder.results == [.accepted], "\(filled.holder.results.map(\.message))")
        #expect(filled.holder.privateResults == [fill.tx.id: .accepted], "\(filled.holder.privateResults.values.map(\.message))")
        let versions = [EndorsedCall.versionKey(Self.hash(rxKey)), EndorsedCall.versionKey(Self.hash(fillKey))]
        #expect(Set(filled.holder.writeSet.entries.map(\.key)) == Set([H.sequenceKey(W.pharmacist.derivedID), unitKey] + versions))
        for key in versions { #expect(Self.contains(filled.holder.writeSet, key, fill.tx.id.bytes), "\(key)") }
        #expect(Self.contains(filled.holder.writeSet, unitKey, fill.proposal.writes[0].value))
        #expect(Set(filled.holder.privateWrites.entries.map(\.key))
                == [rxKey, fillKey, namespace + BlockExecutor.privateResultKey(fill.tx.id)])

        // The unit is dispensed in shared state on both nodes, which hold the same shared state.
        for state in [h.state, outsider] {
            let unit = SupplyChainContract.unit(W.g1, "S006", atMs: h.nextTimeMs, in: state)
            #expect(unit.storedStatus == .dispensed && unit.owner == Self.pharmacyOrg, "\(unit)")
        }
        #expect(h.state.values.filter { !$0.key.hasPrefix(PrivateEnvelope.keyPrefix) } == outsider.values)
        let view = try #require(PrescriptionContract.prescription(id, in: h.collectionState(envelope)))
        #expect(view.fillsUsed == 1 && view.fillsRemaining == 2)
        #expect(view.fills.map(\.units) == [W.sgtins(W.g1, ["S006"])] && view.fills.first?.pharmacy == Self.pharmacyOrg)
        #expect(view.fills.first?.by == W.pharmacist.derivedID)
    }

    // MARK: 2. What every node refuses at execution

    /// The block under test; `refused` indexes the transaction whose result the row checks.
    struct Block {
        var txs: [VerifiedTransaction]
        var payloads: [Hash256: PrivatePayload]
        var refused: Int = 0
    }

    /// Builds the block on the issued world.
    typealias ExecutionRow = BlockRow<Block>

    /// A fill of S006 simulated now, with its proposal changed by `alter`, signed as `sign` says.
    static func fillBlock(_ h: inout Harness, height: UInt64? = nil, timeMs: Int64? = nil,
                          alter: (Proposal, EndorsedDraft) -> Proposal = { p, _ in p },
                          sign: (Proposal, EndorsedDraft) -> [EndorsedCall.Signature] = { p, d in d.signatures(p, by: endorsers) }) throws -> Block {
        let draft = fillDraft(&h)
        let proposal = alter(try h.simulate(draft, height: height, timeMs: timeMs).get(), draft)
        let tx = h.signEndorsed(draft, proposal, sign(proposal, draft))
        return Block(txs: [tx], payloads: [tx.id: draft.payload])
    }

    /// Two fills of the issued prescription simulated against the same state, both endorsed.
    static func twoFills(_ h: inout Harness) throws -> (Endorsed, Endorsed) {
        let first = fillDraft(&h, ["S006"], salt: 1), second = fillDraft(&h, ["S001"], salt: 2)
        let p1 = try h.simulate(first).get(), p2 = try h.simulate(second).get()
        return (Endorsed(draft: first, proposal: p1, tx: h.signEndorsed(first, p1, first.signatures(p1, by: endorsers))),
                Endorsed(draft: second, proposal: p2, tx: h.signEndorsed(second, p2, second.signatures(p2, by: endorsers))))
    }

    static let executionRows: [ExecutionRow] = [
        ExecutionRow("endorsed by every organization named", .accepted) { h in try fillBlock(&h) },
        ExecutionRow("the pharmacy's signature missing", .badEndorsement) { h in
            try fillBlock(&h, sign: { p, d in d.signatures(p, by: [H.hospital]) })
        },
        ExecutionRow("no signature at all", .badEndorsement) { h in try fillBlock(&h, sign: { _, _ in [] }) },
        ExecutionRow("the pharmacy's signature made with another pharmacy's key", .badEndorsement) { h in
            try fillBlock(&h, sign: { p, d in
                d.signatures(p, by: [H.hospital]) + [EndorsedCall.Signature(organization: pharmacyOrg, bytes: W.p2.sign(d.message(p)))]
            })
        },
        ExecutionRow("the hospital's signature made with its doctor's key", .badEndorsement) { h in
            try fillBlock(&h, sign: { p, d in
                d.signatures(p, by: [W.p]) + [EndorsedCall.Signature(organization: hospitalOrg, bytes: H.doctor.sign(d.message(p)))]
            })
        },
        ExecutionRow("signatures over another sequence of the sender", .badEndorsement) { h in
            try fillBlock(&h, sign: { p, d in
                endorsers.map { EndorsedCall.Signature(organization: $0.derivedID, bytes: $0.sign(d.message(p, sequence: d.sequence + 1))) }
            })
        },
        ExecutionRow("signatures over another chain", .badEndorsement) { h in
            try fillBlock(&h, sign: { p, d in
                endorsers.map { EndorsedCall.Signature(organization: $0.derivedID, bytes: $0.sign(d.message(p, chainId: "other-chain"))) }
            })
        },
        ExecutionRow("signatures over the proposal before its time was changed", .badEndorsement) { h in
            let draft = fillDraft(&h)
            let signed = try h.simulate(draft).get()
            let tx = h.signEndorsed(draft, signed.replacing(timeMs: signed.timeMs - 1), draft.signatures(signed, by: endorsers))
            return Block(txs: [tx], payloads: [tx.id: draft.payload])
        },
        ExecutionRow("an extra signer the call does not name", .badEndorsement) { h in
            try fillBlock(&h, sign: { p, d in d.signatures(p, by: endorsers + [W.p2]) })
        },
        ExecutionRow("a shared write under system/ (the sender's sequence)", .badEndorsement) { h in
            try fillBlock(&h, alter: { p, _ in
                p.replacing(writes: p.writes + [Proposal.Write(key: H.sequenceKey(W.pharmacist.derivedID), value: CanonicalValue.int(99).encoded)])
            })
        },
        ExecutionRow("a shared write under system/ (a private key's version)", .badEndorsement) { h in
            try fillBlock(&h, alter: { p, _ in
                p.replacing(writes: p.writes + [Proposal.Write(key: EndorsedCall.versionKey(Hash256.sha256([9])), value: nil)])
            })
        },
        ExecutionRow("a shared write under private/ (the prescription)", .badEndorsement) { h in
            try fillBlock(&h, alter: { p, d in
                p.replacing(writes: p.writes + [Proposal.Write(key: d.envelope.keyNamespace + prescriptionKey(issued.prescription),
                                                               value: CanonicalValue.int(1).encoded)])
            })
        },
        ExecutionRow("a shared delete under private/ of another collection", .badEndorsement) { h in
            try fillBlock(&h, alter: { p, _ in
                p.replacing(writes: p.writes + [Proposal.Write(key: "private/" + Hash256.zero.hex + "/rx/x", value: nil)])
            })
        },
        ExecutionRow("a read named by a private/ key", .badEndorsement) { h in
            try fillBlock(&h, alter: { p, d in
                p.replacing(reads: p.reads + [Proposal.Read(name: d.envelope.keyNamespace + prescriptionKey(issued.prescription), digest: nil)])
            })
        },
        ExecutionRow("a private read naming no key hash", .badEndorsement) { h in
            try fillBlock(&h, alter: { p, _ in p.replacing(reads: p.reads + [Proposal.Read(name: "#not-a-hash", digest: nil)]) })
        },
        ExecutionRow("executed 60 s after the simulation", .accepted) { h in
            let block = try fillBlock(&h)
            h.timeBaseMs += EndorsedCall.lifetimeMs
            return block
        },
        ExecutionRow("executed 60.001 s after the simulation", .endorsementExpired) { h in
            let block = try fillBlock(&h)
            h.timeBaseMs += EndorsedCall.lifetimeMs + 1
            return block
        },
        ExecutionRow("simulated for 60 s after the block's time", .accepted) { h in
            try fillBlock(&h, timeMs: h.nextTimeMs + EndorsedCall.lifetimeMs)
        },
        ExecutionRow("simulated for 60.001 s after the block's time", .endorsementExpired) { h in
            try fillBlock(&h, timeMs: h.nextTimeMs + EndorsedCall.lifetimeMs + 1)
        },
        ExecutionRow("simulated for the height after the block's", .endorsementExpired) { h in
            try fillBlock(&h, height: h.height + 1)
        },
        ExecutionRow("simulated a block earlier, nothing it read changed since", .accepted) { h in
            let block = try fillBlock(&h)
            #expect(h.run([h.anchor(H.hospital, "unrelated")]) == [.accepted])
            return block
        },
        ExecutionRow("a second fill simulated against the same state, in the same block", .readConflict) { h in
            let (first, second) = try twoFills(&h)
            return Block(txs: [first.tx, second.tx], payloads: first.payloads.merging(second.payloads) { a, _ in a }, refused: 1)
        },
        ExecutionRow("a second fill simulated against the same state, in the next block", .readConflict) { h in
            let (first, second) = try twoFills(&h)
            let committed = h.runHolding([first.tx], payloads: first.payloads)
            #expect(committed.results == [.accepted] && committed.privateResults[first.tx.id] == .accepted)
            return Block(txs: [second.tx], payloads: second.payloads)
        },
        ExecutionRow("the unit shipped away after the simulation", .readConflict) { h in
            let block = try fillBlock(&h)
            #expect(h.run([h.supplyShip(W.p, to: otherPharmacyOrg, ["S006"])]) == [.accepted])
            return block
        },
        ExecutionRow("the prescription cancelled after the simulation", .readConflict) { h in
            let block = try fillBlock(&h)
            let cancel = try h.endorsedCall(H.doctor, PrescriptionContract.Cancel(prescription: issued.prescription), endorsers: endorsers)
            let cancelled = h.runHolding([cancel.tx], payloads: cancel.payloads)
            #expect(cancelled.results == [.accepted] && cancelled.privateResults[cancel.tx.id] == .accepted)
            return block
        },
        ExecutionRow("a shared read's digest not what the state held", .readConflict) { h in
            try fillBlock(&h, alter: { p, _ in
                p.replacing(reads: p.reads.map { $0.name == unitKey("S006") ? Proposal.Read(name: $0.name, digest: Hash256.sha256([1])) : $0 })
            })
        },
    ]

    @Test func executionRowsAreDistinct() { #expect(Set(Self.executionRows.map(\.description)).count == Self.executionRows.count) }

    @Test(arguments: executionRows)
    func everyNodeChecksTheEndorsement(_ row: ExecutionRow) throws {
        var h = Self.issued.h
        let block = try row.make(&h)
        let tx = block.txs[block.refused]
        #expect(h.executor.privateEnvelope(tx) != nil, "\(row): the call parses as endorsed")
        let holder = h.executeNext(block.txs, payloads: block.payloads)
        let third = h.executeNext(block.txs, payloads: [:])
        Self.expectSameSharedPart((holder, third), row.description)
        let result = holder.results[block.refused]
        #expect(result.code == row.expected.rawValue, "\(row): \(result.code) \(result.message)")
        if row.expected == .accepted {
            #expect(holder.privateResults[tx.id] == .accepted, "\(row): \(holder.privateResults[tx.id]?.message ?? "none")")
            #expect(holder.writeSet.entries.contains { $0.key == Self.unitKey("S006") }, "\(row)")
        } else {
            #expect(!result.message.isEmpty, "\(row)")
            // Refused on every node alike: no private part runs, nothing but the sequence is written.
            #expect(holder.privateResults[tx.id] == nil, "\(row)")
            if block.txs.count == 1 {
                #expect(holder.writeSet.entries.map(\.key) == [H.sequenceKey(tx.body.sender)], "\(row): \(holder.writeSet.entries.map(\.key))")
                #expect(holder.privateWrites.entries.isEmpty, "\(row): \(holder.privateWrites.entries.map(\.key))")
            }
        }
        // The sequence is consumed either way: the sender's next one is accepted.
        h.runHolding(block.txs, payloads: block.payloads)
        #expect(BlockExecutor.lastSequence(of: tx.body.sender, in: h.state) == tx.body.sequence, "\(row)")
        let next = h.supplyVerify(W.pharmacist, "S016")
        #expect(next.body.sequence == tx.body.sequence + 1)
        let nextResult = h.run([next])
        #expect(nextResult == [.accepted], "\(row): \(nextResult.map(\.message))")
    }

    // MARK: 3. What the simulation refuses

    struct SimulationRow: CustomStringConvertible, Sendable {
        let description: String
        /// Nil: a proposal.
        let expected: ResultCode?
        let make: @Sendable (inout Harness) -> EndorsedDraft
        init(_ description: String, _ expected: ResultCode?, _ make: @escaping @Sendable (inout Harness) -> EndorsedDraft) {
            (self.description, self.expected, self.make) = (description, expected, make)
        }
    }

    static let simulationRows: [SimulationRow] = [
        SimulationRow("a fill by the pharmacy the prescription names", nil) { h in fillDraft(&h) },
        SimulationRow("a fill by the hospital's pharmacist: the prescription names only P", .notPharmacy) { h in
            fillDraft(&h, by: W.hospitalPharmacist)
        },
        SimulationRow("a fill by another pharmacy, the envelope leaving it out", .badCollection) { h in fillDraft(&h, by: W.pharmacist2) },
        // Another set of organizations is another collection, whose namespace holds no such prescription.
        SimulationRow("a fill by another pharmacy, the envelope adding it", .unknownPrescription) { h in
            fillDraft(&h, by: W.pharmacist2, for: collection + [otherPharmacyOrg])
        },
        SimulationRow("a fill, the envelope leaving out the pharmacy", .badCollection) { h in fillDraft(&h, for: [hospitalOrg]) },
        SimulationRow("a fill with a unit another pharmacy owns", .notOwner) { h in fillDraft(&h, ["S010"]) },
        SimulationRow("a fill of two units where one is prescribed", .wrongQuantity) { h in fillDraft(&h, ["S006", "S001"]) },
        SimulationRow("a fill of a prescription issued in the clear", .unknownPrescription) { h in
            h.endorsedDraft(W.pharmacist, PrescriptionContract.Fill(prescription: W.shared.rxOpen, units: W.sgtins(W.g1, ["S006"])),
                            for: collection)
        },
        SimulationRow("a private issue naming its pharmacy", nil) { h in h.endorsedDraft(H.doctor, issueCall(), for: collection) },
        SimulationRow("a private issue without pharmacies", .wrongCollection) { h in
            h.endorsedDraft(H.doctor, issueCall(pharmacies: nil), for: collection)
        },
        SimulationRow("a private issue, the envelope leaving out the pharmacy", .wrongCollection) { h in
            h.endorsedDraft(H.doctor, issueCall(), for: [hospitalOrg])
        },
        SimulationRow("a private issue, the envelope adding another pharmacy", .wrongCollection) { h in
            h.endorsedDraft(H.doctor, issueCall(), for: collection + [otherPharmacyOrg])
        },
        SimulationRow("a private issue naming the payer as its pharmacy", .notPharmacy) { h in
            h.endorsedDraft(H.doctor, issueCall(pharmacies: [payerOrg]), for: [hospitalOrg, payerOrg])
        },
        SimulationRow("a private issue by the clinic's doctor for the hospital's collection", .badCollection) { h in
            h.endorsedDraft(W.clinicDoctor, issueCall(), for: collection)
        },
        SimulationRow("a cancel by the prescriber", nil) { h in
            h.endorsedDraft(H.doctor, PrescriptionContract.Cancel(prescription: issued.prescription), for: collection)
        },
        SimulationRow("a cancel by the pharmacist", .notIssuer) { h in
            h.endorsedDraft(W.pharmacist, PrescriptionContract.Cancel(prescription: issued.prescription), for: collection)
        },
        SimulationRow("a payload the envelope does not commit to", .badArguments) { h in
            var draft = fillDraft(&h)
            draft.payload = PrivatePayload(args: draft.payload.args, salt: Array(repeating: 0xEE, count: PrivatePayload.saltBytes))
            return draft
        },
        SimulationRow("a method that is not endorsed", .unknownMethod) { h in
            h.endorsedDraft(W.pharmacist, SupplyChainContract.Verify(gtin: W.g1, serial: "S006", lot: nil, expiryMs: nil), for: collection)
        },
    ]

    @Test func simulationRowsAreDistinct() { #expect(Set(Self.simulationRows.map(\.description)).count == Self.simulationRows.count) }

    @Test(arguments: simulationRows)
    func simulationRefusesWhatTheContractRefuses(_ row: SimulationRow) {
        var h = Self.issued.h
        let draft = row.make(&h)
        switch h.simulate(draft) {
        case .success(let proposal):
            #expect(row.expected == nil, "\(row): simulated, expected \(row.expected.map { "\($0)" } ?? "")")
            #expect(!proposal.privateKeys.isEmpty && proposal.height == h.height && proposal.timeMs == h.nextTimeMs, "\(row)")
        case .failure(let rejection):
            #expect(rejection.code == row.expected, "\(row): \(rejection)")
            #expect(!rejection.message.isEmpty, "\(row)")
        }
    }

    // MARK: 4. A collection node whose re-execution differs from what was endorsed

    struct ForgedRow: CustomStringConvertible, Sendable {
        let description: String
        /// Every node's result: shared writes other than the contract's shared rule gives are
        /// refused everywhere (`checkSharedWrites`), whatever the endorsers signed.
        let sharedResult: ResultCode
        /// The collection node's private result, when the shared part is accepted.
        let privateResult: ResultCode
        let alter: @Sendable (Proposal) -> Proposal
        init(_ description: String, shared: ResultCode = .accepted, _ privateResult: ResultCode,
             _ alter: @escaping @Sendable (Proposal) -> Proposal) {
            (self.description, self.sharedResult, self.privateResult, self.alter) = (description, shared, privateResult, alter)
        }
    }

    static let forgedRows: [ForgedRow] = [
        ForgedRow("the proposal as simulated", .accepted) { $0 },
        ForgedRow("a shared write's value altered", shared: .badEndorsement, .badEndorsement) { p in
            p.replacing(writes: p.writes.map { Proposal.Write(key: $0.key, value: CanonicalValue.string("forged").encoded) })
        },
        ForgedRow("an extra shared write", shared: .badEndorsement, .badEndorsement) { p in
            p.replacing(writes: p.writes + [Proposal.Write(key: "anchor/forged", value: CanonicalValue.int(1).encoded)])
        },
        ForgedRow("the unit's write left out", shared: .badEndorsement, .badEndorsement) { p in p.replacing(writes: []) },
        ForgedRow("the private digest altered", .badEndorsement) { p in p.replacing(privateDigest: Hash256.sha256([1])) },
        ForgedRow("the private keys' list altered", .badEndorsement) { p in p.replacing(privateKeys: [Hash256.sha256([9])]) },
    ]

    @Test(arguments: forgedRows)
    func aCollectionNodeKeepsOnlyTheWritesItReproduces(_ row: ForgedRow) throws {
        var h = Self.issued.h
        let draft = Self.fillDraft(&h)
        let simulated = try h.simulate(draft).get()
        let forged = row.alter(simulated)
        #expect((forged == simulated) == (row.privateResult == .accepted), "\(row)")
        // Every organization named signs the forged proposal with its registered key.
        let tx = h.signEndorsed(draft, forged, draft.signatures(forged, by: Self.endorsers))
        let holder = h.executeNext([tx], payloads: [tx.id: draft.payload])
        let third = h.executeNext([tx], payloads: [:])
        Self.expectSameSharedPart((holder, third), row.description)
        if row.sharedResult != .accepted {
            // Refused on every node: only the sequence is consumed, and no node keeps a private part.
            #expect(holder.results.map(\.code) == [row.sharedResult.rawValue], "\(row): \(holder.results.map(\.message))")
            #expect(holder.writeSet.entries.count == 1 && holder.privateWrites.entries.isEmpty && holder.privateResults.isEmpty, "\(row)")
            return
        }

        // The shared part is what the endorsers vouched for, on every node.
        #expect(holder.results == [.accepted], "\(row): \(holder.results.map(\.message))")
        for write in forged.writes { #expect(Self.contains(holder.writeSet, write.key, write.value), "\(row): \(write.key)") }
        for key in forged.privateKeys { #expect(Self.contains(holder.writeSet, EndorsedCall.versionKey(key), tx.id.bytes), "\(row)") }
        #expect(holder.writeSet.entries.count == forged.writes.count + forged.privateKeys.count + 1, "\(row)")

        // The collection node's private part: refused, and nothing of the prescription kept.
        let result = try #require(holder.privateResults[tx.id], "\(row)")
        #expect(result.code == row.privateResult.rawValue, "\(row): \(result.code) \(result.message)")
        let namespace = draft.envelope.keyNamespace
        let privateKeys = Set(holder.privateWrites.entries.map(\.key))
        let resultKey = namespace + BlockExecutor.privateResultKey(tx.id)
        if row.privateResult == .accepted {
            #expect(privateKeys == [namespace + Self.prescriptionKey(Self.issued.prescription),
                                    namespace + Self.fillKey(Self.issued.prescription, 1), resultKey], "\(row)")
        } else {
            #expect(privateKeys == [resultKey], "\(row): only the refusal is kept: \(privateKeys.sorted())")
            h.runHolding([tx], payloads: [tx.id: draft.payload])
            let stored = try #require(h.state.value(for: resultKey))
            #expect(try TransactionResult(decoding: stored).code == ResultCode.badEndorsement.rawValue, "\(row)")
            let view = try #require(PrescriptionContract.prescription(Self.issued.prescription, in: h.collectionState(draft.envelope)))
            #expect(view.fillsUsed == 0 && view.fills.isEmpty, "\(row)")
        }
    }

    // MARK: 5. The arguments' one canonical form

    static let sample: EndorsedCall = {
        let envelope = PrivateEnvelope(commitment: Hash256.sha256([0x42]), organizations: collection)!
        let proposal = Proposal(
            height: 7, timeMs: 1_234,
            reads: [Proposal.Read(name: "supply/unit/b", digest: nil), Proposal.Read(name: "#" + Hash256.sha256([1]).hex, digest: Hash256.sha256([2])),
                    Proposal.Read(name: "membership/identity/x", digest: Hash256.sha256([3]))],
            writes: [Proposal.Write(key: "supply/unit/b", value: nil), Proposal.Write(key: "supply/unit/a", value: [1, 2, 3])],
            privateKeys: [Hash256.sha256([5]), Hash256.sha256([4])], privateDigest: Hash256.sha256([6]))
        let signatures = collection.reversed().enumerated().map { index, id in
            EndorsedCall.Signature(organization: id, bytes: Array(repeating: UInt8(index + 1), count: 64))
        }
        return EndorsedCall(envelope: envelope, proposal: proposal, signatures: signatures)
    }()

    static func sampleArgs(outer change: (inout CanonicalMap) -> Void = { _ in }, endorsed changeEndorsed: (inout CanonicalMap) -> Void = { _ in })
        -> CanonicalValue {
        var outer = sample.args.mapValue!
        var endorsed = outer["endorsed"]!.mapValue!
        changeEndorsed(&endorsed)
        outer["endorsed"] = .map(endorsed)
        change(&outer)
        return .map(outer)
    }

    /// The args with list `key` of the endorsement changed.
    static func sampleArgs(list key: String, _ change: @escaping ([CanonicalValue]) -> [CanonicalValue]) -> CanonicalValue {
        sampleArgs(endorsed: { $0[key] = .list(change($0[key]!.listValue!)) })
    }

    /// An item of a (name, value) pair list with its second element replaced.
    static func second(_ item: CanonicalValue, _ value: CanonicalValue) -> CanonicalValue { .list([item.listValue![0], value]) }
    static func first(_ item: CanonicalValue, _ value: CanonicalValue) -> CanonicalValue { .list([value, item.listValue![1]]) }

    @Test func argumentsRoundTrip() throws {
        let call = Self.sample
        #expect(call.signatures.map(\.organization) == call.envelope.organizations)
        #expect(call.proposal.reads.map(\.name) == ["#" + Hash256.sha256([1]).hex, "membership/identity/x", "supply/unit/b"])
        #expect(call.proposal.writes.map(\.key) == ["supply/unit/a", "supply/unit/b"])
        let args = call.args
        #expect(Set(args.mapValue!.keys) == ["for", "private", "endorsed"])
        #expect(Set(args["endorsed"]!.mapValue!.keys) == ["at", "time", "reads", "writes", "privateKeys", "privateDigest", "by"])
        #expect(EndorsedCall(args: args) == call)
        let decoded = try CanonicalValue(decoding: args.encoded)
        #expect(EndorsedCall(args: decoded) == call)
        #expect(EndorsedCall(args: decoded)?.args == args)
        #expect(PrivateEnvelope(args: .map(["for": args["for"]!, "private": args["private"]!])) == call.envelope)
        // The issued world's real call too.
        let issued = try #require(EndorsedCall(args: Self.issued.issue.body.args))
        #expect(issued.envelope == Self.issued.envelope && issued.args == Self.issued.issue.body.args)
        #expect(issued.signatures.map(\.organization) == Self.issued.envelope.organizations)
        // A plain envelope is not an endorsed call, nor an endorsed call a plain envelope.
        #expect(EndorsedCall(args: call.envelope.args) == nil)
        #expect(PrivateEnvelope(args: args) == nil)
    }

    struct ArgsRow: CustomStringConvertible, Sendable {
        let description: String
        let args: CanonicalValue
        init(_ description: String, _ args: CanonicalValue) { (self.description, self.args) = (description, args) }
    }

    static let refusedArgs: [ArgsRow] = {
        let tooMany = (0...Proposal.entriesMax).map { CanonicalValue.list([.string("k" + String(repeating: "0", count: 5 - String($0).count) + String($0)), .null]) }
        let seventeen = (0..<17).map { Hash256.sha256([0xE0, UInt8($0)]) }.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        return [
            ArgsRow("signatures unsorted", sampleArgs(list: "by") { $0.reversed() }),
            ArgsRow("one organization signing twice", sampleArgs(list: "by") { [$0[0], $0[0]] }),
            ArgsRow("17 signatures", sampleArgs(list: "by") { by in seventeen.map { .list([.bytes($0.bytes), by[0].listValue![1]]) } }),
            ArgsRow("a 63-byte signature", sampleArgs(list: "by") { [second($0[0], .bytes(Array(repeating: 1, count: 63))), $0[1]] }),
            ArgsRow("a 65-byte signature", sampleArgs(list: "by") { [second($0[0], .bytes(Array(repeating: 1, count: 65))), $0[1]] }),
            ArgsRow("a signer's id of 31 bytes", sampleArgs(list: "by") { [first($0[0], .bytes(Array(repeating: 1, count: 31))), $0[1]] }),
            ArgsRow("a signature of three items", sampleArgs(list: "by") { by in by.map { .list($0.listValue! + [.null]) } }),
            ArgsRow("read names repeated", sampleArgs(list: "reads") { [$0[0], $0[0], $0[1], $0[2]] }),
            ArgsRow("reads unsorted", sampleArgs(list: "reads") { $0.reversed() }),
            ArgsRow("a read digest of 31 bytes", sampleArgs(list: "reads") { [second($0[0], .bytes(Array(repeating: 1, count: 31))), $0[1], $0[2]] }),
            ArgsRow("a read digest as a string", sampleArgs(list: "reads") { [second($0[0], .string(Hash256.sha256([2]).hex)), $0[1], $0[2]] }),
            ArgsRow("4,097 reads", sampleArgs(list: "reads") { _ in tooMany }),
            ArgsRow("a key written twice", sampleArgs(list: "writes") { [$0[0], $0[0], $0[1]] }),
            ArgsRow("writes unsorted", sampleArgs(list: "writes") { $0.reversed() }),
            ArgsRow("a written value as a string", sampleArgs(list: "writes") { [second($0[0], .string("x")), $0[1]] }),
            ArgsRow("4,097 writes", sampleArgs(list: "writes") { _ in tooMany }),
            ArgsRow("private keys unsorted", sampleArgs(list: "privateKeys") { $0.reversed() }),
            ArgsRow("a private key repeated", sampleArgs(list: "privateKeys") { [$0[0], $0[0], $0[1]] }),
            ArgsRow("a private key of 31 bytes", sampleArgs(list: "privateKeys") { [.bytes(Array(repeating: 1, count: 31)), $0[1]] }),
            ArgsRow("a private digest of 33 bytes", sampleArgs(endorsed: { $0["privateDigest"] = .bytes(Array(repeating: 1, count: 33)) })),
            ArgsRow("a negative height", sampleArgs(endorsed: { $0["at"] = .int(-1) })),
            ArgsRow("the time as a string", sampleArgs(endorsed: { $0["time"] = .string("1234") })),
            ArgsRow("no signatures entry", sampleArgs(endorsed: { $0["by"] = nil })),
            ArgsRow("an 8th entry in the endorsement", sampleArgs(endorsed: { $0["policy"] = .int(1) })),
            ArgsRow("the reads entry replaced by another name", sampleArgs(endorsed: { $0["reads"] = nil; $0["read"] = .list([]) })),
            ArgsRow("a 4th key in the arguments", sampleArgs(outer: { $0["plan"] = .string("GOLD") })),
            ArgsRow("no endorsement", sampleArgs(outer: { $0["endorsed"] = nil })),
            ArgsRow("the endorsement as a list", sampleArgs(outer: { $0["endorsed"] = .list([]) })),
            ArgsRow("the envelope's organizations unsorted", sampleArgs(outer: { $0["for"] = .list($0["for"]!.listValue!.reversed()) })),
            ArgsRow("no commitment", sampleArgs(outer: { $0["private"] = nil })),
            ArgsRow("a plain private envelope", sample.envelope.args),
        ]
    }()

    @Test func refusedArgsRowsAreDistinct() {
        #expect(Set(Self.refusedArgs.map(\.description)).count == Self.refusedArgs.count)
        for row in Self.refusedArgs { #expect(row.args != Self.sample.args, "\(row)") }
    }

    @Test(arguments: refusedArgs)
    func argumentsRefuseNonCanonicalForms(_ row: ArgsRow) {
        #expect(EndorsedCall(args: row.args) == nil, "\(row)")
    }

    // MARK: Findings of the review of this feature: each failed before its fix

    /// `checkEndorsement` computed `timeMs - proposal.timeMs` in Int64, which trapped for a
    /// proposal time near Int64.min — before any signature check, so any sender of the collection
    /// crashed every node that admitted or executed the call. Now: endorsementExpired.
    @Test(arguments: [Int64.min, Int64.max])
    func aProposalTimeAtTheEndsOfInt64IsRefusedNotATrap(_ timeMs: Int64) throws {
        var h = EndorsedCallTests.issued.h
        let block = try EndorsedCallTests.fillBlock(&h, alter: { p, _ in p.replacing(timeMs: timeMs) }, sign: { _, _ in [] })
        let result = h.executeNext(block.txs, payloads: [:]).results[0]
        #expect(result.code == ResultCode.endorsementExpired.rawValue, "\(result.code) \(result.message)")
        #expect(!EndorsedCall.isWithinLifetime(timeMs, of: 101_000))
    }

    /// The only limit on an endorsement's shared writes was "not under system/ or private/", and the
    /// endorsers are whichever organizations the sender names — one is enough. So pharmacy P alone,
    /// sending an "rx.fill" whose envelope names only P, rewrote any shared key: it took pharmacy
    /// P2's unit S010, or deleted P2's identity. Now every node re-derives a fill's shared writes
    /// (`checkSharedWrites`: the sender's own units, dispensed) and refuses others.
    @Test(arguments: ["another pharmacy's unit", "another organization's identity"])
    func aLoneOrganizationCannotRewriteSharedState(_ target: String) throws {
        var h = Self.issued.h
        let stolenKey = Self.unitKey("S010")
        let write = target == "another pharmacy's unit"
            ? Proposal.Write(key: stolenKey, value: h.state.value(for: Self.unitKey("S006")))
            : Proposal.Write(key: "membership/identity/\(Self.otherPharmacyOrg.hex)", value: nil)
        #expect(h.state.value(for: write.key) != nil)
        let draft = Self.fillDraft(&h, ["S010"], for: [Self.pharmacyOrg])
        let proposal = Proposal(height: h.height, timeMs: h.nextTimeMs, reads: [], writes: [write], privateKeys: [],
                                privateDigest: Proposal.digest(ofPrivateWrites: []))
        let tx = h.signEndorsed(draft, proposal, draft.signatures(proposal, by: [W.p]))
        let execution = h.executeNext([tx], payloads: [:])
        #expect(execution.results.first?.code == ResultCode.badEndorsement.rawValue,
                "\(target): \(execution.results.map { "\($0.code) \($0.message)" })")
        #expect(!execution.writeSet.entries.contains { $0.key == write.key }, "\(target)")
    }
}
