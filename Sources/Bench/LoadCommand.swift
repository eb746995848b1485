import Console
public import ArgumentParser
import Contracts
import Foundation
import LedgerCore
import Node
import Services

/// `careledger load` (hidden): commits a stream of anchor transactions and prints one line per
/// transaction whose commit the node acknowledged. The crash test kills it with SIGKILL mid-run.
/// Its data directory keeps its keys in the clear or takes the passphrase from $CARELEDGER_PASSPHRASE.
public struct LoadCommand: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Commit a stream of anchor transactions, printing each acknowledged commit (for fault tests).",
        shouldDisplay: false)

    @Option(help: "Data directory (default: $CARELEDGER_DATA, else ./careledger-data).") var data: String?
    @Option(help: "Transactions to commit.") var transactions = 100_000
    @Option(help: "Transactions per submission.") var chunk = 200

    public func run() async throws {
        let directory = DataDirectory.resolve(data)
        let settings = try directory.settings()
        let admin = try directory.loadKey(settings.administrator)
        let ledger = try await LocalLedger.open(directory, blockTransactionsMax: 500, blockDelayMs: 5)
        let commits = await ledger.node.commits()
        let salt = Hash256.sha256(Array("\(ProcessInfo.processInfo.processIdentifier)-\(SystemClock().nowMs())".utf8))
        var submitted = 0
        var acknowledged = 0
        Terminal.line("ready")
        while submitted < transactions {
            let count = min(chunk, transactions - submitted)
            let batch = (0..<count).map { offset in
                let digest = Hash256.sha256(salt.bytes + Array("\(submitted + offset)".utf8))
                return ledger.sign(admin, AnchorContract.Put(digest: digest, kind: "load"))
            }
            for result in await ledger.node.submit(batch) {
                if case .failure(let error) = result { throw CLIError("admission failed: \(error)") }
            }
            submitted += count
            // Wait for these to commit, printing acknowledgements as blocks land.
            for await block in commits {
                var lines: [String] = []
                for id in block.transactionIDs { lines.append("ack \(id.hex) \(block.header.height)") }
                acknowledged += block.transactionIDs.count
                Terminal.line(lines.joined(separator: "\n"))
                if acknowledged >= submitted { break }
            }
        }
        await ledger.close()
        Terminal.line("done \(acknowledged)")
    }
}

