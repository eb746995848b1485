import Console
import ArgumentParser
import Dispatch
import Foundation
import Hummingbird
import LedgerCore
import Node
import Server
import Services
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// `careledger node`: run the embedded node until SIGINT/SIGTERM.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run the embedded node: recover the store, then commit blocks until interrupted (Ctrl-C); with --port, serve the HTTP API.",
        discussion: """
            The node holds the data directory's lock and reports each block it commits. With --port it serves \
            /healthz, /metrics, POST /auth/token, the /v1 API (see /v1/openapi.json) and FHIR R4 at /fhir over the \
            records this node holds (every read consent-checked and audited; the audit tree head is anchored \
            on-chain within 250 ms); it prints \
            "listening on URL" once the socket is bound (port 0 picks a free port). The URL is --public-url, by \
            default http://HOST:PORT: client assertions must name its /auth/token as their audience, and every \
            link the server returns is built on it. Get a token with `careledger token`.
            """)

    @OptionGroup var options: DataOption
    @Option(help: "Cut a block at this many transactions.") var blockSize: Int?
    @Option(help: "Cut a block this many milliseconds after its first transaction.") var blockDelayMs: Int?
    @Option(help: "Serve the HTTP API on this port (0 picks a free one).") var port: Int?
    @Option(help: "Address the HTTP API listens on.") var host = "127.0.0.1"
    @Option(help: "The URL clients reach this node at (default http://HOST:PORT), e.g. behind a proxy.") var publicURL: String?

    func run() async throws {
        if let blockSize, !(1...Limits.blockTransactionsMax).contains(blockSize) {
            throw CLIError("--block-size must be 1…\(Limits.blockTransactionsMax)")
        }
        if let blockDelayMs, !(1...60_000).contains(blockDelayMs) { throw CLIError("--block-delay-ms must be 1…60000") }
        if let port, !(0...65_535).contains(port) { throw CLIError("--port must be 0…65535") }
        if let publicURL, URL(string: publicURL)?.scheme.map({ ["http", "https"].contains($0) }) != true || publicURL.contains("?") {
            throw CLIError("--public-url must be an http or https URL without a query, e.g. https://ledger.example.org")
        }
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
        if let port {
            let nodeKeys = try options.directory.loadKey(ledger.settings.nodeKey)
            let fhir = ledger.fhir
            // The URL must be known before serving (it is the token audience), so port 0 is resolved now.
            let port = port == 0 ? try LedgerServer.freePort(host: host) : port
            let url = publicURL ?? "http://\(host):\(port)"
            let tokens = await TokenAuthority(nodeKeys: nodeKeys, chainId: ledger.settings.chainId, publicURL: url,
                                              usedAssertions: try SQLiteUsedAssertions(path: options.directory.usedAssertionsPath))
            let services = ServerServices(node: ledger.node, nodeKeys: nodeKeys, tokens: tokens, fhir: fhir)
            // Reads over HTTP append to the audit log; its tree head goes on-chain within 250 ms.
            let anchorer = try options.directory.loadKey(ledger.settings.administrator)
            let anchoring = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    do { try await fhir.anchorAudit(anchorer: anchorer) } catch { Terminal.error("audit anchor failed: \(error)") }
                }
            }
            defer { anchoring.cancel() }
            let host = self.host
            let app = LedgerServer.application(services, host: host, port: port) { _ in
                Terminal.line("listening on \(tokens.publicURL)")
            }
            // Serves until SIGINT/SIGTERM, then drains in-flight requests.
            do { try await app.runService() } catch {
                Terminal.error("HTTP server stopped: \(error)")
            }
        } else {
            await waitForTerminationSignal()
        }
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
