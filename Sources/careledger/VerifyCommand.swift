import Console
import ArgumentParser
import Foundation
import LedgerCore
import Node
import Services
import Storage

/// `careledger verify`: re-verify the whole chain and the store.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-verify the whole chain: hash links, signatures, Merkle roots, re-execution to the same results and state roots, and the store's indexes.",
        discussion: "Exits 0 when everything checks, 3 with the first bad height and transaction otherwise.")

    @OptionGroup var options: DataOption
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let store = try options.directory.openStore()
        var bar = ProgressBar("verifying", total: (try store.head()?.height ?? 0) + 1, enabled: Terminal.stderrIsTTY && !json)
        let clock = ContinuousClock()
        let start = clock.now
        // A consortium node that joined from a checkpoint is verified from that snapshot, kept in its directory.
        let outcome = try ChainAudit.run(store: store, snapshots: try options.directory.snapshotArchive()) { height, _ in bar.update(height + 1) }
        bar.finish()
        let seconds = (clock.now - start) / .seconds(1)
        let attested = try ChainAudit.attestations(store: store)
        switch outcome {
        case .success(let report):
            if json {
                Terminal.json(["ok": true, "chainId": report.chainId, "height": report.height, "headHash": report.headHash.hex,
                               "transactions": report.transactions, "logRoot": report.logRoot.hex,
                               "stateEntries": report.stateEntries, "seconds": seconds,
                               "joinedFrom": report.base.map { ["height": $0.height, "digest": $0.digest.hex] as Any } ?? NSNull(),
                               "attestations": attested.map { ["checked": $0.checked, "badSignatures": $0.badSignatures, "quorum": $0.quorum,
                                                               "finalHeight": $0.finalHeight.map { Int($0) } ?? -1,
                                                               "disagreements": $0.disagreements.map(\.description),
                                                               "diverged": !$0.divergences.isEmpty] } ?? [:]])
            } else {
                Terminal.line("✓ chain \(report.chainId) verified: \(report.height + 1) blocks, \(grouped(report.transactions)) transactions, \(report.stateEntries) state entries, \(report.logNodes) log nodes in \(fixed(seconds, 2)) s")
                Terminal.line("  head \(report.headHash.hex)   log root \(report.logRoot.hex)")
                if let base = report.base { Terminal.line("  from the checkpoint snapshot this node joined from: height \(base.height), \(base.digest.hex.prefix(16))…") }
                if let attested, attested.checked > 0 {
                    Terminal.line("  attestations: \(attested.checked) checked, final height \(attested.finalHeight.map(String.init) ?? "none") (quorum \(attested.quorum)), \(attested.badSignatures) with a bad signature")
                }
                for disagreement in attested?.disagreements ?? [] {
                    Terminal.line("\(disagreement.attesters.count >= attested!.quorum ? "✗ diverged" : "! disagreement"): \(disagreement)")
                }
            }
            if !(attested?.divergences.isEmpty ?? true) { throw exitRejected }
        case .failure(let error):
            if json {
                var out: [String: Any] = ["ok": false, "height": error.height, "reason": error.reason.rawValue, "detail": error.detail]
                if let index = error.transactionIndex { out["transactionIndex"] = index }
                if let id = error.transactionID { out["transactionId"] = id.hex }
                Terminal.json(out)
            } else {
                Terminal.line("✗ verification failed at \(error)")
            }
            throw exitRejected
        }
    }
}
