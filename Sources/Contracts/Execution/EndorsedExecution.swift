public import LedgerCore

/// Endorsed private calls: a call whose shared writes depend on private data (a fill marks supply
/// units dispensed after checking them against a private prescription). The collection's nodes
/// simulate it before it is ordered and sign what it read and wrote (`Proposal`); every node then
/// checks the signatures and that nothing it read has changed, and applies the shared writes; the
/// collection's nodes re-execute the payload for the private writes. See docs/architecture.md.
extension BlockExecutor {
    /// What executing an endorsed call's payload read and wrote.
    struct EndorsedOutcome {
        var reads: [Proposal.Read]
        var writes: [Proposal.Write]
        var privateWrites: [(key: String, value: [UInt8]?)]

        /// The proposal to sign. Shared reads go on the chain only when there are shared writes:
        /// every node must check what those depend on. Without any, the collection's nodes
        /// re-executing the payload are the check, and the chain is not told which shared keys a
        /// private call read (a new prescription reads its patient's identity and its product).
        func proposal(height: UInt64, timeMs: Int64) -> Proposal {
            let reads = writes.isEmpty ? reads.filter { $0.name.hasPrefix(Proposal.privateReadPrefix) } : reads
            return Proposal(height: height, timeMs: timeMs, reads: reads, writes: writes,
                     privateKeys: privateWrites.map { Hash256.sha256(Array($0.key.utf8)) },
                     privateDigest: Proposal.digest(ofPrivateWrites: privateWrites))
        }
    }

    /// Simulates an endorsed call against committed state `reader` as of (`height`, `timeMs`):
    /// `tx` is the call as it will be signed, but with `envelope.args` as its arguments (its
    /// endorsement does not exist yet). The proposal the collection's organizations sign, or why
    /// the call would be refused.
    public func simulate(_ tx: VerifiedTransaction, envelope: PrivateEnvelope, payload: PrivatePayload, state reader: any StateReader,
                         height: UInt64, timeMs: Int64) -> Result<Proposal, Rejection> {
        guard payload.commitment == envelope.commitment else {
            return .failure(Rejection(.badArguments, "the payload does not match the envelope's commitment"))
        }
        guard let contract = contract(tx.body.contract), contract.endorsedMethods.contains(tx.body.method) else {
            return .failure(Rejection(.unknownMethod, "\(tx.body.contract).\(tx.body.method) is not an endorsed call"))
        }
        var state = StateView(base: reader)
        do throws(Rejection) {
            try Self.checkCollection(envelope, sender: tx.body.sender, state: state, patientsMay: true)
            let outcome = try executeEndorsed(contract, tx, envelope, payload, height: height, timeMs: timeMs, state: &state)
            return .success(outcome.proposal(height: height, timeMs: timeMs))
        } catch {
            return .failure(error)
        }
    }

    /// Runs the payload with the collection's keys routed to its namespace and every read recorded;
    /// the writes are returned, not kept.
    private func executeEndorsed(_ contract: any Contract, _ tx: VerifiedTransaction, _ envelope: PrivateEnvelope, _ payload: PrivatePayload,
                                 height: UInt64, timeMs: Int64, state: inout StateView) throws(Rejection) -> EndorsedOutcome {
        let recorder = ReadRecorder()
        state.namespace = envelope.keyNamespace
        state.privatePrefixes = contract.privateKeyPrefixes
        state.recorder = recorder
        defer {
            state.discardTransaction()
            (state.namespace, state.privatePrefixes, state.recorder) = (nil, nil, nil)
        }
        let id = EndorsedCall.callID(chainId: chainId, sender: tx.body.sender, sequence: tx.body.sequence, envelope: envelope)
        let call = ContractCall(transaction: tx, height: height, timeMs: timeMs, payload: payload, envelope: envelope, id: id)
        let entitled = try contract.privateOrganizations(call, state: state)
        guard entitled == Set(envelope.organizations) else {
            throw Rejection(.wrongCollection, "\(tx.body.contract).\(tx.body.method)'s payload goes to exactly the organizations "
                            + entitled.map(\.hex).sorted().joined(separator: ", "))
        }
        try contract.execute(call, state: &state)
        var outcome = EndorsedOutcome(reads: recorder.entries, writes: [], privateWrites: [])
        for (key, value) in state.pendingWrites {
            if key.hasPrefix(envelope.keyNamespace) { outcome.privateWrites.append((key, value)) } else {
                outcome.writes.append(Proposal.Write(key: key, value: value))
            }
        }
        return outcome
    }

    /// Every node: the shared part of an endorsed call. The collection's nodes (holding `payload`)
    /// also re-execute it and keep its private writes when they are the ones endorsed.
    func runEndorsed(_ contract: any Contract, _ tx: VerifiedTransaction, _ endorsed: EndorsedCall, state: inout StateView,
                     height: UInt64, timeMs: Int64, payload: PrivatePayload?) -> (shared: TransactionResult, private: TransactionResult?) {
        let proposal = endorsed.proposal
        var privateResult: TransactionResult?
        var privateWrites: [(key: String, value: [UInt8]?)] = []
        do throws(Rejection) {
            try Self.checkCollection(endorsed.envelope, sender: tx.body.sender, state: state, patientsMay: true)
            try checkEndorsement(endorsed, tx, state: state, height: height, timeMs: timeMs)
            try contract.checkSharedWrites(ContractCall(transaction: tx, height: proposal.height, timeMs: proposal.timeMs), proposal.writes,
                                           state: state)
            if let payload, payload.commitment == endorsed.envelope.commitment {
                do throws(Rejection) {
                    let outcome = try executeEndorsed(contract, tx, endorsed.envelope, payload, height: proposal.height, timeMs: proposal.timeMs,
                                                      state: &state)
                    let again = outcome.proposal(height: proposal.height, timeMs: proposal.timeMs)
                    guard again.writes == proposal.writes, again.privateDigest == proposal.privateDigest,
                          again.privateKeys == proposal.privateKeys else {
                        throw Rejection(.badEndorsement, "executed here, the call writes other values than its organizations endorsed")
                    }
                    (privateWrites, privateResult) = (outcome.privateWrites, .accepted)
                } catch {
                    privateResult = error.result
                }
            }
        } catch {
            state.set(Self.sequenceKey(tx.body.sender), .int(Int64(tx.body.sequence)))
            state.commitTransaction()
            return (error.result, nil)
        }
        for write in proposal.writes {
            if let value = write.value { state.set(write.key, value) } else { state.delete(write.key) }
        }
        for key in proposal.privateKeys { state.set(EndorsedCall.versionKey(key), tx.id.bytes) }
        state.set(Self.sequenceKey(tx.body.sender), .int(Int64(tx.body.sequence)))
        for write in privateWrites {
            if let value = write.value { state.set(write.key, value) } else { state.delete(write.key) }
        }
        if let privateResult { state.set(endorsed.envelope.keyNamespace + Self.privateResultKey(tx.id), privateResult.encoded) }
        state.commitTransaction()
        return (.accepted, privateResult)
    }

    /// Every named organization signed, within the endorsement's lifetime, writing only what an
    /// endorsed call may, and nothing it read has changed since.
    private func checkEndorsement(_ endorsed: EndorsedCall, _ tx: VerifiedTransaction, state: StateView, height: UInt64, timeMs: Int64)
        throws(Rejection) {
        let proposal = endorsed.proposal
        // Without subtracting: a proposal's time is any Int64 until it is checked here.
        guard proposal.height <= height, EndorsedCall.isWithinLifetime(proposal.timeMs, of: timeMs) else {
            throw Rejection(.endorsementExpired, "simulated for height \(proposal.height) at \(proposal.timeMs) ms; "
                            + "executed at height \(height), \(timeMs) ms (at most \(EndorsedCall.lifetimeMs) ms apart)")
        }
        for write in proposal.writes where write.key.hasPrefix(PrivateEnvelope.keyPrefix) || write.key.hasPrefix("system/") {
            throw Rejection(.badEndorsement, "an endorsed call does not write \(write.key) in shared state")
        }
        let message = EndorsedCall.message(chainId: chainId, sender: tx.body.sender, sequence: tx.body.sequence, contract: tx.body.contract,
                                           method: tx.body.method, envelope: endorsed.envelope, proposal: proposal)
        guard endorsed.signatures.map(\.organization) == endorsed.envelope.organizations else {
            throw Rejection(.badEndorsement, "every organization the call names signs its endorsement, and no other")
        }
        for signature in endorsed.signatures {
            guard let organization = Directory.identity(signature.organization, in: state),
                  organization.signingKey.isValidSignature(signature.bytes, for: message) else {
                throw Rejection(.badEndorsement, "the endorsement of \(signature.organization.hex) does not verify with its registered key")
            }
        }
        for read in proposal.reads {
            let current: Hash256?
            if read.name.hasPrefix(Proposal.privateReadPrefix) {
                guard let key = Hash256(hex: String(read.name.dropFirst(Proposal.privateReadPrefix.count))) else {
                    throw Rejection(.badEndorsement, "read \(read.name) names no private key")
                }
                current = state.get(EndorsedCall.versionKey(key)).flatMap(Hash256.init(bytes:))
            } else {
                guard !read.name.hasPrefix(PrivateEnvelope.keyPrefix) else { throw Rejection(.badEndorsement, "read \(read.name) is not shared") }
                current = state.get(read.name).map { Hash256.sha256($0) }
            }
            guard current == read.digest else {
                throw Rejection(.readConflict, "\(read.name) changed after the call was simulated; simulate and endorse it again")
            }
        }
    }
}
