import Contracts
import Foundation
import LedgerCore
import Node
import Ordering
import Storage
import Testing

/// Three nodes of one chain, each with its own store, ordered through one etcd: each organization
/// submits through its own node, one transaction is also sent through a second node, and all three
/// end with the same blocks — same heights, transactions, results, log and state roots. Each node
/// attests its blocks with its organization's key on the etcd board; blocks become final on every
/// node once two of the three organizations attested the same values, and a forged attestation
/// put straight into etcd is refused by every node. A node stopped while the others go on resumes
/// after the log position its store kept, catches up, and attests what it missed.
/// (The block header's sealing key is one key the consortium's nodes share, so whole blocks
/// compare; what a block's authority rests on is the quorum of attestations.)
@Suite("Three nodes, one order through etcd, identical chains", .serialized, .enabled(if: EtcdProcess.binary != nil, EtcdProcess.skipReason))
struct ConsortiumOrderingTests {
    static let chainId = "consortium-test"
    static let nodeKeys = IdentityKeys(seed: Array(repeating: 61, count: 32))
    static let organizations = [(IdentityKeys(seed: Array(repeating: 62, count: 32)), "hospital", OrganizationType.hospital),
                                (IdentityKeys(seed: Array(repeating: 63, count: 32)), "clinic", .clinic),
                                (IdentityKeys(seed: Array(repeating: 64, count: 32)), "laboratory", .laboratory)]

    static func anchor(_ keys: IdentityKeys, _ sequence: UInt64) -> Transaction {
        let call = AnchorContract.Put(digest: Hash256.sha256(Array("\(keys.derivedID.hex)/\(sequence)".utf8)), kind: "test")
        return Transaction.sign(TransactionBody(chainId: chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey, sequence: sequence,
                                                contract: type(of: call).contract, method: type(of: call).methodName, args: call.args), with: keys)
    }

    @Test(.timeLimit(.minutes(5)))
    func threeNodesEndWithIdenticalChains() async throws {
        try await EtcdProcess.with { _, etcd in
            var nodes: [LedgerNode] = []
            var stores: [SQLiteLedgerStore] = []
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-consortium-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: root) }
            func path(_ index: Int) -> String { root.appendingPathComponent("node-\(index)/ledger.sqlite").path }
            func start(_ index: Int, _ store: SQLiteLedgerStore) async throws -> LedgerNode {
                let board = EtcdAttestationBoard(client: etcd, chainId: Self.chainId, clock: SystemClock())
                let attesting = AttestationSettings(board: board, attesters: [Self.organizations[index].0])
                let configuration = NodeConfiguration(blockTransactionsMax: 40, blockDelayMs: 5, attesting: attesting) { head, position, clock in
                    EtcdOrderer(client: etcd, configuration: .init(chainId: Self.chainId, nodeName: "node-\(index)", batchTransactionsMax: 40, batchDelayMs: 5),
                                clock: clock, after: position, lastTimeMs: head.timeMs,
                                alreadyOrdered: { (try? store.committedIDs($0)) ?? [] })
                }
                return try await LedgerNode(store: store, ordererKeys: Self.nodeKeys, configuration: configuration)
            }
            for index in 0..<3 {
                try FileManager.default.createDirectory(at: root.appendingPathComponent("node-\(index)"), withIntermediateDirectories: true)
                let store = try SQLiteLedgerStore(path: path(index))
                // The same genesis on every node (the same inputs give the same block).
                try Genesis.create(in: store, chainId: Self.chainId,
                                   founders: Self.organizations.map { Founder(keys: $0.0, label: $0.1, type: $0.2) },
                                   ordererKeys: Self.nodeKeys, timeMs: 1_800_000_000_000)
                stores.append(store)
                nodes.append(try await start(index, store))
            }
            let running = nodes

            // Each organization sends 60 anchors through its own node, concurrently.
            let perOrganization: UInt64 = 60
            var sent: [Transaction] = []
            try await withThrowingTaskGroup(of: [Transaction].self) { group in
                for (index, organization) in Self.organizations.enumerated() {
                    group.addTask {
                        var mine: [Transaction] = []
                        for sequence in 2...(perOrganization + 1) {
                            let tx = Self.anchor(organization.0, sequence)
                            _ = try await running[index].submit(tx)
                            mine.append(tx)
                        }
                        return mine
                    }
                }
                for try await part in group { sent += part }
            }
            // One of the hospital's transactions again, through the clinic's node: ordered once, if at all admitted.
            _ = await nodes[1].submit([sent[0]])

            func settle(_ expected: UInt64) async throws {
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    var sizes: [UInt64] = []
                    for node in nodes { sizes.append(await node.headHeader.logSize) }
                    if sizes.allSatisfy({ $0 >= expected }) { return }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await settle(UInt64(3) + UInt64(sent.count))  // genesis holds one transaction per founder

            // The laboratory's node stops; the hospital and the clinic go on; it restarts and catches up
            // from etcd, after the position its store kept.
            await nodes[2].stop()
            #expect(try stores[2].orderingPosition() != nil, "the store keeps the position of its last block")
            for (index, organization) in Self.organizations.prefix(2).enumerated() {
                for sequence in (perOrganization + 2)...(perOrganization + 21) {
                    let tx = Self.anchor(organization.0, sequence)
                    _ = try await running[index].submit(tx)
                    sent.append(tx)
                }
            }
            stores[2] = try SQLiteLedgerStore(path: path(2))
            nodes[2] = try await start(2, stores[2])
            let expected = UInt64(3) + UInt64(sent.count)
            try await settle(expected)
            var heads: [BlockHeader] = []
            for node in nodes { heads.append(await node.headHeader) }
            #expect(heads.allSatisfy { $0.logSize == expected }, "log sizes \(heads.map(\.logSize)), expected \(expected)")
            #expect(Set(heads.map(\.height)).count == 1 && Set(heads.map(\.stateRoot)).count == 1 && Set(heads.map(\.logRoot)).count == 1,
                    "heads differ: \(heads.map { "h\($0.height) state \($0.stateRoot.hex.prefix(8)) log \($0.logRoot.hex.prefix(8))" })")
            // Block by block, the same bytes.
            for height in 1...heads[0].height {
                let blocks = try stores.map { try #require(try $0.rawBlock(height: height)) }
                #expect(blocks.allSatisfy { $0.headerBytes == blocks[0].headerBytes && $0.transactionBytes == blocks[0].transactionBytes },
                        "block \(height) differs between nodes")
            }
            // Final on every node: two of three organizations attested each block's values.
            let top = heads[0].height
            let deadline = ContinuousClock.now + .seconds(30)
            while nodes.contains(where: { $0.finalHeight < top }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(nodes.map(\.finalHeight) == [top, top, top], "final heights \(nodes.map(\.finalHeight)), head \(top)")
            _ = try await nodes[1].awaitFinal(sent.last!.id, timeoutMs: 10_000)
            // The laboratory's node attested the blocks it missed while stopped.
            let attested = try stores[2].attestations(height: top).map(\.attester)
            #expect(attested.contains(Self.organizations[2].0.derivedID), "the restarted node attests what it caught up on")

            // A forged attestation, put straight into etcd: the clinic's id, another key's signature, other roots.
            let forger = IdentityKeys(seed: Array(repeating: 99, count: 32))
            var wrong = heads[0]
            wrong.stateRoot = Hash256.sha256(Array("forged".utf8))
            let unsigned = Attestation(chainId: Self.chainId, height: top, values: Attestation.Values(wrong),
                                       attester: Self.organizations[1].0.derivedID, signature: [])
            let forged = Attestation(chainId: Self.chainId, height: top, values: unsigned.values, attester: unsigned.attester,
                                     signature: forger.sign(unsigned.signedMessage))
            _ = try await etcd.put(Array("careledger/\(Self.chainId)/attest/forged".utf8), forged.encoded)
            let refusedBy = ContinuousClock.now + .seconds(10)
            var refused: [Int] = []
            repeat {
                refused = []
                for node in nodes { refused.append(await node.finalityStatus.refusedAttestations) }
                if refused.allSatisfy({ $0 >= 1 }) { break }
                try await Task.sleep(for: .milliseconds(20))
            } while ContinuousClock.now < refusedBy
            #expect(refused.allSatisfy { $0 >= 1 }, "refused: \(refused)")
            for node in nodes {
                #expect(await node.failureError == nil)
                #expect(await node.finalityStatus.divergence == nil)
            }
            for node in nodes { await node.stop() }
            // Every transaction committed once, accepted.
            for tx in sent {
                let locations = try stores.map { try #require(try $0.location(of: tx.id)) }
                #expect(locations.allSatisfy { $0 == locations[0] && $0.result.isAccepted }, "\(tx.id.hex.prefix(12)): \(locations)")
            }
        }
    }

    /// A node whose place in the log etcd has compacted away stops committing and says why
    /// (it must catch up from a peer), instead of waiting for batches that will never come.
    @Test(.timeLimit(.minutes(3)))
    func aNodeBehindCompactionHaltsAndSaysWhy() async throws {
        try await EtcdProcess.with { _, etcd in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-compacted-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: root) }
            func node(_ name: String) async throws -> (LedgerNode, SQLiteLedgerStore) {
                let store = try SQLiteLedgerStore(path: root.appendingPathComponent("\(name).sqlite").path)
                try Genesis.create(in: store, chainId: Self.chainId, founders: Self.organizations.map { Founder(keys: $0.0, label: $0.1, type: $0.2) },
                                   ordererKeys: Self.nodeKeys, timeMs: 1_800_000_000_000)
                let configuration = NodeConfiguration(blockTransactionsMax: 40, blockDelayMs: 5) { head, position, clock in
                    EtcdOrderer(client: etcd, configuration: .init(chainId: Self.chainId, nodeName: name), clock: clock, after: position,
                                lastTimeMs: head.timeMs, alreadyOrdered: { (try? store.committedIDs($0)) ?? [] })
                }
                return (try await LedgerNode(store: store, ordererKeys: Self.nodeKeys, configuration: configuration), store)
            }
            let (first, firstStore) = try await node("first")
            for sequence in UInt64(2)...6 {
                let id = try await first.submit(Self.anchor(Self.organizations[0].0, sequence))
                _ = try await first.awaitCommit(id)
            }
            await first.stop()
            try await etcd.compact(revision: try #require(try firstStore.orderingPosition()))
            let (late, _) = try await node("late")
            let deadline = ContinuousClock.now + .seconds(20)
            while await late.failureError == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let failure = try #require(await late.failureError)
            #expect("\(failure)".contains("compacted") && "\(failure)".contains("catch up from a peer"), "\(failure)")
            #expect(late.height == 0)
            await late.stop()
        }
    }
}
