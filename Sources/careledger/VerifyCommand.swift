import Console
import ArgumentParser
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
        let outcome = try ChainAudit.run(store: store) { height, _ in bar.update(height + 1) }
        bar.finish()
        let seconds = (clock.now - start) / .seconds(1)
        switch outcome {
        case .success(let report):
            if json {
                Terminal.json(["ok": true, "chainId": report.chainId, "height": report.height, "headHash": report.headHash.hex,
                               "transactions": report.transactions, "logRoot": report.logRoot.hex,
                               "stateEntries": report.stateEntries, "seconds": seconds])
            } else {
                Terminal.line("✓ chain \(report.chainId) verified: \(report.height + 1) blocks, \(grouped(report.transactions)) transactions, \(report.stateEntries) state entries, \(report.logNodes) log nodes in \(fixed(seconds, 2)) s")
                Terminal.line("  head \(report.headHash.hex)   log root \(report.logRoot.hex)")
            }
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
