import Contracts
import LedgerCore
import Node
import Storage
import Vault

/// Drives one `LedgerNode` over in-memory stores and a `ManualClock` from a seed: rounds of
/// random transactions from every contract and record reads through the access service, one
/// injected fault at most per round, and every invariant checked after every round.
///
/// A round: arm the fault; submit the ops one by one (admission); advance the clock by the
/// block delay (the orderer cuts one block, deterministically: nothing else moves time); wait
/// for every admitted transaction; read records; check; crash or restart if the fault says so.
/// The node is quiescent between rounds, which is what makes a run replay from its seed.
///
/// What a seed does not fix, and why the checks do not care:
/// - The vault draws data keys, patient keys, HPKE ephemeral keys and AES-GCM nonces from the
///   system's randomness, so ciphertext hashes differ between runs of one seed, and with them
///   the registering transactions' ids, block hashes and state roots. The trace holds none of
///   these, and every check compares the node, its disk and a replay with each other, never with
///   a fixed hash.
/// - The node's commit pipeline, the orderer's timer and the audit batcher run on their own
///   tasks. The lockstep above leaves them one possible order: time moves only when every
///   submission is in, and the next step waits for every commit. A crashed node's disk handle is
///   fenced and the node drained before its successor opens the disk.
/// - The liveness watchdog reads real time, but only fires when the node is stuck (a failure).
/// - Dictionary order is random per process: nothing the simulator draws depends on it.
final class Simulator {
    static let chainId = "sim-chain"
    static let genesisMs: Int64 = 1_700_000_000_000
    static let configuration: NodeConfiguration = {
        var configuration = NodeConfiguration(blockTransactionsMax: 64, blockDelayMs: 10, mempoolTransactionsMax: 1_000, commitWaitMs: 30_000)
        // Only the clock cuts blocks, so a seed replays exactly (an idle node would cut at once).
        configuration.cutBlocksWhenIdle = false
        return configuration
    }()
    /// Real time a round may wait for its commits before the simulator declares the node stuck.
    static let livenessSeconds = 30
    static let opsPerRoundMax = 6
    static let readsPerRoundMax = 3

    let seed: UInt64
    var rng: SplitMix64
    let clock: ManualClock
    /// What survives a crash: the ledger disk and the vault.
    var disk: InMemoryLedgerStore
    let vault: SimulatedVaultStore
    var store: SimulatedLedgerStore
    var node: LedgerNode
    var access: AccessService
    let indexKey: BlindIndexKey
    var world = World()
    var checker = ReplayChecker(chainId: Simulator.chainId)

    /// Acknowledged transactions, in order: each must stay durable with this location and result.
    var acknowledged: [(id: Hash256, location: TransactionLocation, label: String)] = []
    /// Transactions admitted but neither acknowledged nor refused (their node failed or crashed).
    var inDoubt: [(id: Hash256, op: Op)] = []
    /// Every record content released, with the audit entry that must permit it.
    var releases: [Release] = []
    /// The run as deterministic lines (no random bytes): what replaying a seed must reproduce.
    private(set) var trace: [String] = []
    var stats = SimulationStats()
    /// Record versions stored (pending) this round; settled once the round's commits are known.
    var storedThisRound: [PendingVersion] = []

    struct Release {
        let auditIndex: UInt64
        let requester: IdentityID
        let record: Hash256
        let version: UInt64
    }

    init(seed: UInt64) async throws {
        self.seed = seed
        rng = SplitMix64(seed: seed)
        let disk = InMemoryLedgerStore()
        try Genesis.create(in: disk, chainId: Self.chainId,
                           founders: [Founder(keys: Cast.hospital, label: "hospital", type: .hospital),
                                      Founder(keys: Cast.clinic, label: "clinic", type: .clinic)],
                           ordererKeys: Cast.orderer, timeMs: Self.genesisMs)
        let clock = ManualClock(startMs: Self.genesisMs + 1_000)
        let store = SimulatedLedgerStore(disk: disk)
        let node = try await LedgerNode(store: store, ordererKeys: Cast.orderer, configuration: Self.configuration, clock: clock)
        let indexKey = try BlindIndexKey(secret: Array(repeating: 7, count: 32))
        let vault = SimulatedVaultStore()
        self.disk = disk
        self.clock = clock
        self.store = store
        self.node = node
        self.indexKey = indexKey
        self.vault = vault
        access = AccessService(node: node, vault: vault, custodians: [Cast.hospital, Cast.clinic], indexKey: indexKey, clock: clock)
    }

    func log(_ line: String) { trace.append(line) }

    /// Runs `rounds` rounds, then stops the node and audits the whole disk.
    func run(rounds: Int) async throws {
        try checker.sync(with: disk)
        for round in 0..<rounds { try await runRound(round) }
        await node.stop()
        try audit("the end of the run")
        log("end: height \(try disk.head()?.height ?? 0)")
    }

    // MARK: one round

    func runRound(_ round: Int) async throws {
        let fault = round < World.bootstrapRounds ? Fault.none : Fault.draw(&rng)
        log("round \(round): \(fault)")
        stats.count(fault)
        store.arm(fault.commitFault)
        store.failStateReads(fault == .stateReadsFail)
        vault.failPuts(fault == .vaultWritesFail)
        vault.failAudit(fault == .auditFails)

        storedThisRound = []
        let admitted = try await submit(try drawOps(round: round, fault: fault), bootstrap: round < World.bootstrapRounds)
        if fault == .crashBeforeCut {
            inDoubt += admitted
            try await crash(tear: false)
            return try await endRound(fault)
        }
        switch fault {
        case .wallClockStalls: clock.advance(monotonicMs: Int64(Self.configuration.blockDelayMs), wallMs: 0)
        case .wallClockJumps(let ms): clock.advance(monotonicMs: Int64(Self.configuration.blockDelayMs), wallMs: ms)
        default: clock.advance(ms: Int64(Self.configuration.blockDelayMs))
        }
        try await awaitCommits(admitted)

        var failure = await node.failureError
        if failure == nil, !store.isAlive { failure = try await awaitNodeFailure() }
        if let failure {
            // The node stopped: only a fault that may stop it explains that, and it must say why.
            guard fault.mayStopTheNode else { throw SimulationFailure("the node stopped without an injected fault: \(failure)") }
            guard case .failed = failure else { throw SimulationFailure("the node stopped with \(failure), not NodeError.failed") }
            let probe = await node.submit([Transaction.sign(TransactionBody(
                chainId: Self.chainId, sender: Cast.hospital.derivedID, publicKey: Cast.hospital.signingPublicKey, sequence: 1 << 40,
                contract: "anchor", method: "put", args: .map([:])), with: Cast.hospital)])[0]
            guard case .failure(.stopping) = probe else { throw SimulationFailure("a stopped node answered a submission with \(probe)") }
            log("node stopped")
            stats.nodeStops += 1
        } else if fault.commitFault != nil, !store.commitFaultFired, !admitted.isEmpty {
            throw SimulationFailure("transactions committed although the armed fault (\(fault)) never fired")
        }
        store.arm(nil)

        if failure == nil {
            // Every admitted registration is committed or refused: publish the accepted versions, remove the rest.
            do { try access.settle(storedThisRound, refused: true) } catch { throw SimulationFailure("settling the round's record writes failed: \(error)") }
            try await readRecords(fault)
        }
        store.failStateReads(false)
        vault.failPuts(false)
        vault.failAudit(false)
        try await check()

        if case .crashDuringWrite(_, let torn) = fault, failure != nil {
            try await crash(tear: torn)
        } else if failure != nil || fault == .stateReadsFail {
            // A node whose reads failed is done even if nothing noticed yet: the disk is replaced.
            try await restart(clean: false)
        } else if fault == .crashAtRest {
            try await crash(tear: false)
        } else if fault == .cleanRestart {
            try await restart(clean: true)
        }
        try await endRound(fault)
    }

    /// Checks once more after a crash or restart changed the node.
    private func endRound(_ fault: Fault) async throws {
        switch fault {
        case .crashDuringWrite, .crashBeforeCut, .crashAtRest, .cleanRestart, .writeFails, .stateReadsFail: try await check()
        default: break
        }
    }

    // MARK: ops

    /// The round's ops: the bootstrap's, or random ones (record writes go to the vault first).
    private func drawOps(round: Int, fault: Fault) throws -> [Op] {
        if round < World.bootstrapRounds { return world.bootstrap(round: round) }
        var ops: [Op] = []
        var recordsWritten = Set<Hash256>()
        for _ in 0..<rng.within(1...Self.opsPerRoundMax) {
            let kind = World.Kind.draw(&rng)
            switch kind {
            case .recordWrite:
                guard let write = world.recordWrite(rng: &rng), recordsWritten.insert(write.record).inserted else { continue }
                if let op = try storeRecord(write, fault: fault) { ops.append(op) }
            case .auditAnchor:
                if let pending = try? access.pendingAnchor(by: Cast.hospital.derivedID) {
                    ops.append(Op(signer: Cast.hospital, contract: "audit", method: "anchor",
                                  args: ["size": .int(Int64(pending.size)), "root": .bytes(pending.root.bytes)]))
                }
            default:
                if let op = world.op(kind, rng: &rng, nowMs: clock.nowMs()) { ops.append(op) }
            }
        }
        return ops
    }

    /// Encrypts and stores a record version in the vault; returns its registration.
    private func storeRecord(_ write: RecordWrite, fault: Fault) throws -> Op? {
        do {
            let prepared = try access.prepare(content: write.content, record: write.record, version: write.version,
                                              patient: write.patient.derivedID, custodian: write.custodian.derivedID)
            try access.store(prepared.version)
            storedThisRound.append(prepared.version.pending)
            world.contents[RecordVersionKey(record: write.record, version: write.version)] = write.content
            return World.register(write, ciphertextHash: prepared.version.blob.hash)
        } catch {
            switch error {
            case .storage where fault == .vaultWritesFail || fault == .stateReadsFail:
                log("  record write refused by the vault")
                stats.refusedByVault += 1
                return nil
            case .unknownIdentity where fault == .stateReadsFail:
                log("  record write refused: an identity could not be read")
                return nil
            default:
                throw SimulationFailure("preparing a record version failed: \(error)")
            }
        }
    }

    /// Signs and submits each op with its sender's next sequence (from replayed state, which
    /// equals committed state between rounds); returns the admitted ones.
    private func submit(_ ops: [Op], bootstrap: Bool) async throws -> [(id: Hash256, op: Op)] {
        var sequences: [IdentityID: UInt64] = [:]
        var admitted: [(id: Hash256, op: Op)] = []
        for op in ops {
            let sender = op.signer.derivedID
            let sequence = sequences[sender] ?? BlockExecutor.lastSequence(of: sender, in: checker.state) + 1
            let tx = Transaction.sign(TransactionBody(chainId: Self.chainId, sender: sender, publicKey: op.signer.signingPublicKey,
                                                      sequence: sequence, contract: op.contract, method: op.method, args: .map(op.args)),
                                      with: op.signer)
            switch await node.submit([tx])[0] {
            case .success(let id):
                sequences[sender] = sequence + 1
                admitted.append((id, op))
                log("  \(op.label) admitted")
            case .failure(let error):
                sequences[sender] = sequence
                stats.refused(op.label)
                log("  \(op.label) refused: \(error.code)")
                if bootstrap { throw SimulationFailure("bootstrap \(op.label) was refused: \(error)") }
            }
        }
        return admitted
    }

    /// Waits for every admitted transaction; those whose node failed stay in doubt until restart.
    private func awaitCommits(_ admitted: [(id: Hash256, op: Op)]) async throws {
        guard !admitted.isEmpty else { return }
        // Liveness: a node that never commits would hang the run; after `livenessSeconds` of real
        // time the watchdog moves the clock past the commit wait, so `awaitCommit` times out.
        let watchdog = Self.watchdog(clock)
        defer { watchdog.cancel() }
        for (id, op) in admitted {
            do {
                let status = try await node.awaitCommit(id)
                try acknowledge(id, TransactionLocation(logIndex: status.logIndex, height: status.height, result: status.result), op)
            } catch NodeError.timedOut {
                throw SimulationFailure("liveness: \(op.label) was admitted but not committed within \(Self.livenessSeconds) s of real time")
            } catch {
                // A failed node answers NodeError.failed; a node whose process died during a write
                // may answer its dead disk's error before it has noticed its own failure.
                guard await node.failureError != nil || !store.isAlive else {
                    throw SimulationFailure("awaiting \(op.label) failed on a healthy node: \(error)")
                }
                inDoubt.append((id, op))
                log("  \(op.label) not acknowledged: the node failed")
            }
        }
    }

    /// The process died in a write the node made: the node notices on its own task, which on a
    /// loaded machine may be after the commit waits returned. Waits for it, bounded in real time.
    private func awaitNodeFailure() async throws -> NodeError {
        let deadline = ContinuousClock.now + .seconds(Self.livenessSeconds)
        while ContinuousClock.now < deadline {
            if let failure = await node.failureError { return failure }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw SimulationFailure("liveness: the store's process died, but the node did not stop within \(Self.livenessSeconds) s")
    }

    private static func watchdog(_ clock: ManualClock) -> Task<Void, any Error> {
        Task {
            try await Task.sleep(for: .seconds(livenessSeconds))
            clock.advance(monotonicMs: Int64(configuration.commitWaitMs) + 1, wallMs: 0)
        }
    }

    /// Records an acknowledged commit and applies it to the world model.
    private func acknowledge(_ id: Hash256, _ location: TransactionLocation, _ op: Op) throws {
        acknowledged.append((id, location, op.label))
        stats.committed(op.label, accepted: location.result.isAccepted)
        log("  \(op.label) committed in block \(location.height): \(location.result.isAccepted ? "accepted" : "rejected \(location.result.code)")")
        guard location.result.isAccepted else { return }
        op.effect(&world, id)
        if op.contract == "records", op.method == "erase", let record = op.args["record"]?.bytesValue.flatMap({ Hash256(bytes: $0) }) {
            // The custodian shreds what the chain says is erased.
            do { _ = try access.shred(record) } catch { throw SimulationFailure("shredding erased record \(record.hex): \(error)") }
        }
    }

    // MARK: crash and restart

    /// Kills the node: its disk handle is fenced first, so nothing it still does reaches the disk;
    /// a block written during the crash may be torn away. Then a new node opens the disk.
    private func crash(tear: Bool) async throws {
        store.fence()
        await node.stop()
        stats.crashes += 1
        if tear, let before = store.beforeCrashedCommit {
            disk = before
            log("  the block written during the crash is torn away")
        }
        try await reopen()
    }

    /// Stops the node (cleanly, or after it failed) and opens a new one on the same disk.
    private func restart(clean: Bool) async throws {
        if !clean { store.fence() }
        await node.stop()
        stats.restarts += 1
        try await reopen()
    }

    private func reopen() async throws {
        store = SimulatedLedgerStore(disk: disk)
        do {
            node = try await LedgerNode(store: store, ordererKeys: Cast.orderer, configuration: Self.configuration, clock: clock)
        } catch {
            throw SimulationFailure("the node does not reopen its disk: \(error)")
        }
        access = AccessService(node: node, vault: vault, custodians: [Cast.hospital, Cast.clinic], indexKey: indexKey, clock: clock)
        do {
            try access.recoverPendingWrites()
            guard try vault.pendingVersions(limit: 1).isEmpty else { throw SimulationFailure("pending record versions remain after recovery") }
        } catch let failure as SimulationFailure { throw failure } catch {
            throw SimulationFailure("pending writes are not recovered after a restart: \(error)")
        }
        guard let head = try disk.head(), node.height == head.height else {
            throw SimulationFailure("the reopened node is at height \(node.height), its disk at \(try disk.head()?.height ?? 0)")
        }
        log("  reopened at height \(head.height)")
        // What was in doubt is now settled: durable (the client learns it committed) or lost.
        let doubtful = inDoubt
        inDoubt = []
        for (id, op) in doubtful {
            if let location = try disk.location(of: id) {
                try acknowledge(id, location, op)
            } else {
                log("  \(op.label) was lost (never acknowledged)")
                stats.lost += 1
            }
        }
    }
}
