#if canImport(Glibc)
import Glibc
#endif
import FHIR
import Foundation
import LedgerCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Server
import Services
import Storage
import Testing

/// A development certificate made by the code `careledger init --dev-cert` runs, in a temporary folder.
struct DevCertificateFiles {
    let folder: URL
    var certificate: String { folder.appendingPathComponent("tls/dev-cert.pem").path }
    var key: String { folder.appendingPathComponent("tls/dev-key.pem").path }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-tls-\(UUID().uuidString)")
        try DevelopmentCertificate.write(certificate: URL(fileURLWithPath: certificate), key: URL(fileURLWithPath: key))
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// A TLS connection to 127.0.0.1:`port` with an HTTP/1.1 client codec, trusting only the certificates
/// in `trusting` (PEM) and checking the server's name: `serverHostname`, or with nil the IP address
/// it connects to (NIO and NIOSSL, as any Swift client would).
func connectHTTPS(port: Int, trusting: String, serverHostname: String? = nil) async throws
    -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(trusting))
    configuration.certificateVerification = .fullVerification
    let context = try NIOSSLContext(configuration: configuration)
    return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connectTimeout(.seconds(10))
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverHostname))
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
}

/// Writes one request and reads its whole response from `inbound`.
func exchange(_ inbound: inout NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator,
              _ outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>, port: Int, _ method: HTTPMethod, _ path: String,
              headers: [(String, String)], body: String?) async throws -> (status: HTTPResponseStatus, headers: HTTPHeaders, body: String) {
    var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
    head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
    for (name, value) in headers { head.headers.add(name: name, value: value) }
    if let body { head.headers.add(name: "Content-Length", value: String(body.utf8.count)) }
    try await outbound.write(.head(head))
    if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
    try await outbound.write(.end(nil))
    var response: HTTPResponseHead?
    var collected = ByteBuffer()
    while let part = try await inbound.next() {
        switch part {
        case .head(let received): response = received
        case .body(var chunk): collected.writeBuffer(&chunk)
        case .end:
            guard let response else { throw TLSTestError("a response ended before its head") }
            return (response.status, response.headers, String(buffer: collected))
        }
    }
    throw TLSTestError("the connection closed before a whole response")
}

/// One HTTP/1.1 exchange over TLS on a fresh connection (see `connectHTTPS`).
func https(port: Int, trusting: String, serverHostname: String? = nil, _ method: HTTPMethod, _ path: String,
           headers: [(String, String)] = [], body: String? = nil) async throws -> (status: HTTPResponseStatus, headers: HTTPHeaders, body: String) {
    let channel = try await connectHTTPS(port: port, trusting: trusting, serverHostname: serverHostname)
    return try await channel.executeThenClose { inbound, outbound in
        var iterator = inbound.makeAsyncIterator()
        return try await exchange(&iterator, outbound, port: port, method, path,
                           headers: [("Connection", "close")] + headers, body: body)
    }
}

/// Makes one keep-alive request over TLS (so the handshake is done and a request was served), then
/// sends nothing: how long the server took to close the connection after the response, or nil if it
/// was still open after `waitSeconds`.
func secondsUntilIdleTLSClosed(port: Int, trusting: String, waitSeconds: Int) async throws -> Double? {
    let channel = try await connectHTTPS(port: port, trusting: trusting)
    return try await channel.executeThenClose { inbound, outbound in
        var iterator = inbound.makeAsyncIterator()
        let first = try await exchange(&iterator, outbound, port: port, .GET, "/healthz", headers: [], body: nil)
        guard first.status == .ok else { throw TLSTestError("GET /healthz answered \(first.status)") }
        let idleSince = ContinuousClock.now
        let limit = Task { try await Task.sleep(for: .seconds(waitSeconds)); try await channel.channel.close() }
        defer { limit.cancel() }
        // Ends when the server closes the connection (cleanly, or with an unclean TLS shutdown).
        do { while try await iterator.next() != nil {} } catch {}
        let took = ContinuousClock.now - idleSince
        guard took < .seconds(waitSeconds) else { return nil }
        return Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
    }
}

/// Sends `text` as plain TCP to 127.0.0.1:`port` and reads what comes back until the server closes
/// (at most `waitSeconds`): the bytes, and whether the server closed the connection.
func plainExchange(port: Int, _ text: String, waitSeconds: Int) -> (reply: [UInt8], closed: Bool) {
    guard let fd = loopbackSocket(port: port, waitSeconds: waitSeconds) else { return ([], false) }
    defer { close(fd) }
    _ = text.withCString { send(fd, $0, strlen($0), 0) }
    var reply: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n == 0 { return (reply, true) }
        if n < 0 { return (reply, errno == ECONNRESET) }
        reply += buffer[0..<n]
    }
}

struct TLSTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Security issue "TLS on the node" (HIPAA §164.312(e)): the node serves HTTPS with a PEM certificate
/// and key, and every URL it states — the token audience, FHIR links — is https.
@Suite("TLS: the node serves HTTPS with its certificate, and only HTTPS", .serialized)
struct TLSTests {
    /// Serves the FHIR fixture over TLS on a free port with services whose public URL is
    /// `https://127.0.0.1:PORT`; stops the server and the fixture after `body`.
    static func withTLSServer(idleTimeout: Duration = .seconds(ServerLimits.idleSeconds),
                              _ body: (FHIRFixture, DevCertificateFiles, _ port: Int, _ publicURL: String) async throws -> Void) async throws {
        let files = try DevCertificateFiles()
        defer { files.remove() }
        let tls = try ServerTLS.load(certificate: files.certificate, key: files.key)
        try await FHIRFixture.with { fixture in
            let url = LockedValue("")
            try await LedgerServer.withServerInProcess(idleTimeout: idleTimeout, tls: tls, services: { publicURL in
                url.set(publicURL)
                return ServerServices(node: fixture.node, nodeKeys: fixture.nodeKeys,
                                      tokens: await TokenAuthority(nodeKeys: fixture.nodeKeys, chainId: FHIRFixture.chainId, publicURL: publicURL,
                                                                   usedAssertions: InMemoryUsedAssertions()),
                                      fhir: fixture.services.fhir)
            }) { port in
                try await body(fixture, files, port, url.get())
            }
        }
    }

    static func tokenRequest(_ assertion: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return ["grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion].map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
    }

    @Test(.timeLimit(.minutes(5)))
    func metadataTokensAndLinksAreHTTPS() async throws {
        try await Self.withTLSServer { fixture, files, port, publicURL in
            #expect(publicURL == "https://127.0.0.1:\(port)")
            // The client trusts only the development certificate and checks the IP address (127.0.0.1) against it.
            let metadata = try await https(port: port, trusting: files.certificate, .GET, "/fhir/metadata")
            #expect(metadata.status == .ok)
            let statement = try #require(try JSONSerialization.jsonObject(with: Data(metadata.body.utf8)) as? [String: Any])
            let security = ((statement["rest"] as? [[String: Any]])?.first?["security"] as? [String: Any]) ?? [:]
            let oauth = ((security["extension"] as? [[String: Any]])?.first?["extension"] as? [[String: Any]]) ?? []
            let tokenURL = oauth.first { $0["url"] as? String == "token" }?["valueUri"] as? String
            #expect(tokenURL == "https://127.0.0.1:\(port)/auth/token", "\(metadata.body.prefix(800))")
            #expect(!metadata.body.contains("http://127.0.0.1"), "no link in the CapabilityStatement is plain http")
            // The same name check by DNS name: the certificate is for localhost too.
            #expect(try await https(port: port, trusting: files.certificate, serverHostname: "localhost", .GET, "/healthz").status == .ok)

            // The token endpoint takes an assertion addressed to the https token URL…
            let assertion = try await TokenAuthority.makeAssertion(for: fixture.doctor, tokenURL: "\(publicURL)/auth/token")
            let issued = try await https(port: port, trusting: files.certificate, .POST, "/auth/token",
                                         headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Self.tokenRequest(assertion))
            #expect(issued.status == .ok, "\(issued.body)")
            let token = try #require((try JSONSerialization.jsonObject(with: Data(issued.body.utf8)) as? [String: Any])?["access_token"] as? String)
            // …and refuses one addressed to the plain-http URL of the same host and port.
            let plainAudience = try await TokenAuthority.makeAssertion(for: fixture.doctor, tokenURL: "http://127.0.0.1:\(port)/auth/token")
            let refused = try await https(port: port, trusting: files.certificate, .POST, "/auth/token",
                                          headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Self.tokenRequest(plainAudience))
            #expect(refused.status.code >= 400 && refused.status.code < 500, "\(refused.status) \(refused.body)")

            // Links the server returns are built on the https URL: a created resource's Location, a searchset's self link.
            let patient = #"{"resourceType":"Patient","name":[{"family":"Okafor","given":["Ada"]}],"gender":"female"}"#
            let created = try await https(port: port, trusting: files.certificate, .POST, "/fhir/Patient",
                                          headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/fhir+json")], body: patient)
            #expect(created.status == .created, "\(created.body.prefix(400))")
            #expect(created.headers["Location"].first?.hasPrefix("https://127.0.0.1:\(port)/fhir/Patient/") == true, "\(created.headers)")
            let search = try await https(port: port, trusting: files.certificate, .GET, "/fhir/Patient?name=Okafor",
                                         headers: [("Authorization", "Bearer \(token)")])
            #expect(search.status == .ok, "\(search.body.prefix(400))")
            let bundle = try #require(try JSONSerialization.jsonObject(with: Data(search.body.utf8)) as? [String: Any])
            let links = (bundle["link"] as? [[String: Any]] ?? []).compactMap { $0["url"] as? String }
            let fullURLs = (bundle["entry"] as? [[String: Any]] ?? []).compactMap { $0["fullUrl"] as? String }
            #expect(!links.isEmpty && !fullURLs.isEmpty, "\(search.body.prefix(400))")
            #expect((links + fullURLs).allSatisfy { $0.hasPrefix("https://127.0.0.1:\(port)/fhir/") }, "\(links) \(fullURLs)")
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func onlyHTTPSIsServedAndOnlyWithThisCertificate() async throws {
        try await Self.withTLSServer { _, files, port, _ in
            // Plain HTTP to the TLS port gets no HTTP response: the handshake fails and the connection is closed.
            let plain = try await blockingCall { plainExchange(port: port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", waitSeconds: 10) }
            #expect(plain.closed, "the TLS port kept a plain-HTTP connection open")
            #expect(!String(decoding: plain.reply, as: UTF8.self).contains("HTTP/1.1"), "plain HTTP got an HTTP answer")
            // A client that trusts another certificate refuses this server. (A wrong name is refused by curl in
            // TLSCLITests.nodeServesHTTPS; NIOSSL accepts the connection's IP address in the certificate whatever name it is given.)
            let other = try DevCertificateFiles()
            defer { other.remove() }
            await #expect(throws: (any Error).self) { _ = try await https(port: port, trusting: other.certificate, .GET, "/healthz") }
            // The right certificate works on the same port (so the refusal above is about trust).
            #expect(try await https(port: port, trusting: files.certificate, .GET, "/healthz").status == .ok)
        }
        // The same plain request to a server without TLS is answered: the helper above does see HTTP.
        try await ServerFixture.with { fixture in
            try await LedgerServer.withServerInProcess(services: { _ in fixture.services }) { port in
                let plain = try await blockingCall {
                    plainExchange(port: port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", waitSeconds: 10)
                }
                #expect(String(decoding: plain.reply, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
            }
        }
    }

    /// The idle timeout (`ServerLimits.idleSeconds`, 1 s here) closes TLS connections too: one that
    /// never starts its handshake, one that stops halfway through it, and one idle after it.
    @Test(.timeLimit(.minutes(3)))
    func idleTLSConnectionsAreClosed() async throws {
        try await Self.withTLSServer(idleTimeout: .seconds(1)) { _, files, port, _ in
            let silent = try await blockingCall { ConnectionTimeoutTests.secondsUntilClosed(port: port, sending: "", waitSeconds: 10) }
            #expect(silent.map { $0 < 5 } == true, "a connection that sent nothing stayed open: \(String(describing: silent))")
            // A TLS record header promising a 512-byte ClientHello, then nothing.
            let halfHello = try await blockingCall {
                ConnectionTimeoutTests.secondsUntilClosed(port: port, sending: "\u{16}\u{03}\u{01}\u{02}\u{01}", waitSeconds: 10)
            }
            #expect(halfHello.map { $0 < 5 } == true, "a half-sent handshake stayed open: \(String(describing: halfHello))")
            let idle = try await secondsUntilIdleTLSClosed(port: port, trusting: files.certificate, waitSeconds: 10)
            #expect(idle.map { $0 < 5 } == true, "an idle TLS connection stayed open: \(String(describing: idle))")
        }
    }

    /// Each bad pair of files is refused before serving, with a message naming the file and the problem.
    @Test(.timeLimit(.minutes(3)))
    func badCertificateAndKeyFilesAreRefused() throws {
        let files = try DevCertificateFiles(), other = try DevCertificateFiles()
        defer { files.remove(); other.remove() }
        func refusal(_ certificate: String, _ key: String, now: Date = Date()) -> String? {
            do { _ = try ServerTLS.load(certificate: certificate, key: key, now: now); return nil } catch { return error.description }
        }
        #expect(refusal(files.certificate, files.key) == nil)
        let missing = files.folder.appendingPathComponent("nope.pem").path
        #expect(refusal(missing, files.key)?.contains("no TLS certificate at \(missing)") == true)
        #expect(refusal(files.certificate, missing)?.contains("no TLS private key at \(missing)") == true)
        #expect(refusal(files.folder.path, files.key)?.contains("is a directory") == true)
        #expect(refusal(files.key, files.certificate)?.contains("swapped") == true)
        #expect(refusal(files.certificate, other.key)?.contains("does not belong to the certificate") == true)
        let text = files.folder.appendingPathComponent("text.pem")
        try Data("not a certificate\n".utf8).write(to: text)
        #expect(refusal(text.path, files.key)?.contains("holds no PEM certificate") == true)
        let encrypted = files.folder.appendingPathComponent("encrypted.pem")
        try Data("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".utf8).write(to: encrypted)
        #expect(refusal(files.certificate, encrypted.path)?.contains("encrypted") == true)
        // Past its notValidAfter (a year and a day from now) the certificate is refused as expired.
        #expect(refusal(files.certificate, files.key, now: Date().addingTimeInterval(366 * 86_400))?.contains("expired") == true)
    }

    /// The development key is created 0600 and the certificate names localhost, 127.0.0.1 and ::1.
    @Test(.timeLimit(.minutes(3)))
    func developmentCertificateFiles() throws {
        let files = try DevCertificateFiles()
        defer { files.remove() }
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: files.key)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let loaded = try ServerTLS.load(certificate: files.certificate, key: files.key)
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.subject.contains("CN=localhost"))
        #expect(loaded.notValidAfter > Date().addingTimeInterval(360 * 86_400))
        // It refuses to replace an existing pair.
        #expect(throws: TLSSetupError.self) {
            try DevelopmentCertificate.write(certificate: URL(fileURLWithPath: files.certificate), key: URL(fileURLWithPath: files.key))
        }
        // A key others can read is served with a warning.
        chmod(files.key, 0o644)
        #expect(try ServerTLS.load(certificate: files.certificate, key: files.key).warnings.contains { $0.contains("chmod 600") })
    }
}

/// A small lock-protected value for handing a result out of a closure.
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.lock(); value = newValue; lock.unlock() }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
}

/// Runs blocking socket work on a GCD thread, so Swift Testing's cooperative pool stays free.
func blockingCall<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
