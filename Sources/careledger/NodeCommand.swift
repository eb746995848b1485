import ArgumentParser
import Dispatch
import Foundation
import LedgerCore
import Node
#if canImport(Glibc)
import Glibc
#endif

/// `careledger node`: run the embedded node until SIGINT/SIGTERM.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run the embedded node: recover the store, then commit blocks until interrupted (Ctrl-C).",
        discussion: "This issue's node has no network API yet (the HTTP API arrives with the server); it holds the data directory's lock and reports each block it commits.")

    @OptionGroup var options: DataOption
    @Option(help: "Cut a block at this many transactions.") var blockSize: Int?
    @Option(help: "Cut a block this many milliseconds after its first transaction.") var blockDelayMs: Int?

    func run() async throws {
        if let blockSize, !(1...Limits.blockTransactionsMax).contains(blockSize) {
            throw CLIError("--block-size must be 1…\(Limits.blockTransactionsMax)")
        }
        if let blockDelayMs, !(1...60_000).contains(blockDelayMs) { throw CLIError("--block-delay-ms must be 1…60000") }
        let ledger = try await LocalLedger.open(options.directory, blockTransactionsMax: blockSize, blockDelayMs: blockDelayMs)
        let head = await ledger.node.headHeader
        Terminal.line("node up: chain \(head.chainId), height \(head.height), \(grouped(head.logSize)) transactions, log root \(head.logRoot.hex)")
        Terminal.line("data \(options.directory.path); Ctrl-C to stop")
        let commits = await ledger.node.commits()
        let printer = Task {
            for await block in commits {
                let accepted = block.results.filter(\.isAccepted).count
                Terminal.line("block \(block.header.height): \(block.transactionIDs.count) tx (\(accepted) accepted) \(block.hash.hex.prefix(16))…")
            }
        }
        await waitForTerminationSignal()
        Terminal.line("stopping: committing what was admitted…")
        await ledger.close()
        printer.cancel()
        Terminal.line("stopped at height \(await ledger.node.headHeader.height)")
    }
}

/// Suspends until SIGINT or SIGTERM arrives.
func waitForTerminationSignal() async {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
    let sources = [SIGINT, SIGTERM].map { number in
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        return source
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
}
