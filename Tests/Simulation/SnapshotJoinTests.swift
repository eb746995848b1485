import Contracts
import Foundation
import LedgerCore
import Node
import Ordering
import Services
import Storage
import Synchronization
import Testing

/// A new organization's node joins a long chain from a checkpoint: three founders' nodes write a
/// snapshot every 4 blocks and sign its digest; the new node takes the newest snapshot a quorum
/// signed, checks it, installs it, replays only the blocks after it, and ends with the same state
/// root as the others. A tampered snapshot, too few signatures and a snapshot that already holds
/// the joining organization are refused, and a refused join leaves the store as it was.
@Suite("Snapshot join: a new node starts from a checkpoint a quorum signed", .timeLimit(.minutes(3)))
struct SnapshotJoinTests {
    static let chainId = "snapshot-join"
    static let genesisMs: Int64 = 1_800_000_000_000
    static let interval: UInt64 = 4

    /// The founders' nodes over one simulated log, each with its snapshot archive; one checkpoint board.
    final class Consortium: Sendable {
        let clock = ManualClock(startMs: SnapshotJoinTests.genesisMs + 1_000)
        let log = SimulatedLog()
        let sealing = IdentityKeys(seed: Array(repeating: 80, count: 32))
        let organizations = (81...83).map { IdentityKeys(seed: Array(repeating: UInt8($0), count: 32)) }
        let board = LocalCheckpointBoard()
        let genesis: BlockCommit
        let stores: Mutex<[InMemoryLedgerStore]> = Mutex([])
        let nodes: Mutex<[LedgerNode]> = Mutex([])
        let orderers: Mutex<[SimulatedLogOrderer]> = Mutex([])
        let archives: [IdentityID: InMemorySnapshotArchive]

        /// `signing`: the founders (by index) whose nodes publish their checkpoint statements.
        init(signing: Set<Int> = [0, 1, 2]) async throws {
            let founders = zip(["hospital", "payer", "laboratory"], organizations).map { Founder(keys: $1, label: $0, type: $0 == "payer" ? .payer : $0 == "hospital" ? .hospital : .laboratory) }
            (_, genesis) = try Genesis.make(chainId: SnapshotJoinTests.chainId, founders: founders, ordererKeys: sealing, timeMs: SnapshotJoinTests.genesisMs)
            archives = Dictionary(uniqueKeysWithValues: organizations.map { ($0.derivedID, InMemorySnapshotArchive()) })
            for (index, organization) in organizations.enumerated() {
                let store = InMemoryLedgerStore()
                try store.commit(genesis)
                let board: any CheckpointBoard = signing.contains(index) ? self.board : LocalCheckpointBoard()
                try await start(store: store, index: index, checkpoints: CheckpointSettings(
                    intervalBlocks: SnapshotJoinTests.interval, archive: archives[organization.derivedID]!, board: board, signers: [organization]))
            }
        }

        /// Starts a node over `store`, reading the log after the store's position.
        @discardableResult
        func start(store: InMemoryLedgerStore, index: Int, checkpoints: CheckpointSettings?) async throws -> LedgerNode {
            let made = Mutex<SimulatedLogOrderer?>(nil)
            let log = self.log
            var configuration = NodeConfiguration(blockDelayMs: 5, commitWaitMs: 20_000, makeOrderer: { head, position, _ in
                let orderer = SimulatedLogOrderer(log: log, node: index, after: position, lastTimeMs: head.timeMs, limit: Int(position),
                                                  alreadyOrdered: { (try? store.location(of: $0)) != nil })
                made.withLock { $0 = orderer }
                return orderer
            })
            configuration.checkpoints = checkpoints
            let node = try await LedgerNode(store: store, ordererKeys: sealing, configuration: configuration, clock: clock)
            let orderer = made.withLock { $0! }
            orderer.allow(upTo: log.count)
            stores.withLock { $0.append(store) }
            nodes.withLock { $0.append(node) }
            orderers.withLock { $0.append(orderer) }
            return node
        }

        /// Commits a call through the first node and waits until every node has it.
        func commit(_ call: UnsignedCall) async throws {
            let first = nodes.withLock { $0[0] }
            let tx = try await LedgerClient(node: first).sign(endorsing: call)
            _ = try await first.submit([tx])[0].get()
            clock.advance(ms: 1_000)
            var rng = SplitMix64(seed: 1)
            _ = log.deliver(order: [0], lossPercent: 0, timeMs: clock.nowMs(), rng: &rng)
            for orderer in orderers.withLock({ $0 }) { orderer.allow(upTo: log.count) }
            let deadline = ContinuousClock.now + .seconds(20)
            for (node, store) in zip(nodes.withLock { $0 }, stores.withLock { $0 }) {
                while try store.location(of: tx.id) == nil || node.height < (try store.head()?.height ?? 0) {
                    if let failure = await node.failureError { throw failure }
                    guard ContinuousClock.now < deadline else { throw NodeError.timedOut(tx.id, ms: 20_000) }
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
        }

        /// Registers `count` patients, one block each.
        func grow(_ count: Int, seed: UInt8) async throws {
            for offset in 0..<count {
                let patient = IdentityKeys(seed: Array(repeating: seed &+ UInt8(offset), count: 32))
                try await commit(UnsignedCall(patient, call: MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)))
            }
        }

        /// Waits until the board has a claim at `height` signed by `count` organizations.
        func waitForStatements(height: UInt64, count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(20)
            while try await board.checkpointStatements().filter({ $0.height == height }).count < count {
                guard ContinuousClock.now < deadline else { Issue.record("no \(count) statements at \(height)"); return }
                try await Task.sleep(for: .milliseconds(5))
            }
        }

        func admit(_ keys: IdentityKeys, label: String) async throws {
            try await commit(UnsignedCall(organizations[0], call: MembershipContract.AdmitOrganization(
                label: label, organizationType: .clinic, signingKey: keys.signingPublicKey, agreementKey: keys.agreementPublicKey)))
        }

        func stop() async { for node in nodes.withLock({ $0 }) { await node.stop() } }
    }

    /// Copies a peer's snapshot in chunks, as the HTTP source does; `tampered` peers flip a byte.
    final class ArchiveSource: SnapshotSource {
        let archives: [IdentityID: InMemorySnapshotArchive]
        let tampered: Set<IdentityID>
        init(archives: [IdentityID: InMemorySnapshotArchive], tampered: Set<IdentityID> = []) { (self.archives, self.tampered) = (archives, tampered) }
        let fetched = Mutex<[IdentityID]>([])

        func fetch(height: UInt64, bytes: UInt64, from organization: IdentityID, into archive: any SnapshotArchive) async throws -> Int64? {
            fetched.withLock { $0.append(organization) }
            guard let peer = archives[organization] else { throw SnapshotError.malformed("no such peer") }
            var offset: UInt64 = 0
            while offset < bytes {
                var chunk = try peer.read(height: height, offset: offset, limit: 1_000)
                guard !chunk.isEmpty else { break }
                if tampered.contains(organization), offset == 0 { chunk[chunk.count / 2] ^= 1 }
                try archive.append(height: height, offset: offset, chunk)
                offset += UInt64(chunk.count)
            }
            return peer.position(height: height)
        }
    }

    func freshStore(_ consortium: Consortium) throws -> InMemoryLedgerStore {
        let store = InMemoryLedgerStore()
        try store.commit(consortium.genesis)
        return store
    }

    @Test func aNewOrganizationsNodeJoinsFromTheNewestCertifiedCheckpointAndConverges() async throws {
        let consortium = try await Consortium()
        try await consortium.grow(13, seed: 1)
        try await consortium.waitForStatements(height: 12, count: 3)
        let clinic = IdentityKeys(seed: Array(repeating: 84, count: 32))

        let store = try freshStore(consortium)
        let archive = InMemorySnapshotArchive()
        let source = ArchiveSource(archives: consortium.archives)
        let outcome = try await SnapshotJoin.join(store: store, archive: archive, board: consortium.board, source: source, organization: clinic.derivedID)
        #expect(outcome.base.height == 12)
        #expect(try store.snapshotBase() == outcome.base)
        #expect(try store.head()?.height == 12)
        // Nothing before the checkpoint was replayed or stored, but the genesis block stays.
        #expect(try store.rawBlock(height: 1) == nil && store.rawBlock(height: 11) == nil)
        #expect(try store.rawBlock(height: 0) != nil && store.rawBlock(height: 12) != nil)

        // The founders admit the clinic; its node replays only what followed the checkpoint.
        try await consortium.start(store: store, index: 3, checkpoints: CheckpointSettings(
            intervalBlocks: Self.interval, archive: archive, board: consortium.board, signers: [clinic]))
        try await consortium.admit(clinic, label: "clinic")
        try await consortium.grow(5, seed: 40)
        let stores = consortium.stores.withLock { $0 }
        let heads = try stores.map { try #require(try $0.head()) }
        #expect(Set(heads.map(\.hash)).count == 1, "every node holds the same head block")
        #expect(heads[3].height == 19)
        // The joined node makes its own checkpoints (16) and its snapshot's digest agrees with the founders'.
        try await consortium.waitForStatements(height: 16, count: 4)
        let sixteen = try await consortium.board.checkpointStatements().filter { $0.height == 16 }
        #expect(Set(sixteen.map(\.snapshotDigest)).count == 1)
        // The whole state, key by key, is the same on the joined node as on a founder's.
        #expect(try Self.sharedState(stores[3]) == Self.sharedState(stores[0]))
        // A transaction from before the checkpoint is still known (one sent again is not ordered twice).
        let early = try #require(try stores[0].transactionBytes(logIndex: 4)).map { $0 }
        let earlyID = try Transaction(decoding: early).id
        #expect(try stores[3].location(of: earlyID)?.height == stores[0].location(of: earlyID)?.height)
        #expect(try stores[3].transactionBytes(logIndex: 4) == nil, "the joined node holds no transaction bytes before its checkpoint")
        await consortium.stop()

        // `careledger verify` of the joined store: from the snapshot it began with, re-checked, then every block after it.
        switch try ChainAudit.run(store: stores[3], snapshots: archive) {
        case .success(let report): #expect(report.base?.height == 12 && report.height == 19 && report.transactions == heads[0].logSize)
        case .failure(let error): Issue.record("\(error)")
        }
        // Without the snapshot the state it began with cannot be checked, and verify says so.
        guard case .failure(let missing) = try ChainAudit.run(store: stores[3]) else { Issue.record("verified without its snapshot"); return }
        #expect(missing.height == 12 && missing.detail.contains("cannot be checked"), "\(missing)")
        // A snapshot file that is not the one the store began with is refused.
        let other = InMemorySnapshotArchive()
        _ = try other.write(height: 12, position: nil) { sink in try sink(.end(stateEntries: 0, transactions: 0)) }
        guard case .failure(let wrong) = try ChainAudit.run(store: stores[3], snapshots: other) else { Issue.record("verified with another snapshot"); return }
        #expect(wrong.detail.contains("not the digest"), "\(wrong)")
    }

    static func sharedState(_ store: InMemoryLedgerStore) throws -> [String: [UInt8]] {
        var state: [String: [UInt8]] = [:]
        try store.forEachState { key, value, _ in if !key.hasPrefix(PrivateEnvelope.keyPrefix) { state[key] = value } }
        return state
    }

    @Test func aTamperedSnapshotIsRefusedAndAnotherSignerServesIt() async throws {
        let consortium = try await Consortium()
        try await consortium.grow(9, seed: 1)
        try await consortium.waitForStatements(height: 8, count: 3)
        let clinic = IdentityKeys(seed: Array(repeating: 84, count: 32))
        let signers = consortium.organizations.map(\.derivedID).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }

        // The first signer asked serves altered bytes: the digest differs, the next signer is asked.
        let store = try freshStore(consortium)
        let source = ArchiveSource(archives: consortium.archives, tampered: [signers[0]])
        let outcome = try await SnapshotJoin.join(store: store, archive: InMemorySnapshotArchive(), board: consortium.board, source: source,
                                                  organization: clinic.derivedID)
        #expect(outcome.base.height == 8 && outcome.from == signers[1])
        #expect(outcome.passedOver.contains { $0.contains("hash to") })
        #expect(source.fetched.withLock { $0 } == [signers[0], signers[1]])

        // Every signer serves altered bytes: nothing is installed.
        let untouched = try freshStore(consortium)
        let liars = ArchiveSource(archives: consortium.archives, tampered: Set(signers))
        await #expect(throws: SnapshotJoin.Refusal.self) {
            try await SnapshotJoin.join(store: untouched, archive: InMemorySnapshotArchive(), board: consortium.board, source: liars,
                                        organization: clinic.derivedID)
        }
        #expect(try untouched.head()?.height == 0 && untouched.snapshotBase() == nil)
        await consortium.stop()
    }

    @Test func anOrganizationThatSignsTwoSnapshotsAtOneHeightCountsForNeither() async throws {
        let consortium = try await Consortium()
        try await consortium.grow(9, seed: 1)
        try await consortium.waitForStatements(height: 8, count: 3)
        // Two founders also sign another snapshot at 8: they equivocated, so only the third counts there, short of the quorum.
        let real = try #require(try await consortium.board.checkpointStatements().first { $0.height == 8 })
        let header = try #require(try consortium.stores.withLock { $0[0] }.header(height: 8))
        let conflicting = consortium.organizations.prefix(2).map {
            CheckpointStatement.sign(header, digest: Hash256.sha256(Array("another state".utf8)), bytes: real.snapshotBytes, attester: $0)
        }
        try await consortium.board.publish(conflicting)
        let store = try freshStore(consortium)
        let outcome = try await SnapshotJoin.join(store: store, archive: InMemorySnapshotArchive(), board: consortium.board,
                                                  source: ArchiveSource(archives: consortium.archives),
                                                  organization: IdentityKeys(seed: Array(repeating: 84, count: 32)).derivedID)
        #expect(outcome.base.height == 4, "the checkpoint below the contested one is taken")
        await consortium.stop()
    }

    @Test func aCheckpointSignedByFewerThanAQuorumOrByUnknownKeysIsNotTaken() async throws {
        // Only the hospital's node publishes: one statement per checkpoint, the quorum is two.
        let consortium = try await Consortium(signing: [0])
        try await consortium.grow(5, seed: 1)
        try await consortium.waitForStatements(height: 4, count: 1)
        let statements = try await consortium.board.checkpointStatements()
        let claim = try #require(statements.first)
        // An outsider signs the same claim twice over: its key is no organization's.
        let outsider = IdentityKeys(seed: Array(repeating: 99, count: 32))
        let forged = CheckpointStatement(chainId: claim.chainId, height: claim.height, blockHash: claim.blockHash, snapshotDigest: claim.snapshotDigest,
                                         snapshotBytes: claim.snapshotBytes, attester: outsider.derivedID, signature: [])
        let signed = CheckpointStatement(chainId: claim.chainId, height: claim.height, blockHash: claim.blockHash, snapshotDigest: claim.snapshotDigest,
                                         snapshotBytes: claim.snapshotBytes, attester: outsider.derivedID, signature: outsider.sign(forged.signedMessage))
        // And a founder's id with the outsider's signature.
        let payer = consortium.organizations[1].derivedID
        let impostor = CheckpointStatement(chainId: claim.chainId, height: claim.height, blockHash: claim.blockHash, snapshotDigest: claim.snapshotDigest,
                                           snapshotBytes: claim.snapshotBytes, attester: payer, signature: signed.signature)
        try await consortium.board.publish([signed, impostor])
        let store = try freshStore(consortium)
        do {
            _ = try await SnapshotJoin.join(store: store, archive: InMemorySnapshotArchive(), board: consortium.board,
                                            source: ArchiveSource(archives: consortium.archives), organization: outsider.derivedID)
            Issue.record("a checkpoint one organization signed was taken")
        } catch let refusal as SnapshotJoin.Refusal {
            #expect("\(refusal)".contains("no checkpoint is signed by 2 organizations"))
        }
        #expect(try store.head()?.height == 0)
        await consortium.stop()
    }

    @Test func aSnapshotThatAlreadyHoldsTheJoiningOrganizationIsPassedOver() async throws {
        let consortium = try await Consortium()
        let clinic = IdentityKeys(seed: Array(repeating: 84, count: 32))
        try await consortium.grow(2, seed: 1)
        // Admitted at height 3: the checkpoint at 4 holds it, and so may hold private data it is party to.
        try await consortium.admit(clinic, label: "clinic")
        try await consortium.grow(6, seed: 20)
        try await consortium.waitForStatements(height: 8, count: 3)
        let store = try freshStore(consortium)
        do {
            _ = try await SnapshotJoin.join(store: store, archive: InMemorySnapshotArchive(), board: consortium.board,
                                            source: ArchiveSource(archives: consortium.archives), organization: clinic.derivedID)
            Issue.record("a snapshot holding the joining organization was taken")
        } catch let refusal as SnapshotJoin.Refusal {
            #expect("\(refusal)".contains("already holds this node's organization"))
        }
        #expect(try store.head()?.height == 0 && store.snapshotBase() == nil)
        await consortium.stop()
    }
}
