import AsyncHTTPClient
import Contracts
import Crypto
import Foundation
import LedgerCore
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Server
import ServiceLifecycle
import Services
import Testing

/// Mutual TLS between organizations' nodes (issue 14, item 5): a node's peer listener accepts a
/// connection only from a certificate holding an active organization's current registered key in
/// its replica, and a node trusts another's published certificate only if it holds that
/// organization's key. Certificates are made from the organizations' Ed25519 keys; TLS 1.3.
@Suite("Peers: mutual TLS by organization key", .serialized)
struct PeerTLSTests {
    /// Runs the hospital node's peer listener for the length of `body`, which gets its base URL.
    static func withPeerListener(_ fixture: FHIRFixture, _ body: (String, PeerTLS) async throws -> Void) async throws {
        let tls = try PeerTLS(organizationKeys: fixture.hospital, chainId: FHIRFixture.chainId)
        let port = try LedgerServer.freePort(host: "127.0.0.1")
        var logger = Logger(label: "peer-tls-test")
        logger.logLevel = .critical
        let (ready, readySink) = AsyncStream.makeStream(of: Void.self)
        let app = LedgerServer.peerApplication(fixture.services, tls: tls, port: port, logger: logger) { _ in readySink.yield() }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let running = Task { defer { readySink.finish() }; try await group.run() }
        for await _ in ready { break }
        do { try await body("https://127.0.0.1:\(port)", tls) } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// GET /v1/blocks?from=1 signed by `signer`'s organization over `tls` with a client of its own
    /// (shut down after, so the listener has no connection left to drain): the status, or nil when
    /// the connection was refused (async-http-client retries a failed handshake until the deadline).
    /// `timeoutSeconds`: a refused handshake takes all of it; an accepted one needs more under load.
    static func blocks(_ base: String, signer: IdentityKeys, tls: TLSConfiguration, timeoutSeconds: Int64 = 2) async -> Int? {
        let request = PrivatePayloads.signedRequest(base + "/v1/blocks?from=1&limit=1", resource: PeerRequest.blocks(from: 1),
                                                    chainId: FHIRFixture.chainId, organization: signer,
                                                    timeMs: Int64(Date().timeIntervalSince1970 * 1_000), tls: tls)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let response = try await client.execute(request, timeout: .seconds(timeoutSeconds))
            _ = try await response.body.collect(upTo: 1 << 20)
            try? await client.shutdown()
            return Int(response.status.code)
        } catch {
            try? await client.shutdown()
            return nil
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func onlyARegisteredOrganizationsCertificateConnects() async throws {
        try await FHIRFixture.with { fixture in
            try await Self.withPeerListener(fixture) { base, hospitalTLS in
                let published = PeerEndpoint(url: base, certificateDER: hospitalTLS.certificateDER)
                let clinicTLS = try PeerTLS(organizationKeys: fixture.clinic, chainId: FHIRFixture.chainId)
                // The clinic trusts the certificate the hospital published after checking it holds the
                // hospital's registered key; the hospital's listener checks the clinic's the same way.
                let clinicConfig = try #require(try published.tls(with: clinicTLS, organization: fixture.hospital.derivedID,
                                                                  key: fixture.hospital.signingPublicKey))
                #expect(await Self.blocks(base, signer: fixture.clinic, tls: clinicConfig, timeoutSeconds: 30) == 200)

                let hospitalCertificate = try NIOSSLCertificate(bytes: hospitalTLS.certificateDER, format: .der)
                let stranger = IdentityKeys(seed: Array(repeating: 77, count: 32))
                var noCertificate = TLSConfiguration.makeClientConfiguration()
                noCertificate.trustRoots = .certificates([hospitalCertificate])
                noCertificate.certificateVerification = .noHostnameVerification
                let refused: [(String, TLSConfiguration)] = [
                    ("no client certificate", noCertificate),
                    ("an unregistered key's certificate",
                     try PeerTLS(organizationKeys: stranger, chainId: FHIRFixture.chainId).clientConfiguration(trusting: hospitalCertificate)),
                    ("a certificate naming the clinic but holding another key",
                     try PeerTLS(signingKey: stranger.signing, organization: fixture.clinic.derivedID, chainId: FHIRFixture.chainId)
                        .clientConfiguration(trusting: hospitalCertificate)),
                    ("a member's (not an organization's) key",
                     try PeerTLS(organizationKeys: fixture.doctor, chainId: FHIRFixture.chainId).clientConfiguration(trusting: hospitalCertificate)),
                ]
                for (what, config) in refused {
                    #expect(await Self.blocks(base, signer: fixture.clinic, tls: config) == nil, "\(what) was let in")
                }

                // The clinic refuses a listener whose certificate is not the hospital's: a certificate
                // published for the hospital that holds another key is refused before connecting, and a
                // connection to a listener presenting another certificate than the trusted one fails.
                let impostor = try PeerTLS(signingKey: stranger.signing, organization: fixture.hospital.derivedID, chainId: FHIRFixture.chainId)
                #expect(throws: PeerEndpoint.Refusal.self) {
                    try PeerEndpoint(url: base, certificateDER: impostor.certificateDER)
                        .tls(with: clinicTLS, organization: fixture.hospital.derivedID, key: fixture.hospital.signingPublicKey)
                }
                let trustingImpostor = clinicTLS.clientConfiguration(trusting: try NIOSSLCertificate(bytes: impostor.certificateDER, format: .der))
                #expect(await Self.blocks(base, signer: fixture.clinic, tls: trustingImpostor) == nil)
                // A node with mutual TLS never talks plain HTTP to a peer.
                #expect(throws: PeerEndpoint.Refusal.self) {
                    try PeerEndpoint(url: "http://127.0.0.1:1", certificateDER: nil)
                        .tls(with: clinicTLS, organization: fixture.hospital.derivedID, key: fixture.hospital.signingPublicKey)
                }
            }
        }
    }

    @Test func endpointsRoundTripAndBareURLsStillRead() throws {
        let tls = try PeerTLS(organizationKeys: IdentityKeys(seed: Array(repeating: 5, count: 32)), chainId: "c")
        let endpoint = PeerEndpoint(url: "https://127.0.0.1:7440", certificateDER: tls.certificateDER)
        #expect(PeerEndpoint(decoding: endpoint.encoded) == endpoint)
        #expect(PeerEndpoint(decoding: Array("http://127.0.0.1:7420".utf8)) == PeerEndpoint(url: "http://127.0.0.1:7420", certificateDER: nil))
        #expect(PeerEndpoint(decoding: Array(#"{"url":"https://x","certificate":"%%%"}"#.utf8)) == nil)
        let claimed = try #require(PeerTLS.claimed(byCertificate: tls.certificateDER))
        #expect(claimed.organization == IdentityKeys(seed: Array(repeating: 5, count: 32)).derivedID)
        #expect(claimed.key == IdentityKeys(seed: Array(repeating: 5, count: 32)).signingPublicKey)
    }
}
