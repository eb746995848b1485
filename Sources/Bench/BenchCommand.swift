import Console
public import ArgumentParser
import Contracts
import Demo
import Dispatch
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Synchronization

/// `careledger bench`: measurements that print the machine's limits next to the result.
public struct BenchCommand: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks; each prints the relevant machine limit measured in the same run and the ratio.",
        subcommands: [LedgerBench.self, ConsentBench.self, ImportBench.self, APIBench.self, ContractBench.self, NetworkBench.self, SnapshotBench.self, ValidateBench.self, PortalBench.self])
}

/// Limits of this machine, measured now (machines are shared and noisy).
struct MachineLimits {
    let cores: Int
    let ed25519VerifyPerSecond: Double
    let sha256MBPerSecond: Double

    /// Ed25519 verifications/s on all cores and single-core SHA-256 MB/s, ~1 s each.
    static func measure() -> MachineLimits {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let keys = IdentityKeys(seed: Array(repeating: 7, count: 32))
        let message = Array(repeating: UInt8(0xab), count: 200)
        let signature = keys.sign(message)
        let key = keys.signingPublicKey
        let perCore = Mutex<[Int]>(Array(repeating: 0, count: cores))
        let verifyStart = DispatchTime.now()
        DispatchQueue.concurrentPerform(iterations: cores) { core in
            var count = 0
            let deadline = DispatchTime.now().uptimeNanoseconds + 1_000_000_000
            while DispatchTime.now().uptimeNanoseconds < deadline {
                for _ in 0..<100 { precondition(key.isValidSignature(signature, for: message)) }
                count += 100
            }
            perCore.withLock { $0[core] = count }
        }
        let verifySeconds = Double(DispatchTime.now().uptimeNanoseconds - verifyStart.uptimeNanoseconds) / 1e9
        let verified = perCore.withLock { $0.reduce(0, +) }

        let buffer = [UInt8](repeating: 0x5a, count: 1 << 20)
        var hashed = 0
        let shaStart = DispatchTime.now().uptimeNanoseconds
        var sink = Hash256.zero
        while DispatchTime.now().uptimeNanoseconds - shaStart < 700_000_000 {
            sink = Hash256.sha256(buffer)
            hashed += buffer.count
        }
        precondition(sink != .zero)
        let shaSeconds = Double(DispatchTime.now().uptimeNanoseconds - shaStart) / 1e9
        return MachineLimits(cores: cores, ed25519VerifyPerSecond: Double(verified) / verifySeconds,
                             sha256MBPerSecond: Double(hashed) / shaSeconds / 1e6)
    }
}

/// `careledger bench ledger`.
struct LedgerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Commit pre-signed transactions through the real node and SQLite (synchronous=FULL); report tx/s, commit latency, and commit cost at growing chain lengths.")

    @Option(help: "Transactions committed through the node.") var transactions = 200_000
    @Option(help: "Distinct senders (enrolled devices).") var senders = 1_000
    @Option(help: "Largest chain length for the commit-cost-vs-length run (0 skips it).") var flatMax = 1_000_000
    @Option(help: "Keep the benchmark chain in this directory (default: a temporary one, deleted).") var data: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1_000...5_000_000).contains(transactions) else { throw ValidationError("--transactions must be 1000…5000000") }
        guard (1...10_000).contains(senders) else { throw ValidationError("--senders must be 1…10000") }
        guard flatMax == 0 || (10_000...10_000_000).contains(flatMax) else { throw ValidationError("--flat-max must be 0 or 10000…10000000") }
    }

    func run() async throws {
        let root = data.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("careledger-bench-\(UUID().uuidString)")
        defer { if data == nil { try? FileManager.default.removeItem(at: root) } }
        if !json { Terminal.line("measuring machine limits…") }
        let limits = MachineLimits.measure()
        if !json {
            Terminal.line("  \(limits.cores) cores: Ed25519 \(grouped(Int(limits.ed25519VerifyPerSecond))) verifications/s (all cores), SHA-256 \(grouped(Int(limits.sha256MBPerSecond))) MB/s (one core)")
        }
        let throughput = try await runThroughput(DataDirectory(url: root.appendingPathComponent("throughput")), limits: limits)
        let flat = flatMax > 0 ? try runFlatness(DataDirectory(url: root.appendingPathComponent("flat"))) : []

        let txPerSecond = throughput.txPerSecond
        let verifyRatio = txPerSecond / limits.ed25519VerifyPerSecond
        let shaRatio = throughput.bytesPerSecond / 1e6 / limits.sha256MBPerSecond
        if json {
            Terminal.json([
                "transactions": transactions, "senders": senders, "cores": limits.cores,
                "committedTxPerSecond": txPerSecond, "commitLatencyMs": ["p50": throughput.p50Ms, "p99": throughput.p99Ms],
                "blocks": throughput.blocks, "seconds": throughput.seconds,
                "limits": ["ed25519VerifyPerSecond": limits.ed25519VerifyPerSecond, "sha256MBPerSecond": limits.sha256MBPerSecond],
                "ratios": ["txPerSecondToEd25519Verify": verifyRatio, "transactionMBPerSecondToSha256": shaRatio],
                "commitCostByChainLength": flat.map { ["chainLength": $0.length, "microsecondsPerTransaction": $0.microsPerTx] },
            ])
        } else {
            Terminal.line("")
            Terminal.line("committed      \(grouped(transactions)) signed transactions from \(grouped(senders)) senders in \(throughput.blocks) blocks, \(fixed(throughput.seconds, 2)) s")
            Terminal.line("throughput     \(grouped(Int(txPerSecond))) tx/s  (\(fixed(verifyRatio * 100))% of the Ed25519 verify limit \(grouped(Int(limits.ed25519VerifyPerSecond)))/s; target ≥ 20,000 tx/s, ≥ 70%)")
            Terminal.line("bytes          \(fixed(throughput.bytesPerSecond / 1e6)) MB/s of transactions (\(fixed(shaRatio * 100, 2))% of SHA-256 \(grouped(Int(limits.sha256MBPerSecond))) MB/s)")
            Terminal.line("commit latency p50 \(fixed(throughput.p50Ms)) ms, p99 \(fixed(throughput.p99Ms)) ms (submit → durable commit acknowledged)")
            if !flat.isEmpty {
                Terminal.line("commit cost by chain length (execute + Merkle + SQLite FULL, blocks of 2,000):")
                for point in flat { Terminal.line("  \(pad(grouped(point.length), 10)) \(fixed(point.microsPerTx, 2)) µs/tx") }
                Terminal.line("  ratio \(grouped(flat.last!.length)) / \(grouped(flat.first!.length)): \(fixed(flat.last!.microsPerTx / flat.first!.microsPerTx, 2))× (flat = 1.0)")
            }
        }
    }

    struct Throughput {
        let txPerSecond: Double
        let bytesPerSecond: Double
        let p50Ms: Double
        let p99Ms: Double
        let blocks: Int
        let seconds: Double
    }

    /// Enrolls `count` devices from the administrator and returns their keys.
    static func enrollDevices(_ ledger: LocalLedger, count: Int, admin: IdentityKeys, role: Role = .integration,
                              name: String = "bench-device") async throws -> [IdentityKeys] {
        let devices = (0..<count).map { IdentityKeys(seed: Hash256.sha256(Array("\(name)-\($0)".utf8)).bytes) }
        let enrollments = devices.enumerated().map { index, device in
            ledger.sign(admin, MembershipContract.Enroll(
                kind: .device, label: "\(name)-\(index)", roles: [role], signingKey: device.signingPublicKey,
                agreementKey: device.agreementPublicKey))
        }
        try await commitSetup(ledger, enrollments)
        return devices
    }

    /// Commits setup transactions in chunks of 1,000 and checks every one was accepted.
    static func commitSetup(_ ledger: LocalLedger, _ transactions: [Transaction]) async throws {
        for start in stride(from: 0, to: transactions.count, by: 1_000) {
            let chunk = Array(transactions[start..<min(transactions.count, start + 1_000)])
            let ids = try await ledger.node.submit(chunk).map { try $0.get() }
            for id in ids {
                let status = try await ledger.node.awaitCommit(id)
                guard status.result.isAccepted else { throw CLIError("bench setup refused: \(status.result.message)") }
            }
        }
    }

    /// Signs anchor transactions `range` (round robin over senders) on all cores.
    static func presign(_ range: Range<Int>, devices: [IdentityKeys], chainId: String, sequenceBase: UInt64 = 0) -> [Transaction] {
        signAll(range.count) { offset in
            let index = range.lowerBound + offset
            let device = devices[index % devices.count]
            return (device, TransactionBody(
                chainId: chainId, sender: device.derivedID, publicKey: device.signingPublicKey,
                sequence: sequenceBase + UInt64(index / devices.count) + 1,
                call: AnchorContract.Put(digest: Hash256.sha256(Array("bench-\(index)".utf8)), kind: "bench")))
        }
    }

    /// Builds and signs `count` transactions on all cores; `make(i)` gives the signer and body of the i-th.
    static func signAll(_ count: Int, _ make: @Sendable (Int) -> (IdentityKeys, TransactionBody)) -> [Transaction] {
        AllCores.map(Array(0..<count), chunk: 512) { index in
            let (keys, body) = make(index)
            return Transaction.sign(body, with: keys)
        }
    }

    func runThroughput(_ directory: DataDirectory, limits: MachineLimits) async throws -> Throughput {
        try directory.initialize(chainId: "careledger-bench", organizations: [OrganizationSpec(name: "bench-operator", type: .operator)], insecurePlainKeys: true)
        let ledger = try await LocalLedger.open(directory)
        let devices = try await Self.enrollDevices(ledger, count: senders, admin: try directory.loadKey("bench-operator"))
        if !json { Terminal.line("pre-signing \(grouped(transactions)) transactions…") }
        let signed = Self.presign(0..<transactions, devices: devices, chainId: "careledger-bench")
        let throughput = try await Self.commitAll(signed, through: ledger, progress: !json)
        await ledger.close()
        return throughput
    }

    /// Submits pre-signed transactions to the node from four concurrent clients (each owns a
    /// disjoint set of senders, so every sender's sequence numbers arrive in order), keeping at
    /// most 4,000 in flight, and measures committed throughput and submit → durable latency.
    static func commitAll(_ signed: [Transaction], through ledger: LocalLedger, progress: Bool) async throws -> Throughput {
        let transactions = signed.count
        let totalBytes = signed.reduce(0) { $0 + $1.bytes.count }
        let window = 4_000
        let chunk = 500
        let clients = 4
        var clientOf: [IdentityID: Int] = [:]
        for tx in signed where clientOf[tx.body.sender] == nil { clientOf[tx.body.sender] = clientOf.count % clients }
        let groups: [[Int]] = (0..<clients).map { client in signed.indices.filter { clientOf[signed[$0].body.sender] == client } }
        let indexOf = Dictionary(uniqueKeysWithValues: signed.enumerated().map { ($1.id, $0) })
        let committed = Counter()
        let clock = ContinuousClock()
        let signedTransactions = signed
        var bar = ProgressBar("committing", total: UInt64(transactions), enabled: Terminal.stderrIsTTY && progress)
        let commits = await ledger.node.commits()
        let node = ledger.node
        let start = clock.now
        let submitters = groups.map { group in
            Task { () throws -> [(Int, ContinuousClock.Instant)] in
                var times: [(Int, ContinuousClock.Instant)] = []
                times.reserveCapacity(group.count)
                var next = 0
                while next < group.count {
                    while committed.value + window <= times.count * clients { try await Task.sleep(for: .milliseconds(1)) }
                    let end = min(next + chunk, group.count)
                    let now = clock.now
                    let batch = group[next..<end].map { index in
                        times.append((index, now))
                        return signedTransactions[index]
                    }
                    for result in await node.submit(batch) {
                        if case .failure(let error) = result { throw CLIError("bench transaction refused: \(error)") }
                    }
                    next = end
                }
                return times
            }
        }
        var commitTimes = [ContinuousClock.Instant](repeating: start, count: transactions)
        var blocks = 0
        var done = 0
        for await block in commits {
            let now = clock.now
            for id in block.transactionIDs {
                guard let index = indexOf[id] else { preconditionFailure("committed a transaction the bench did not submit") }
                commitTimes[index] = now
            }
            done += block.transactionIDs.count
            blocks += 1
            committed.value = done
            bar.update(UInt64(done))
            if done >= transactions { break }
        }
        let end = clock.now
        bar.finish()
        var latenciesMs: [Double] = []
        latenciesMs.reserveCapacity(transactions)
        for submitter in submitters {
            for (index, submitted) in try await submitter.value {
                latenciesMs.append(Double((commitTimes[index] - submitted) / .microseconds(1)) / 1_000)
            }
        }
        latenciesMs.sort()
        let seconds = Double((end - start) / .microseconds(1)) / 1e6
        return Throughput(txPerSecond: Double(transactions) / seconds, bytesPerSecond: Double(totalBytes) / seconds,
                          p50Ms: percentile(latenciesMs, 0.5), p99Ms: percentile(latenciesMs, 0.99), blocks: blocks, seconds: seconds)
    }

    struct FlatPoint {
        let length: Int
        let microsPerTx: Double
    }

    /// Fills a fresh chain with `DirectBlockWriter` (signatures made off the clock) and times the
    /// commit of a few 2,000-transaction blocks as the chain passes 10⁴, 10⁵, 10⁶ … transactions.
    func runFlatness(_ directory: DataDirectory) throws -> [FlatPoint] {
        try directory.initialize(chainId: "careledger-flat", organizations: [OrganizationSpec(name: "flat-operator", type: .operator)], insecurePlainKeys: true)
        let store = try directory.openStore()
        var writer = try DirectBlockWriter(store: store, ordererKeys: try directory.loadKey("node"))
        let admin = try directory.loadKey("flat-operator")
        let deviceCount = 1_000
        let devices = (0..<deviceCount).map { IdentityKeys(seed: Hash256.sha256(Array("flat-device-\($0)".utf8)).bytes) }
        let enroll = devices.enumerated().map { index, device in
            Transaction.sign(TransactionBody(chainId: "careledger-flat", sender: admin.derivedID, publicKey: admin.signingPublicKey,
                                             sequence: UInt64(index) + 2, call: MembershipContract.Enroll(
                kind: .device, label: "flat-device-\(index)", roles: [.integration], signingKey: device.signingPublicKey,
                agreementKey: device.agreementPublicKey)), with: admin)
        }
        let clock = SystemClock()
        _ = try writer.commit(enroll.map { try VerifiedTransaction.verify($0) }, timeMs: clock.nowMs())
        var checkpoints: [Int] = []
        var length = 10_000
        while length <= flatMax { checkpoints.append(length); length *= 10 }
        let blockSize = 2_000, sampleBlocks = 5, signChunk = 50_000
        var points: [FlatPoint] = []
        var produced = 0
        var bar = ProgressBar("filling", total: UInt64(flatMax), enabled: Terminal.stderrIsTTY && !json)
        if !json { Terminal.line("filling a chain to \(grouped(flatMax)) transactions for commit cost by length…") }
        while let target = checkpoints.first {
            // Fill up to the checkpoint minus the sample, then time the sample blocks.
            let sampleStart = target - blockSize * sampleBlocks
            var sampleNanos: UInt64 = 0
            var sampled = 0
            while Int(writer.head.logSize) < target {
                let size = Int(writer.head.logSize)
                let count = min(signChunk, target - size)
                let txs = Self.presign(produced..<(produced + count), devices: devices, chainId: "careledger-flat")
                    .map { VerifiedTransaction(uncheckedFromTrustedStore: $0) }
                produced += count
                for blockStart in stride(from: 0, to: txs.count, by: blockSize) {
                    let block = Array(txs[blockStart..<min(blockStart + blockSize, txs.count)])
                    let inSample = Int(writer.head.logSize) >= sampleStart
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    _ = try writer.commit(block, timeMs: clock.nowMs())
                    if inSample {
                        sampleNanos += DispatchTime.now().uptimeNanoseconds - t0
                        sampled += block.count
                    }
                    bar.update(writer.head.logSize)
                }
            }
            points.append(FlatPoint(length: target, microsPerTx: Double(sampleNanos) / 1_000 / Double(max(sampled, 1))))
            checkpoints.removeFirst()
        }
        bar.finish()
        return points
    }
}

/// A shared integer for the benchmark's flow control.
final class Counter: Sendable {
    private let storage = Mutex(0)
    var value: Int {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
