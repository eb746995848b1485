import ArgumentParser
import ConsortiumNetwork
import Console
import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Synchronization

/// `careledger bench network`: three organizations' nodes ordered by a 3-member etcd cluster on
/// loopback, beside one node alone and the signature-verification limit, all measured in this run.
struct NetworkBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "A consortium on loopback (etcd cluster + one node per organization, the nodes in this process): committed and final tx/s, commit and finality latency p50/p99, beside one node alone and the Ed25519 limit.",
        discussion: """
            Each organization submits pre-signed anchors through its own node; every node verifies every signature \
            (admission on the submitting node, then ordering on each), so N nodes sharing the machine's cores have a \
            limit of about cores × one core's verifications/s ÷ N. Needs etcd (apt-get install etcd-server).
            """)

    @Option(help: "Transactions in all (split between the organizations).") var transactions = 30_000
    @Option(help: "Organizations, one node each (2…5).") var organizations = 3
    @Option(help: "First port of the range the etcd members use.") var basePort = 7700
    @Option(help: "Most transactions each organization has submitted and not yet seen committed (saturation phase).") var inFlight = 4_000
    @Option(help: "Offered load of the paced phase, tx/s in all (0: 60% of the limit, or 80% of what the saturation phase sustained if that is less).")
    var pacedRate = 0
    @Option(help: "Length of the paced phase, in seconds (1…120).") var pacedSeconds = 5
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (3_000...1_000_000).contains(transactions) else { throw ValidationError("--transactions must be 3000…1000000") }
        guard (2...5).contains(organizations) else { throw ValidationError("--organizations must be 2…5") }
        guard (1...100_000).contains(inFlight) else { throw ValidationError("--in-flight must be 1…100000") }
        guard (0...1_000_000).contains(pacedRate) else { throw ValidationError("--paced-rate must be 0…1000000 tx/s") }
        guard (1...120).contains(pacedSeconds) else { throw ValidationError("--paced-seconds must be 1…120") }
    }

    struct Result {
        var committedPerSecond = 0.0, finalPerSecond = 0.0
        var commitP50 = 0.0, commitP99 = 0.0, finalP50 = 0.0, finalP99 = 0.0
        var stateRoots: Set<String> = []
    }

    func run() async throws {
        if !json { Terminal.line("measuring this machine's limits…") }
        let limits = MachineLimits.measure()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-bench-network-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let specs = (0..<organizations).map { OrganizationSpec(name: "org-\($0 + 1)", type: $0 == 0 ? .hospital : .clinic) }

        // One node alone, the same load.
        if !json { Terminal.line("one node alone: \(grouped(transactions)) transactions…") }
        let single = DataDirectory(url: root.appendingPathComponent("single"))
        try single.initialize(chainId: "careledger-bench-network", organizations: specs, insecurePlainKeys: true)
        let alone = try await LocalLedger.open(single)
        let soloSigned = Self.presign(try specs.map { try single.loadKey($0.name) }, total: transactions, chainId: "careledger-bench-network")
        let solo = try await Self.measure(soloSigned, Array(repeating: alone, count: specs.count), inFlight: inFlight)
        await alone.close()

        // The consortium.
        let network = try LocalNetwork.create(root: root.appendingPathComponent("network"), chainId: "careledger-bench-network",
                                              organizations: specs, etcdMembers: 3, basePort: basePort, plainKeys: true, passphrase: nil)
        let etcd = try LocalNetwork.etcdBinary()
        for member in network.layout.etcd { try network.start(member.name, careledger: "", etcd: etcd) }
        defer { Task { try? await network.down() } }
        guard await network.waitHealthy(network.layout.etcd.map(\.name), seconds: 60) else { throw CLIError("etcd did not start; see \(root.path)") }
        var ledgers: [LocalLedger] = []
        for spec in specs { ledgers.append(try await LocalLedger.open(DataDirectory(url: network.root.appendingPathComponent("orgs/\(spec.name)")))) }
        let signed = Self.presign(try zip(specs, ledgers).map { try $1.directory.loadKey($0.name) }, total: transactions,
                                  chainId: "careledger-bench-network")
        if !json { Terminal.line("\(organizations) nodes through etcd: \(grouped(transactions)) transactions…") }
        var result = try await Self.measure(signed, ledgers, inFlight: inFlight)
        // Latency at an offered load below saturation (`--paced-rate`; by default 60% of the limit,
        // or 80% of what the consortium just sustained if that is less), for `--paced-seconds`.
        let limit = limits.ed25519VerifyPerSecond / Double(organizations)
        let pacedRate = self.pacedRate > 0 ? Double(self.pacedRate) : min(0.6 * limit, 0.8 * result.committedPerSecond)
        let pacedPer = max(100, Int(pacedRate * Double(pacedSeconds)) / organizations)
        let keys = try zip(specs, ledgers).map { try $1.directory.loadKey($0.name) }
        let pacedSigned = keys.enumerated().map { organization, key in
            LedgerBench.signAll(pacedPer) { index in
                (key, TransactionBody(chainId: "careledger-bench-network", sender: key.derivedID, publicKey: key.signingPublicKey,
                                      sequence: UInt64(transactions / organizations + 2 + index),
                                      call: AnchorContract.Put(digest: Hash256.sha256(Array("bench-paced-\(organization)-\(index)".utf8)), kind: "bench")))
            }
        }
        if !json { Terminal.line("\(organizations) nodes through etcd, paced at \(grouped(Int(pacedRate))) tx/s…") }
        let paced = try await Self.measure(pacedSigned, ledgers, ratePerSecond: pacedRate)
        // Latency without queueing: one transaction at a time through the first organization's node.
        let probeKeys = keys[0]
        let firstSequence = UInt64(transactions / organizations + pacedPer) + 2
        var probeCommit: [Double] = [], probeFinal: [Double] = []
        for offset in 0..<UInt64(200) {
            let tx = Transaction.sign(TransactionBody(chainId: "careledger-bench-network", sender: probeKeys.derivedID, publicKey: probeKeys.signingPublicKey,
                                                      sequence: firstSequence + offset,
                                                      call: AnchorContract.Put(digest: Hash256.sha256(Array("bench-probe-\(offset)".utf8)), kind: "bench")), with: probeKeys)
            let clock = ContinuousClock(), started = clock.now
            _ = try await ledgers[0].node.submit(tx)
            _ = try await ledgers[0].node.awaitCommit(tx.id)
            probeCommit.append(Double((clock.now - started) / .microseconds(1)) / 1_000)
            _ = try await ledgers[0].node.awaitFinal(tx.id)
            probeFinal.append(Double((clock.now - started) / .microseconds(1)) / 1_000)
        }
        probeCommit.sort()
        probeFinal.sort()
        for ledger in ledgers {
            result.stateRoots.insert(await ledger.node.headHeader.stateRoot.hex)
            await ledger.close()
        }
        try await network.down()

        // `ed25519VerifyPerSecond` is already every core's together (cores × one core's rate):
        // N nodes each verifying every signature share it.
        if json {
            Terminal.json(["transactions": transactions, "organizations": organizations, "cores": limits.cores,
                           "ed25519VerifyPerSecond": Int(limits.ed25519VerifyPerSecond), "limitTxPerSecond": Int(limit),
                           "singleNodeTxPerSecond": Int(solo.committedPerSecond), "committedTxPerSecond": Int(result.committedPerSecond),
                           "finalTxPerSecond": Int(result.finalPerSecond), "ratioOfLimit": result.committedPerSecond / limit,
                           "commitP50Ms": result.commitP50, "commitP99Ms": result.commitP99, "finalP50Ms": result.finalP50,
                           "finalP99Ms": result.finalP99, "sameStateRoot": result.stateRoots.count == 1,
                           "unloadedCommitP50Ms": percentile(probeCommit, 0.5), "unloadedCommitP99Ms": percentile(probeCommit, 0.99),
                           "unloadedFinalP50Ms": percentile(probeFinal, 0.5), "unloadedFinalP99Ms": percentile(probeFinal, 0.99),
                           "pacedOfferedTxPerSecond": Int(pacedRate), "pacedCommittedTxPerSecond": Int(paced.committedPerSecond),
                           "pacedCommitP50Ms": paced.commitP50, "pacedCommitP99Ms": paced.commitP99,
                           "pacedFinalP50Ms": paced.finalP50, "pacedFinalP99Ms": paced.finalP99])
        } else {
            Terminal.line("limit        \(grouped(Int(limits.ed25519VerifyPerSecond))) Ed25519 verifications/s on all \(limits.cores) cores ÷ \(organizations) nodes = \(grouped(Int(limit))) tx/s")
            Terminal.line("one node     \(grouped(Int(solo.committedPerSecond))) tx/s committed, p50 \(String(format: "%.1f", solo.commitP50)) ms, p99 \(String(format: "%.1f", solo.commitP99)) ms")
            Terminal.line("consortium   \(grouped(Int(result.committedPerSecond))) tx/s committed (\(String(format: "%.1f", 100 * result.committedPerSecond / limit))% of the limit; target ≥ 60%), "
                          + "\(grouped(Int(result.finalPerSecond))) tx/s final")
            Terminal.line("under load   commit p50 \(String(format: "%.1f", result.commitP50)) ms, p99 \(String(format: "%.1f", result.commitP99)) ms (target < 250); "
                          + "final p50 \(String(format: "%.1f", result.finalP50)) ms, p99 \(String(format: "%.1f", result.finalP99)) ms")
            Terminal.line("paced        \(grouped(Int(pacedRate))) tx/s offered (\(String(format: "%.1f", 100 * pacedRate / limit))% of the limit), "
                          + "\(grouped(Int(paced.committedPerSecond))) committed: commit p50 \(String(format: "%.1f", paced.commitP50)) ms, "
                          + "p99 \(String(format: "%.1f", paced.commitP99)) ms (target < 250); final p50 \(String(format: "%.1f", paced.finalP50)) ms, "
                          + "p99 \(String(format: "%.1f", paced.finalP99)) ms")
            Terminal.line("one at a time commit p50 \(String(format: "%.1f", percentile(probeCommit, 0.5))) ms, p99 \(String(format: "%.1f", percentile(probeCommit, 0.99))) ms; "
                          + "final p50 \(String(format: "%.1f", percentile(probeFinal, 0.5))) ms, p99 \(String(format: "%.1f", percentile(probeFinal, 0.99))) ms (200 transactions, no queue)")
            Terminal.line("state roots  \(result.stateRoots.count == 1 ? "identical on every node" : "DIFFER: \(result.stateRoots.sorted())")")
        }
        if result.stateRoots.count != 1 { throw CLIError("the nodes ended with different state roots") }
    }

    /// Anchors from each organization's key, its sequence numbers from 2 (genesis used 1).
    static func presign(_ keys: [IdentityKeys], total: Int, chainId: String) -> [[Transaction]] {
        let per = total / keys.count
        return keys.enumerated().map { organization, key in
            LedgerBench.signAll(per) { index in
                (key, TransactionBody(chainId: chainId, sender: key.derivedID, publicKey: key.signingPublicKey, sequence: UInt64(index + 2),
                                      call: AnchorContract.Put(digest: Hash256.sha256(Array("bench-network-\(organization)-\(index)".utf8)), kind: "bench")))
            }
        }
    }

    /// Each organization submits its transactions through its own node (at most `inFlight` in flight
    /// each); commit times come from the node's block stream, final times from its final height.
    /// `ratePerSecond`: the offered load in all (spread evenly over time, in groups every 5 ms);
    /// nil offers everything at once (at most `inFlight` per organization), which measures the
    /// throughput at saturation and a latency that is mostly the queue.
    static func measure(_ signed: [[Transaction]], _ ledgers: [LocalLedger], ratePerSecond: Double? = nil, inFlight: Int = 4_000) async throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let outcomes = try await withThrowingTaskGroup(of: (commits: [Double], finals: [Double], lastCommit: Double, lastFinal: Double).self) { group in
            for (transactions, ledger) in zip(signed, ledgers) {
                group.addTask {
                    let node = ledger.node
                    let commits = await node.commits()
                    let index = Dictionary(uniqueKeysWithValues: transactions.enumerated().map { ($1.id, $0) })
                    var committedAt = [ContinuousClock.Instant?](repeating: nil, count: transactions.count)
                    var heightOf = [UInt64](repeating: 0, count: transactions.count)
                    let committedCount = Counter()
                    // Every change of the final height, with when it was seen (polled each millisecond).
                    let finalReadings = FinalReadings()
                    let poller = Task {
                        var seen: UInt64 = 0
                        while !Task.isCancelled {
                            let final = node.finalHeight
                            if final > seen { finalReadings.append((final, clock.now)); seen = final }
                            try? await Task.sleep(for: .milliseconds(1))
                        }
                    }
                    let submitter = Task {
                        var submitted = [ContinuousClock.Instant](repeating: start, count: transactions.count)
                        var next = 0
                        let perOrganization = ratePerSecond.map { $0 / Double(signed.count) }
                        let group = perOrganization.map { max(1, Int(($0 * 0.005).rounded())) } ?? min(500, inFlight)
                        while next < transactions.count {
                            while next - committedCount.value >= inFlight { try await Task.sleep(for: .milliseconds(1)) }
                            let end = min(next + group, transactions.count)
                            var now = clock.now
                            if let perOrganization {
                                // The group's scheduled time: latency counts from it, so falling behind shows.
                                let due = start + .microseconds(Int64(Double(next) / perOrganization * 1e6))
                                if due > now { try await Task.sleep(until: due, clock: clock) }
                                now = due
                            }
                            for i in next..<end { submitted[i] = now }
                            for result in await node.submit(Array(transactions[next..<end])) {
                                if case .failure(let error) = result { throw CLIError("bench transaction refused: \(error)") }
                            }
                            next = end
                        }
                        return submitted
                    }
                    var done = 0
                    for await block in commits {
                        let now = clock.now
                        for id in block.transactionIDs {
                            guard let i = index[id] else { continue }
                            committedAt[i] = now
                            heightOf[i] = block.header.height
                            done += 1
                        }
                        committedCount.value = done
                        if done >= transactions.count { break }
                    }
                    let submitted = try await submitter.value
                    // Final times: the final height as the poller saw it, from the start.
                    let top = heightOf.max() ?? 0
                    let deadline = clock.now + .seconds(120)
                    while (finalReadings.last?.0 ?? 0) < top, clock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                    poller.cancel()
                    let finalAtHeight = finalReadings.all
                    guard (finalAtHeight.last?.0 ?? 0) >= top else { throw CLIError("blocks were not final within 120 s (head \(top))") }
                    func ms(_ d: Duration) -> Double { Double(d / .microseconds(1)) / 1_000 }
                    var commitLatency: [Double] = [], finalLatency: [Double] = []
                    for i in transactions.indices {
                        let committed = committedAt[i] ?? start
                        commitLatency.append(ms(committed - submitted[i]))
                        // Final at the first reading of the final height that covers its block (or when it committed, if already final).
                        let finalAt = finalAtHeight.first { $0.0 >= heightOf[i] }?.1 ?? committed
                        finalLatency.append(ms(max(finalAt, committed) - submitted[i]))
                    }
                    let lastCommit = ms((committedAt.compactMap { $0 }.max() ?? start) - start)
                    let lastFinal = ms((finalAtHeight.last?.1 ?? start) - start)
                    return (commitLatency, finalLatency, lastCommit, lastFinal)
                }
            }
            var all: [(commits: [Double], finals: [Double], lastCommit: Double, lastFinal: Double)] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        let total = Double(signed.reduce(0) { $0 + $1.count })
        let commits = outcomes.flatMap(\.commits).sorted(), finals = outcomes.flatMap(\.finals).sorted()
        return Result(committedPerSecond: total / (outcomes.map(\.lastCommit).max()! / 1_000),
                      finalPerSecond: total / (outcomes.map(\.lastFinal).max()! / 1_000),
                      commitP50: percentile(commits, 0.5), commitP99: percentile(commits, 0.99),
                      finalP50: percentile(finals, 0.5), finalP99: percentile(finals, 0.99))
    }
}

/// The final heights a poller saw, with the time it saw each.
final class FinalReadings: Sendable {
    private let readings = Mutex<[(UInt64, ContinuousClock.Instant)]>([])
    func append(_ reading: (UInt64, ContinuousClock.Instant)) { readings.withLock { $0.append(reading) } }
    var last: (UInt64, ContinuousClock.Instant)? { readings.withLock { $0.last } }
    var all: [(UInt64, ContinuousClock.Instant)] { readings.withLock { $0 } }
}
