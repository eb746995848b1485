import Contracts
public import LedgerCore
public import Storage

/// What a successful full-chain verification covered.
public struct ChainAuditReport: Sendable {
    public let chainId: String
    public let height: UInt64
    public let headHash: Hash256
    public let transactions: UInt64
    public let logRoot: Hash256
    public let stateEntries: Int
    public let logNodes: Int
    /// The checkpoint snapshot the store began with, if it did: verified from there.
    public var base: SnapshotBase? = nil
}

/// Re-verifies everything a store holds: the chain itself (`ChainVerifier`: links, signatures,
/// roots, re-execution to the same results and state roots), and that the store's derived tables
/// (transaction index, log nodes, current state) agree with it. Stops at the first mismatch.
public enum ChainAudit {
    /// Verifies the whole store; `progress` is called after each block with (height, head height).
    /// A store installed from a checkpoint snapshot is verified from that snapshot, which `snapshots`
    /// must still hold (its digest is the one the store began with): its frames are checked, its
    /// state replayed from, and every block after it verified as usual.
    public static func run(store: any LedgerStore, snapshots: (any SnapshotArchive)? = nil,
                           progress: (UInt64, UInt64) -> Void = { _, _ in }) throws -> Result<ChainAuditReport, ChainVerificationError> {
        guard let head = try store.head() else { throw NodeError.storeHasNoGenesis }
        guard let genesis = try store.rawBlock(height: 0), let genesisHeader = try? BlockHeader(decoding: genesis.headerBytes) else {
            return .failure(ChainVerificationError(.malformedHeader, height: 0, detail: "genesis block is missing or unreadable"))
        }
        let chainId = genesisHeader.chainId
        let executor = BlockExecutor.standard(chainId: chainId)
        let payloadStore = store as? any PrivatePayloadStore
        // The private calls whose payloads this node holds are replayed with them: the store's
        // private state must be exactly what they give.
        let payloads: @Sendable ([VerifiedTransaction]) -> [Hash256: PrivatePayload] = { transactions in
            let envelopes = transactions.compactMap { tx in executor.privateEnvelope(tx).map { (tx.id, $0) } }
            guard !envelopes.isEmpty, let stored = try? payloadStore?.privatePayloads(envelopes.map(\.0)) else { return [:] }
            var payloads: [Hash256: PrivatePayload] = [:]
            for (id, envelope) in envelopes { payloads[id] = stored[id].flatMap { try? envelope.open($0) } }
            return payloads
        }
        var leafHashes: [Hash256] = []
        var ids: [Hash256] = []
        /// Height of each log index's block, and each height's first log index.
        var heights: [UInt64] = []
        var firstIndex: [UInt64: UInt64] = [:]
        var verifier: ChainVerifier<ContractReplayer>
        var from: UInt64 = 0
        if let base = try (store as? any SnapshotStore)?.snapshotBase() {
            switch try Self.snapshotStart(base, store: store, snapshots: snapshots, chainId: chainId, executor: executor, payloads: payloads) {
            case .failure(let error): return .failure(error)
            case .success(let start):
                verifier = start.verifier
                (leafHashes, ids, heights) = (start.leafHashes, start.ids, start.heights)
                for (index, height) in heights.enumerated() where firstIndex[height] == nil { firstIndex[height] = UInt64(index) }
                from = base.height + 1
            }
        } else {
            verifier = ChainVerifier(chainId: chainId, replayer: ContractReplayer(executor: executor, payloads: payloads))
        }
        var lastHash = verifier.lastHeader?.hash ?? .zero
        if from <= head.height {
            for height in from...head.height {
                guard let raw = try store.rawBlock(height: height) else {
                    return .failure(ChainVerificationError(.heightGap, height: height, detail: "block is missing from the store"))
                }
                let verified: VerifiedBlock
                do { verified = try verifier.verify(raw) } catch { return .failure(error) }
                firstIndex[height] = UInt64(leafHashes.count)
                for tx in verified.block.transactions {
                    leafHashes.append(MerkleHashing.leafHash(tx.bytes))
                    ids.append(tx.id)
                    heights.append(height)
                }
                lastHash = verified.hash
                progress(height, head.height)
            }
        }
        func heightOf(logIndex: UInt64) -> UInt64 { Int(logIndex) < heights.count ? heights[Int(logIndex)] : head.height }
        func mismatch(_ logIndex: UInt64, _ detail: String) -> ChainVerificationError {
            let height = heightOf(logIndex: logIndex)
            return ChainVerificationError(.storeMismatch, height: height, transactionIndex: Int(logIndex - (firstIndex[height] ?? logIndex)),
                                          transactionID: ids[Int(logIndex)], detail: detail)
        }

        // The transaction index: ids and leaf hashes serve lookups and proofs.
        var entries = 0
        var indexFailure: ChainVerificationError?
        try store.forEachTransactionEntry { logIndex, id, leaf, height in
            guard indexFailure == nil else { return }
            guard logIndex == UInt64(entries), Int(logIndex) < ids.count else {
                indexFailure = ChainVerificationError(.storeMismatch, height: head.height, detail: "transaction index has an entry at log index \(logIndex) out of place")
                return
            }
            if id != ids[Int(logIndex)].bytes { indexFailure = mismatch(logIndex, "stored transaction id differs from the hash of its bytes") }
            else if leaf != leafHashes[Int(logIndex)].bytes { indexFailure = mismatch(logIndex, "stored leaf hash differs from the hash of its bytes") }
            else if height != heightOf(logIndex: logIndex) { indexFailure = mismatch(logIndex, "stored block height \(height) of the transaction is wrong") }
            entries += 1
        }
        if let indexFailure { return .failure(indexFailure) }
        guard entries == ids.count else {
            return .failure(ChainVerificationError(.storeMismatch, height: head.height, detail: "transaction index has \(entries) entries; the chain has \(ids.count)"))
        }

        // Log nodes: recompute every perfect subtree and compare, level by level.
        var levels: [[Hash256]] = [leafHashes]
        while levels.last!.count >= 2 {
            let below = levels.last!
            levels.append(stride(from: 0, to: below.count - 1, by: 2).map { MerkleHashing.nodeHash(below[$0], below[$0 + 1]) })
        }
        var nodeCount = 0
        var nodeFailure: ChainVerificationError?
        try store.forEachLogNode { node in
            guard nodeFailure == nil else { return }
            nodeCount += 1
            guard node.level >= 1, node.level < levels.count, node.index < UInt64(levels[node.level].count) else {
                nodeFailure = ChainVerificationError(.storeMismatch, height: head.height, detail: "unexpected log node level \(node.level) index \(node.index)")
                return
            }
            if levels[node.level][Int(node.index)] != node.hash {
                let lastLeaf = (node.index + 1) << node.level - 1
                nodeFailure = mismatch(lastLeaf, "stored log node level \(node.level) index \(node.index) is wrong")
            }
        }
        if let nodeFailure { return .failure(nodeFailure) }
        let expectedNodes = levels.dropFirst().reduce(0) { $0 + $1.count }
        guard nodeCount == expectedNodes else {
            return .failure(ChainVerificationError(.storeMismatch, height: head.height, detail: "store holds \(nodeCount) log nodes; the log has \(expectedNodes)"))
        }

        // Current state must be exactly the replayed state.
        let replayed = verifier.replayer.state.values
        let lastWrite = verifier.replayer.lastWriteHeight
        var seen = 0
        var stateFailure: ChainVerificationError?
        try store.forEachState { key, value, storedHeight in
            guard stateFailure == nil else { return }
            seen += 1
            guard let expected = replayed[key] else {
                stateFailure = ChainVerificationError(.storeMismatch, height: storedHeight, detail: "state key \(key) exists in the store but not in the replayed chain")
                return
            }
            if expected != value {
                stateFailure = ChainVerificationError(.storeMismatch, height: lastWrite[key] ?? storedHeight, detail: "state value of \(key) differs from the replayed chain")
            }
        }
        if let stateFailure { return .failure(stateFailure) }
        if seen != replayed.count, let missing = replayed.keys.sorted().first(where: { (try? store.state($0)) == nil }) {
            return .failure(ChainVerificationError(.storeMismatch, height: lastWrite[missing] ?? head.height, detail: "state key \(missing) is missing from the store"))
        }
        guard let last = verifier.lastHeader, last.height == head.height else {
            return .failure(ChainVerificationError(.storeMismatch, height: head.height, detail: "head block changed during verification"))
        }
        return .success(ChainAuditReport(chainId: chainId, height: last.height, headHash: lastHash, transactions: last.logSize,
                                         logRoot: last.logRoot, stateEntries: replayed.count, logNodes: nodeCount,
                                         base: try (store as? any SnapshotStore)?.snapshotBase()))
    }

    private struct SnapshotStart {
        let verifier: ChainVerifier<ContractReplayer>
        let leafHashes: [Hash256]
        let ids: [Hash256]
        let heights: [UInt64]
    }

    /// The verifier's start for a store installed from the snapshot `base`: the snapshot, read
    /// again from `snapshots` and checked, gives the state, the transaction index and the log.
    private static func snapshotStart(_ base: SnapshotBase, store: any LedgerStore, snapshots: (any SnapshotArchive)?, chainId: String,
                                      executor: BlockExecutor, payloads: @escaping @Sendable ([VerifiedTransaction]) -> [Hash256: PrivatePayload]) throws
        -> Result<SnapshotStart, ChainVerificationError> {
        func fail(_ detail: String) -> Result<SnapshotStart, ChainVerificationError> {
            .failure(ChainVerificationError(.heightGap, height: base.height,
                                            detail: "the store began at the checkpoint snapshot at height \(base.height) (\(base.digest.hex)): \(detail)"))
        }
        guard let header = try store.header(height: base.height) else { return fail("its block is not in the store") }
        guard let snapshots, (try? snapshots.heights().contains(base.height)) == true, let held = try? snapshots.digest(height: base.height) else {
            return fail("the snapshot is not in the node's snapshots directory, so the state it began with cannot be checked again")
        }
        guard held.digest == base.digest else { return fail("the snapshot file hashes to \(held.digest.hex), not the digest the store began with") }
        var checker = SnapshotChecker(chainId: chainId, claim: .init(height: base.height, blockHash: header.hash, snapshotDigest: held.digest,
                                                                     snapshotBytes: held.bytes))
        var state: [String: (value: [UInt8], height: UInt64)] = [:]
        var leafHashes: [Hash256] = [], ids: [Hash256] = [], heights: [UInt64] = []
        do {
            try snapshots.forEachFrame(height: base.height) { frame in
                try checker.check(frame)
                switch frame {
                case .state(let entries): for entry in entries { state[entry.key] = (entry.value, entry.height) }
                case .transactions(let entries):
                    for entry in entries {
                        leafHashes.append(entry.leafHash)
                        ids.append(entry.id)
                        heights.append(entry.height)
                    }
                case .head, .end: break
                }
            }
        } catch { return fail("\(error)") }
        guard checker.finished else { return fail("the snapshot ends before its end frame") }
        let verifier = ChainVerifier(chainId: chainId, replayer: ContractReplayer(executor: executor, state: state, payloads: payloads),
                                     resumingAfter: header, log: checker.log)
        return .success(SnapshotStart(verifier: verifier, leafHashes: leafHashes, ids: ids, heights: heights))
    }
}

/// What the attestations a node stored say about its chain (`careledger verify`).
public struct AttestationAudit: Sendable {
    /// Organizations that must attest the same values.
    public let quorum: Int
    /// The node's final height as stored (nil: none yet, or not a consortium node).
    public let finalHeight: UInt64?
    /// Attestations checked (signature by the attester's registered key).
    public let checked: Int
    /// Attestations whose signature does not verify or whose attester is unknown: stored by mistake or tampered with.
    public let badSignatures: Int
    /// Heights where organizations attested other values than this chain's, grouped by values.
    public let disagreements: [Disagreement]

    /// The disagreements a quorum signed: this node's chain is not the consortium's there.
    public var divergences: [Disagreement] { disagreements.filter { $0.attesters.count >= quorum } }
}

extension ChainAudit {
    /// Checks every stored attestation against this store's block at its height and against the
    /// attester's registered key; nil for a store that keeps no attestations.
    public static func attestations(store: any LedgerStore) throws -> AttestationAudit? {
        guard let attestations = store as? any AttestationStore else { return nil }
        let quorum = try Genesis.finalityQuorum(in: store)
        let state = StateCache(store: store)
        var checked = 0, bad = 0
        var disagreeing: [UInt64: [Attestation.Values: [IdentityID]]] = [:]
        var ours: [UInt64: Attestation.Values] = [:]
        var from: UInt64 = 0
        while true {
            let page = try attestations.attestations(from: from, limit: 10_000)
            for attestation in page {
                checked += 1
                guard let identity = Directory.identity(attestation.attester, in: state), attestation.isSigned(by: identity.signingKey) else {
                    bad += 1
                    continue
                }
                guard let header = try store.header(height: attestation.height) else { continue }
                let mine = Attestation.Values(header)
                ours[attestation.height] = mine
                if attestation.values != mine { disagreeing[attestation.height, default: [:]][attestation.values, default: []].append(attestation.attester) }
            }
            guard page.count == 10_000, let last = page.last else { break }
            from = last.height + 1
        }
        let disagreements = disagreeing.keys.sorted().flatMap { height in
            disagreeing[height]!.map { values, attesters in
                Disagreement(height: height, ours: ours[height]!, theirs: values, attesters: attesters.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
            }
        }
        return AttestationAudit(quorum: quorum, finalHeight: try attestations.finalHeight(), checked: checked, badSignatures: bad,
                                disagreements: disagreements)
    }
}
