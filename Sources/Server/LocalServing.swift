import Foundation
public import Services
import Storage

extension LedgerServer {
    /// Serves a data directory's open ledger over HTTP until SIGINT or SIGTERM: `/healthz`,
    /// `/metrics`, `POST /auth/token`, `/v1`, `/fhir` and the portal, with the directory's node key
    /// signing tokens and tree heads, assertions remembered in the directory (a replayed one is
    /// refused after a restart too), the audit tree head anchored on-chain every 250 ms by the
    /// administrator, and — on a consortium node with a peer port — the peer listener (mutual TLS).
    /// `careledger node --port` and `careledger demo --serve` both serve through this.
    ///
    /// - Parameters:
    ///   - port: the port; 0 picks a free one now, since the URL must be known before serving (it is the tokens' audience).
    ///   - publicURL: the URL clients reach the node at; default `http(s)://HOST:PORT`.
    ///   - anchorFailed: told each failed anchoring, with the reason (the loop goes on).
    ///   - onListening: told the public URL once the socket is bound (peer port nil), and the peer port once that is.
    public static func serve(_ ledger: LocalLedger, directory: DataDirectory, host: String, port: Int, publicURL: String?, tls: ServerTLS?,
                             anchorFailed: @escaping @Sendable (String) -> Void,
                             onListening: @escaping @Sendable (_ url: String, _ peerPort: Int?) -> Void) async throws {
        let nodeKeys = try directory.loadKey(ledger.settings.nodeKey)
        let port = port == 0 ? try freePort(host: host) : port
        let url = publicURL ?? "\(tls == nil ? "http" : "https")://\(urlHost(host)):\(port)"
        let tokens = await TokenAuthority(nodeKeys: nodeKeys, chainId: ledger.settings.chainId, publicURL: url,
                                          usedAssertions: try SQLiteUsedAssertions(path: directory.usedAssertionsPath))
        let services = ServerServices(node: ledger.node, nodeKeys: nodeKeys, tokens: tokens, fhir: ledger.fhir,
                                      recordPeer: ledger.recordPeer, endorser: ledger.endorser)
        // Reads over HTTP append to the audit log; its tree head goes on-chain within 250 ms.
        let anchorer = try directory.loadKey(ledger.settings.administrator)
        let anchoring = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                do { try await ledger.fhir.anchorAudit(anchorer: anchorer) } catch { anchorFailed("\(error)") }
            }
        }
        defer { anchoring.cancel() }
        let peer = ledger.peerTLS.flatMap { peerTLS in ledger.settings.consortium?.peerPort.map { (tls: peerTLS, port: $0) } }
        let publicURL = tokens.publicURL
        try await serve(services, host: host, port: port, tls: tls, peer: peer) { peerPort in onListening(publicURL, peerPort) }
    }

    /// A host as it goes in a URL: an IPv6 address in brackets.
    public static func urlHost(_ host: String) -> String { host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host }
}
