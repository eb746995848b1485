import Console
import ArgumentParser
import Dispatch
import Foundation
import Hummingbird
import LedgerCore
import Node
import Portal
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
            /healthz, /metrics, POST /auth/token, the /v1 API (see /v1/openapi.json), the web portal at /portal and FHIR R4 at /fhir over the \
            records this node holds (every read consent-checked and audited; the audit tree head is anchored \
            on-chain within 250 ms); it prints \
            "listening on URL" once the socket is bound (port 0 picks a free port). The URL is --public-url, by \
            default http://HOST:PORT (https://HOST:PORT with TLS): client assertions must name its /auth/token as \
            their audience, and every link the server returns is built on it. Get a token with `careledger token`.
            With --tls-cert and --tls-key (PEM files: the certificate chain, server certificate first, and its \
            unencrypted private key) it serves HTTPS only, TLS 1.2 or later; both files are checked before it \
            serves. `careledger init --dev-cert` makes a self-signed pair for development.
            A consortium node with a peer port in node.json (`careledger network` sets one) serves the other nodes there \
            only, with --port: mutual TLS, each side's certificate made at start from its organization's registered key.
            """)

    @OptionGroup var options: DataOption
    @Option(help: "Cut a block at this many transactions.") var blockSize: Int?
    @Option(help: "Cut a block this many milliseconds after its first transaction.") var blockDelayMs: Int?
    @Option(help: "Serve the HTTP API on this port (0 picks a free one).") var port: Int?
    @Option(help: "Address the HTTP API listens on.") var host = "127.0.0.1"
    @Option(help: "The URL clients reach this node at (default http://HOST:PORT, https://HOST:PORT with TLS), e.g. behind a proxy.")
    var publicURL: String?
    @Option(help: ArgumentHelp("Serve HTTPS with this PEM certificate chain (server certificate first); needs --tls-key and --port.",
                               valueName: "path")) var tlsCert: String?
    @Option(help: ArgumentHelp("The PEM private key of --tls-cert (unencrypted; keep it mode 0600).", valueName: "path"))
    var tlsKey: String?

    func validate() throws {
        switch (tlsCert, tlsKey) {
        case (nil, nil): break
        case (_?, nil): throw ValidationError("--tls-cert needs --tls-key (the certificate's private key)")
        case (nil, _?): throw ValidationError("--tls-key needs --tls-cert (the certificate the key belongs to)")
        case (_?, _?):
            guard port != nil else { throw ValidationError("--tls-cert and --tls-key serve HTTPS, so they need --port") }
            if let publicURL, URL(string: publicURL)?.scheme == "http" {
                throw ValidationError("--public-url \(publicURL) is http, but the node serves HTTPS with --tls-cert: use an https:// URL")
            }
        }
    }

    func run() async throws {
        if let blockSize, !(1...Limits.blockTransactionsMax).contains(blockSize) {
            throw CLIError("--block-size must be 1…\(Limits.blockTransactionsMax)")
        }
        if let blockDelayMs, !(1...60_000).contains(blockDelayMs) { throw CLIError("--block-delay-ms must be 1…60000") }
        if let port, !(0...65_535).contains(port) { throw CLIError("--port must be 0…65535") }
        if let publicURL, URL(string: publicURL)?.scheme.map({ ["http", "https"].contains($0) }) != true || publicURL.contains("?") {
            throw CLIError("--public-url must be an http or https URL without a query, e.g. https://ledger.example.org")
        }
        // Read and check the certificate and key before opening anything, so that a bad file stops here.
        let tls = try tlsCert.flatMap { certificate in try tlsKey.map { try ServerTLS.load(certificate: certificate, key: $0) } }
        let ledger = try await LocalLedger.open(options.directory, blockTransactionsMax: blockSize, blockDelayMs: blockDelayMs)
        let head = await ledger.node.headHeader
        if let joined = ledger.joined { Terminal.line(joined) }
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
            if let tls {
                Terminal.line("TLS: \(tls.certificatePath) (\(tls.subject), valid until \(ISO8601DateFormatter().string(from: tls.notValidAfter)))")
                for warning in tls.warnings { Terminal.error("warning: \(warning)") }
            }
            // Serves until SIGINT/SIGTERM, then drains in-flight requests.
            let host = self.host
            var stopped: (any Error)?
            do {
                try await LedgerServer.serve(ledger, directory: options.directory, host: host, port: port, publicURL: publicURL, tls: tls,
                                             anchorFailed: { Terminal.error("audit anchor failed: \($0)") }) { url, peerPort in
                    Terminal.line(peerPort.map { "peer listener (mutual TLS) on https://\(LedgerServer.urlHost(host)):\($0)" }
                                  ?? "listening on \(url)\nportal on \(url)\(Portal.basePath) (staff sign in with their key file)")
                }
            } catch {
                Terminal.error("HTTP server stopped: \(error)")
                stopped = error
            }
            if let stopped {
                await ledger.close()
                printer.cancel()
                throw stopped
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
