import LedgerCore
import Ordering
import Testing

/// The consortium's orderer against a real etcd: nodes that submit through their own orderer read
/// back the same batches in the same order with the same times and positions; a transaction sent
/// through two nodes is ordered once; a node's slow clock cannot make time go backwards; a node
/// resumes after a position; a forged batch is dropped by everyone; compacted history is reported.
@Suite("EtcdOrderer: one order for every node, through etcd", .serialized, .enabled(if: EtcdProcess.binary != nil, EtcdProcess.skipReason))
struct EtcdOrdererTests {
    static let keys = IdentityKeys(seed: Array(repeating: 5, count: 32))
    static let chain = "etcd-test"

    static func transactions(_ count: Int, from start: Int = 0) -> [VerifiedTransaction] {
        (start..<start + count).map { index in
            let body = TransactionBody(chainId: chain, sender: keys.derivedID, publicKey: keys.signingPublicKey, sequence: UInt64(index + 1),
                                       contract: "test-contract", method: "test-method", args: .int(Int64(index)))
            return try! VerifiedTransaction.verify(Transaction.sign(body, with: keys))
        }
    }

    static func orderer(_ etcd: EtcdClient, _ node: String, clock: any LedgerClock = SystemClock(), after: Int64 = 0,
                        committed: Set<Hash256> = []) -> EtcdOrderer {
        EtcdOrderer(client: etcd, configuration: .init(chainId: chain, nodeName: node, batchTransactionsMax: 50, batchDelayMs: 5),
                    clock: clock, after: after, lastTimeMs: 0, alreadyOrdered: { committed.intersection($0) })
    }

    /// Batches from `orderer` until `count` transactions have come.
    static func read(_ orderer: EtcdOrderer, transactions count: Int) async -> [OrderedBatch] {
        var out: [OrderedBatch] = []
        while out.reduce(0, { $0 + $1.transactions.count }) < count, let batch = await orderer.nextBatch() { out.append(batch) }
        return out
    }

    struct Summary: Equatable {
        let ids: [[Hash256]]
        let times: [Int64]
        let positions: [Int64?]
        init(_ batches: [OrderedBatch]) {
            (ids, times, positions) = (batches.map { $0.transactions.map(\.id) }, batches.map(\.timeMs), batches.map(\.position))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func everyNodeReadsTheSameOrder() async throws {
        try await EtcdProcess.with { _, etcd in
            let behind = OffsetClock(offsetMs: -60_000)  // node c's clock is a minute slow
            let nodes = [Self.orderer(etcd, "a"), Self.orderer(etcd, "b"), Self.orderer(etcd, "c", clock: behind)]
            let txs = Self.transactions(300)
            // Each node submits its own third, concurrently, in small groups; tx 0…9 go through two nodes.
            await withTaskGroup(of: Void.self) { group in
                for (index, node) in nodes.enumerated() {
                    group.addTask {
                        for start in stride(from: index * 100, to: index * 100 + 100, by: 10) {
                            try? node.submit(Array(txs[start..<start + 10]))
                            try? await Task.sleep(for: .milliseconds(3))
                        }
                    }
                }
            }
            try nodes[1].submit(Array(txs[0..<10]))
            var views: [[OrderedBatch]] = []
            for node in nodes { views.append(await Self.read(node, transactions: 300)) }
            for node in nodes { node.close() }

            let first = Summary(views[0])
            #expect(views.allSatisfy { Summary($0) == first }, "the three nodes read different orders")
            let all = first.ids.flatMap { $0 }
            #expect(all.count == 300 && Set(all) == Set(txs.map(\.id)), "every transaction once: \(all.count)")
            #expect(zip(first.times, first.times.dropFirst()).allSatisfy { $0 < $1 }, "times strictly increase")
            #expect(first.positions.allSatisfy { $0 != nil } && first.positions == first.positions.sorted { $0! < $1! })
            // A node's own transactions keep their relative order.
            let position = Dictionary(uniqueKeysWithValues: all.enumerated().map { ($1, $0) })
            for third in 0..<3 {
                let mine = txs[(third * 100)..<(third * 100 + 100)].compactMap { position[$0.id] }
                if third > 0 { #expect(mine == mine.sorted(), "node \(third)'s order was changed") }
            }

            // A node that restarts after the 3rd batch — having committed those batches' transactions, which
            // its store now answers for — reads the rest exactly as the others did (the duplicates of
            // transactions 0…9 that node b sent late included: they are still dropped).
            let resumedAt = try #require(first.positions[2])
            let restarted = Self.orderer(etcd, "a", after: resumedAt, committed: Set(first.ids.prefix(3).flatMap { $0 }))
            let rest = await Self.read(restarted, transactions: 300 - first.ids.prefix(3).reduce(0) { $0 + $1.count })
            restarted.close()
            #expect(Summary(rest).ids == Array(first.ids.dropFirst(3)) && Summary(rest).positions == Array(first.positions.dropFirst(3)))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aForgedBatchIsDroppedByEveryNode() async throws {
        try await EtcdProcess.with { _, etcd in
            let node = Self.orderer(etcd, "a")
            let txs = Self.transactions(3)
            // A batch with a transaction whose signature does not verify, one of another chain, and garbage.
            var forged = txs[0].transaction.bytes
            forged[forged.count - 1] ^= 1
            let otherChain = try VerifiedTransaction.verify(Transaction.sign(TransactionBody(
                chainId: "another", sender: Self.keys.derivedID, publicKey: Self.keys.signingPublicKey, sequence: 1,
                contract: "test-contract", method: "test-method", args: .int(1)), with: Self.keys))
            let value = CanonicalValue.map(["v": .int(1), "timeMs": .int(5), "origin": .string("mallory"),
                                            "transactions": .list([.bytes(forged), .bytes(otherChain.transaction.bytes), .bytes([1, 2, 3])])]).encoded
            try await etcd.put(Array("careledger/\(Self.chain)/log/mallory/1".utf8), value)
            try await etcd.put(Array("careledger/\(Self.chain)/log/mallory/2".utf8), [0xFF, 0x00])
            try node.submit(txs)
            let batches = await Self.read(node, transactions: 3)
            node.close()
            #expect(batches.flatMap(\.transactions).map(\.id) == txs.map(\.id), "only the genuine transactions are ordered")
        }
    }

    /// A lone client waits for its commit before it sends again. Its next transaction must not wait
    /// out the batch delay (it did: every one took ≈ `batchDelayMs`, 50 ms in a consortium), but
    /// while the node has not committed its last batch, a new one still fills.
    @Test(.timeLimit(.minutes(3)))
    func aBatchGoesAtOnceWhenTheNodeCommittedItsLastOne() async throws {
        try await EtcdProcess.with { _, etcd in
            // A clock that never moves: only the node's commit can end a batch's wait.
            let clock = ManualClock(startMs: 1_000_000)
            let node = EtcdOrderer(client: etcd, configuration: .init(chainId: Self.chain, nodeName: "a", batchTransactionsMax: 50, batchDelayMs: 60_000),
                                   clock: clock, after: 0, lastTimeMs: 0)
            defer { node.close() }
            let txs = Self.transactions(3)
            try node.submit([txs[0]])
            let first = try #require(await node.nextBatch())
            #expect(first.transactions.map(\.id) == [txs[0].id], "the first transaction goes at once")
            let position = try #require(first.position)

            // Not committed yet: the next transaction fills.
            try node.submit([txs[1]])
            let next = Task { await node.nextBatch() }
            try await Task.sleep(for: .milliseconds(500))
            try node.submit([txs[2]])
            // Committed: the waiting batch goes, with everything that arrived meanwhile.
            node.committed(blocks: 1, through: position)
            let deadline = Task {
                try await Task.sleep(for: .seconds(10))
                next.cancel()
            }
            let second = await next.value
            deadline.cancel()
            #expect(second?.transactions.map(\.id) == [txs[1].id, txs[2].id],
                    "once the node committed its last batch, the waiting one goes without the 60 s delay")
            #expect(clock.monotonicMs() == 0)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func compactedHistoryIsReported() async throws {
        try await EtcdProcess.with { _, etcd in
            let writer = Self.orderer(etcd, "a")
            try writer.submit(Self.transactions(20))
            let batches = await Self.read(writer, transactions: 20)
            writer.close()
            let last = try #require(batches.last?.position)
            try await etcd.compact(revision: last)
            // A node that last applied position 1 needs revisions etcd no longer has.
            let late = Self.orderer(etcd, "b", after: 1)
            #expect(await late.nextBatch() == nil)
            #expect(late.failure == .compacted(oldestRevision: last))
            late.close()
        }
    }
}

/// The system clock, `offsetMs` away on the wall.
struct OffsetClock: LedgerClock {
    let offsetMs: Int64
    let system = SystemClock()
    func nowMs() -> Int64 { system.nowMs() + offsetMs }
    func monotonicMs() -> Int64 { system.monotonicMs() }
    func sleep(untilMonotonicMs deadlineMs: Int64) async throws { try await system.sleep(untilMonotonicMs: deadlineMs) }
}
