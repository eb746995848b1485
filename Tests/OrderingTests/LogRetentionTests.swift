import Contracts
import Foundation
import LedgerCore
import Node
import Ordering
import Storage
import Testing

/// Finding: etcd held the whole ordered log for good. Every batch a node put stayed a live key, and
/// every attestation too, and nothing compacted etcd's history, so etcd grew with the chain until
/// its space quota (2 GiB by default, about 8 million anchors) and then refused every write: the
/// consortium stopped. Now each node retires the log `logRetentionBlocks` behind the final height:
/// it deletes the batches it put there and the attestations below, and compacts the history.
/// Finding, the same for checkpoint statements: every one since genesis stayed in etcd, though no
/// node keeps the snapshots of old checkpoints; they go `keep` checkpoint intervals further back.
/// And keys no node wrote (a forged batch, a removed organization's) were never deleted: each node
/// deleted only its own.
@Suite("The ordered log in etcd is a window, not the whole chain", .serialized, .enabled(if: EtcdProcess.binary != nil, EtcdProcess.skipReason))
struct LogRetentionTests {
    typealias Fixture = ConsortiumOrderingTests

    @Test(.timeLimit(.minutes(5)))
    func nodesRetireTheLogBehindTheFinalHeight() async throws {
        try await EtcdProcess.with { _, etcd in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-retention-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: root) }
            let retention: UInt64 = 8
            // A key no node wrote (nodes drop it as a batch), before the run: retired with the rest.
            try await etcd.put(Array("careledger/\(Fixture.chainId)/log/mallory/1".utf8), [0xFF, 0x00])
            let checkpointInterval: UInt64 = 4, checkpointsKept = 3
            var nodes: [LedgerNode] = []
            var stores: [SQLiteLedgerStore] = []
            for (index, organization) in Fixture.organizations.enumerated() {
                let store = try SQLiteLedgerStore(path: root.appendingPathComponent("node-\(index).sqlite").path)
                try Genesis.create(in: store, chainId: Fixture.chainId, founders: Fixture.organizations.map { Founder(keys: $0.0, label: $0.1, type: $0.2) },
                                   ordererKeys: Fixture.nodeKeys, timeMs: 1_800_000_000_000)
                let board = EtcdAttestationBoard(client: etcd, chainId: Fixture.chainId, clock: SystemClock())
                var configuration = NodeConfiguration(blockTransactionsMax: 40, blockDelayMs: 5,
                                                      attesting: AttestationSettings(board: board, attesters: [organization.0])) { head, position, clock in
                    EtcdOrderer(client: etcd, configuration: .init(chainId: Fixture.chainId, nodeName: "node-\(index)", batchTransactionsMax: 40, batchDelayMs: 5),
                                clock: clock, after: position, lastTimeMs: head.timeMs, alreadyOrdered: { (try? store.committedIDs($0)) ?? [] })
                }
                configuration.logRetentionBlocks = retention
                configuration.checkpoints = CheckpointSettings(intervalBlocks: checkpointInterval, archive: InMemorySnapshotArchive(), board: board,
                                                               signers: [organization.0], keep: checkpointsKept)
                stores.append(store)
                nodes.append(try await LedgerNode(store: store, ordererKeys: Fixture.nodeKeys, configuration: configuration))
            }
            // Twenty rounds, each organization's anchor through its own node, waiting for it to be
            // final: at least one block each, so about 60 blocks.
            let running = nodes
            for round in UInt64(0)..<20 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, organization) in Fixture.organizations.enumerated() {
                        group.addTask {
                            let id = try await running[index].submit(Fixture.anchor(organization.0, round + 2))
                            _ = try await running[index].awaitFinal(id, timeoutMs: 20_000)
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let top = await nodes[0].headHeader.height
            #expect(top >= 40, "blocks: \(top)")
            // Every node retires in the background once its final height moves: wait for it to reach
            // the newest mark (a mark every retention / 4 = 2 blocks).
            let deadline = ContinuousClock.now + .seconds(20)
            var retired: [UInt64] = []
            repeat {
                retired = []
                for node in nodes { retired.append(await node.logRetirement.height) }
                if retired.allSatisfy({ $0 + retention + 4 >= top }) { break }
                try await Task.sleep(for: .milliseconds(50))
            } while ContinuousClock.now < deadline
            #expect(retired.allSatisfy { $0 + retention + 4 >= top }, "retired below \(retired), head \(top)")
            for node in nodes { #expect(await node.logRetirement.error == nil) }

            // The log keys left: the batches of the last blocks, not one per block since genesis.
            let log = try await etcd.range(prefix: Array("careledger/\(Fixture.chainId)/log/".utf8), limit: 10_000)
            #expect(log.values.count <= Int(retention) + 8, "\(log.values.count) batches left in etcd after \(top) blocks")
            #expect(!log.values.contains { String(decoding: $0.key, as: UTF8.self).contains("/log/mallory/") }, "the forged key is left")
            // Attestations below the retired height are gone; the recent ones stay.
            let attestations = try await etcd.range(prefix: Array("careledger/\(Fixture.chainId)/attest/".utf8), limit: 10_000).values
                .compactMap { try? Attestation(decoding: $0.value) }
            let lowest = try #require(attestations.map(\.height).min())
            #expect(lowest >= (retired.min() ?? 0), "an attestation for height \(lowest) is left, below \(retired.min() ?? 0)")
            // Checkpoint statements: those of the checkpoints whose snapshots the nodes still keep stay.
            let statements = try await etcd.range(prefix: Array("careledger/\(Fixture.chainId)/checkpoint/".utf8), limit: 10_000).values
                .compactMap { try? CheckpointStatement(decoding: $0.value) }
            let statementHeights = Set(statements.map(\.height))
            let keptBelow = (retired.min() ?? 0) - UInt64(checkpointsKept) * checkpointInterval
            #expect(statementHeights.allSatisfy { $0 >= keptBelow }, "statements for \(statementHeights.sorted()) are left; none below \(keptBelow) should be")
            #expect(statementHeights.contains { $0 >= (retired.min() ?? 0) }, "the newest checkpoints' statements stay: \(statementHeights.sorted())")
            // And the history before is compacted: reading the log as of its first revisions fails.
            await #expect(throws: EtcdError.self) {
                _ = try await etcd.range(prefix: Array("careledger/".utf8), limit: 1, revision: 2)
            }

            // The nodes still agree, and every anchor is committed once.
            var heads: [BlockHeader] = []
            for node in nodes {
                heads.append(await node.headHeader)
                #expect(await node.failureError == nil)
            }
            #expect(Set(heads.map(\.stateRoot)).count == 1 && Set(heads.map(\.height)).count == 1, "\(heads.map(\.height))")
            for node in nodes { await node.stop() }
            #expect(try stores.allSatisfy { try $0.head()?.logSize == UInt64(3 + 60) })
        }
    }
}
