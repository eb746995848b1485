import ArgumentParser
import Console
import Contracts
import Foundation
import LedgerCore
import Node
import Ordering
import Services
import Storage

/// `careledger bench snapshot`: a new node joining a long chain, two ways on the same chain — from
/// a checkpoint snapshot (digest, frame checks, install) and by replaying every block (signatures
/// checked on all cores, execution, durable writes) — beside the machine's limits for each.
struct SnapshotBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "A node joining a long chain: install a checkpoint snapshot vs replay every block, on the same chain, beside the SHA-256 and Ed25519 limits.")

    @Option(help: "Transactions in the chain (anchors from 1,000 devices, 2,000 per block).") var transactions = 200_000
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (10_000...5_000_000).contains(transactions) else { throw ValidationError("--transactions must be 10000…5000000") }
    }

    func run() async throws {
        if !json { Terminal.line("measuring this machine's limits…") }
        let limits = MachineLimits.measure()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-bench-snapshot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let chainId = "careledger-bench-snapshot"
        let operatorKeys = IdentityKeys(seed: Array(repeating: 41, count: 32)), sealing = IdentityKeys(seed: Array(repeating: 42, count: 32))
        let (_, genesis) = try Genesis.make(chainId: chainId, founders: [Founder(keys: operatorKeys, label: "operator", type: .operator)],
                                            ordererKeys: sealing, timeMs: 1_800_000_000_000)

        // The long chain.
        if !json { Terminal.line("building a chain of \(grouped(transactions)) transactions…") }
        let source = try SQLiteLedgerStore(path: root.appendingPathComponent("source.sqlite").path)
        try source.commit(genesis)
        var writer = try DirectBlockWriter(store: source, ordererKeys: sealing)
        let devices = (0..<1_000).map { IdentityKeys(seed: Hash256.sha256(Array("snapshot-device-\($0)".utf8)).bytes) }
        let enroll = devices.enumerated().map { index, device in
            Transaction.sign(TransactionBody(chainId: chainId, sender: operatorKeys.derivedID, publicKey: operatorKeys.signingPublicKey,
                                             sequence: UInt64(index) + 2, call: MembershipContract.Enroll(
                kind: .device, label: "snapshot-device-\(index)", roles: [.integration], signingKey: device.signingPublicKey,
                agreementKey: device.agreementPublicKey)), with: operatorKeys)
        }
        var timeMs: Int64 = 1_800_000_001_000
        _ = try writer.commit(enroll.map { try VerifiedTransaction.verify($0) }, timeMs: timeMs)
        var bar = ProgressBar("building", total: UInt64(transactions), enabled: Terminal.stderrIsTTY && !json)
        for start in stride(from: 0, to: transactions, by: 20_000) {
            let signed = LedgerBench.signAll(min(20_000, transactions - start)) { offset in
                let index = start + offset, device = devices[index % devices.count]
                return (device, TransactionBody(chainId: chainId, sender: device.derivedID, publicKey: device.signingPublicKey,
                                                sequence: UInt64(index / devices.count) + 1,
                                                call: AnchorContract.Put(digest: Hash256.sha256(Array("snapshot-\(index)".utf8)), kind: "bench")))
            }
            for block in stride(from: 0, to: signed.count, by: 2_000) {
                timeMs += 1_000
                _ = try writer.commit(signed[block..<min(block + 2_000, signed.count)].map { VerifiedTransaction(uncheckedFromTrustedStore: $0) }, timeMs: timeMs)
            }
            bar.update(UInt64(start + signed.count))
        }
        bar.finish()
        let head = writer.head

        // A checkpoint snapshot of it.
        let clock = ContinuousClock()
        let archive = try DirectorySnapshotArchive(directory: root.appendingPathComponent("snapshots"))
        var started = clock.now
        let (digest, bytes) = try archive.write(height: head.height, position: nil) { sink in _ = try source.view().writeSnapshot(chainId: chainId, to: sink) }
        let writeSeconds = (clock.now - started) / .seconds(1)

        // Joining from it: digest, frame checks, install.
        if !json { Terminal.line("joining from the snapshot…") }
        let joined = try SQLiteLedgerStore(path: root.appendingPathComponent("joined.sqlite").path)
        try joined.commit(genesis)
        started = clock.now
        guard try archive.digest(height: head.height).digest == digest else { throw CLIError("the snapshot's digest changed") }
        let claim = CheckpointStatement.Claim(height: head.height, blockHash: head.hash, snapshotDigest: digest, snapshotBytes: bytes)
        try joined.install(from: { try archive.forEachFrame(height: head.height, $0) }, checker: SnapshotChecker(chainId: chainId, claim: claim),
                           digest: digest, position: nil)
        let joinSeconds = (clock.now - started) / .seconds(1)

        // Replaying every block instead: signatures on all cores, execution, durable writes.
        if !json { Terminal.line("replaying every block…") }
        let replayed = try SQLiteLedgerStore(path: root.appendingPathComponent("replayed.sqlite").path)
        try replayed.commit(genesis)
        var replayer = try DirectBlockWriter(store: replayed, ordererKeys: sealing)
        var replayBar = ProgressBar("replaying", total: head.height, enabled: Terminal.stderrIsTTY && !json)
        started = clock.now
        for height in 1...head.height {
            guard let raw = try source.rawBlock(height: height), let header = try? BlockHeader(decoding: raw.headerBytes) else {
                throw CLIError("block \(height) is missing")
            }
            let transactions = try raw.transactionBytes.map { try Transaction(decoding: $0) }
            let verified = try await ParallelVerifier.verify(transactions).map { try $0.get() }
            _ = try replayer.commit(verified, timeMs: header.timeMs)
            replayBar.update(height)
        }
        replayBar.finish()
        let replaySeconds = (clock.now - started) / .seconds(1)
        guard replayer.head.hash == head.hash, try joined.head()?.hash == head.hash else { throw CLIError("the joined or replayed store is not the chain's head") }

        let count = Int(head.logSize)
        let verifyFloor = Double(count) / limits.ed25519VerifyPerSecond
        let hashFloor = Double(bytes) / 1e6 / limits.sha256MBPerSecond
        if json {
            Terminal.json(["transactions": count, "blocks": head.height + 1, "snapshotBytes": bytes, "snapshotWriteSeconds": writeSeconds,
                           "joinSeconds": joinSeconds, "replaySeconds": replaySeconds, "speedup": replaySeconds / joinSeconds,
                           "replayVerifyFloorSeconds": verifyFloor, "snapshotHashFloorSeconds": hashFloor,
                           "ed25519VerifyPerSecond": Int(limits.ed25519VerifyPerSecond), "sha256MBPerSecond": Int(limits.sha256MBPerSecond)])
        } else {
            Terminal.line("chain        \(grouped(count)) transactions in \(grouped(Int(head.height) + 1)) blocks")
            Terminal.line("snapshot     \(fixed(Double(bytes) / 1e6, 1)) MB, written in \(fixed(writeSeconds, 2)) s")
            Terminal.line("join         \(fixed(joinSeconds, 2)) s (digest, every frame checked, installed in one transaction); "
                          + "hashing its bytes alone takes \(fixed(hashFloor, 2)) s at \(grouped(Int(limits.sha256MBPerSecond))) MB/s")
            Terminal.line("replay       \(fixed(replaySeconds, 2)) s (\(grouped(Int(Double(count) / replaySeconds))) tx/s); checking the signatures alone takes "
                          + "\(fixed(verifyFloor, 2)) s at \(grouped(Int(limits.ed25519VerifyPerSecond))) verifications/s on all \(limits.cores) cores")
            Terminal.line("joining from the snapshot is \(fixed(replaySeconds / joinSeconds, 1))× faster than replaying")
        }
    }
}
