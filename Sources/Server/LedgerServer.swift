#if canImport(Glibc)
import Glibc
#endif
public import Contracts
import Foundation
import HTTPTypes
public import Hummingbird
public import LedgerCore
public import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import HummingbirdCore
import HummingbirdTLS
public import Node
import Portal
public import Prometheus
public import Services
import Storage

/// Per-request context: Hummingbird's core storage plus the ledger identity the bearer token speaks for.
public struct LedgerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` on authenticated routes.
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { ServerLimits.bodyBytesMax }

    /// The authenticated identity (routes behind `AuthMiddleware` only).
    func requester() throws(APIError) -> Identity {
        guard let identity else { throw .unauthorized("invalid_token", "this route needs a bearer token") }
        return identity
    }
}

/// What the server serves from: the node, its signing key (tree heads), and the token authority.
public struct ServerServices: Sendable {
    public let node: LedgerNode
    public let nodeKeys: IdentityKeys
    public let tokens: TokenAuthority
    public let metrics: PrometheusCollectorRegistry
    /// The FHIR facade, when the node holds records (custodian keys and a vault).
    public let fhir: FHIRService?
    /// The access log every decision to show a patient's data is written to (the FHIR facade's,
    /// when there is one). Without one the node shows no patient's data.
    public let access: AccessService?
    /// Relays sealed telehealth messages between session participants (memory only).
    public let relay = TelehealthRelay()
    /// Open `/v1/events` streams, against their limits.
    public let eventStreams = EventStreamSlots()

    /// A consortium node's way to records other organizations' nodes hold (`PeerRecords`).
    public let recordPeer: (any RecordPeer)?
    /// A consortium node's endorser of endorsed private calls; nil on a single node.
    public let endorser: Endorser?

    public init(node: LedgerNode, nodeKeys: IdentityKeys, tokens: TokenAuthority, fhir: FHIRService? = nil, access: AccessService? = nil,
                metrics: PrometheusCollectorRegistry = .init(), recordPeer: (any RecordPeer)? = nil, endorser: Endorser? = nil) {
        self.recordPeer = recordPeer
        self.endorser = endorser
        self.node = node
        self.nodeKeys = nodeKeys
        self.tokens = tokens
        self.fhir = fhir
        self.access = access ?? fhir?.access
        self.metrics = metrics
    }

    var store: any LedgerStore { node.store }

    /// The active identity a verified access token names (`TokenAuthority.identity(bearer:)`), or
    /// a 401: what the `/v1` bearer middleware and the portal's sessions both check on every request.
    func authenticate(_ token: (id: IdentityID, scopes: Scopes)) throws(APIError) -> (identity: Identity, scopes: Scopes) {
        guard let identity = Directory.identity(token.id, in: state) else {
            throw APIError.unauthorized("invalid_token", "the token's identity \(token.id.hex) is not on this ledger")
        }
        guard !identity.revoked else { throw APIError.unauthorized("invalid_token", "identity \(token.id.hex) has been revoked") }
        return (identity, token.scopes)
    }

    /// `POST /auth/token`'s work once the form is parsed: check the client assertion, mint the token.
    /// The portal's sign-in calls it too (`PortalTokens`).
    func issueToken(assertion: String, scopes: Scopes) async throws -> (identity: Identity, token: AccessToken) {
        let identity = try await tokens.verifyAssertion(assertion, state: state)
        return (identity, try await tokens.mint(for: identity.id, scope: scopes.description))
    }
    /// What the read models read: committed state at the head block, and the custodians this node holds.
    func view() async -> LedgerView { await LedgerView.of(node, audit: access) }
    var state: any StateReader { node.state }
}

/// Why an HTTP server could not start.
public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The HTTP server: `/healthz`, `/metrics`, `/auth/token`, the `/v1` JSON API with the
/// Certificate-Transparency-shaped proof API, and `/v1/openapi.json`.
public enum LedgerServer {
    /// Builds the router for `services`. `peerRoutes` false: the node-to-node routes are left out
    /// (a consortium node serves them only on its peer listener, `peerApplication`).
    public static func router(_ services: ServerServices, peerRoutes: Bool = true) -> Router<LedgerRequestContext> {
        let router = Router(context: LedgerRequestContext.self)
        router.add(middleware: MetricsMiddleware(registry: services.metrics))
        router.get("/healthz") { _, _ in
            let head = await services.node.headHeader
            let finality = await services.node.finalityStatus
            let failure = await services.node.failureError
            var body: [String: Any] = ["status": failure == nil ? "ok" : "halted", "chainId": head.chainId, "height": head.height,
                                       "treeSize": head.logSize, "stateRoot": head.stateRoot.hex, "finalHeight": finality.finalHeight,
                                       "quorum": finality.quorum, "refusedAttestations": finality.refusedAttestations]
            if let failure { body["failure"] = "\(failure)" }
            let catchUp = services.node.catchUpStatus, privateData = services.node.privateDataStatus
            body["caughtUpBlocks"] = catchUp.blocks
            if let error = catchUp.error { body["catchUpError"] = error }
            if services.node.configuration.logRetentionBlocks != nil {
                let retired = await services.node.logRetirement
                body["logRetiredBelow"] = retired.height
                if let error = retired.error { body["logRetireError"] = error }
            }
            body["privatePayloads"] = ["fetched": privateData.fetched, "refused": privateData.refused]
            if let waiting = privateData.waitingFor { body["waitingForPrivatePayload"] = waiting.hex }
            if let divergence = finality.divergence { body["divergence"] = "\(divergence)" }
            if let checkpoints = services.node.checkpointStatus {
                var checkpoint: [String: Any] = ["skipped": checkpoints.skipped]
                if let last = checkpoints.last { (checkpoint["height"], checkpoint["digest"], checkpoint["bytes"]) = (last.height, last.digest.hex, last.bytes) }
                if let error = checkpoints.error { checkpoint["error"] = error }
                if let base = checkpoints.base { checkpoint["joinedFrom"] = ["height": base.height, "digest": base.digest.hex] }
                body["checkpoint"] = checkpoint
            }
            if !finality.disagreements.isEmpty { body["disagreements"] = finality.disagreements.map(\.description) }
            return JSON.response(body, status: failure == nil ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            let head = await services.node.headHeader
            let gauges = [("height", "blocks", "Height of the last committed block", Double(head.height)),
                          ("log", "transactions", "Transactions in the log", Double(head.logSize)),
                          ("pending", "transactions", "Admitted, not yet committed", Double(await services.node.pendingCount))]
            for (name, unit, help, value) in gauges {
                services.metrics.makeGauge(descriptor: .init(namespace: "careledger", metricName: name, unitName: unit, helpText: help)).set(value)
            }
            var buffer: [UInt8] = []
            services.metrics.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        AuthRoutes.add(to: router, services)
        let document = JSON.encode(OpenAPIDocument.document(records: services.access != nil))
        router.get("/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
        }
        if peerRoutes { addPeerRoutes(to: router, services) }
        let v1 = router.group("v1").add(middleware: AuthMiddleware(services: services))
        LogRoutes.add(to: v1, services)
        EventRoutes.add(to: v1, services)
        ContractRoutes.add(to: v1, services)
        // The record routes need the access service only (a node with a vault and custodian keys; the FHIR facade's when there is one).
        if let access = services.access { RecordRoutes.add(to: v1, services, access: access) }
        if let fhir = services.fhir {
            FHIRRoutes.add(to: router, services, fhir: fhir)
        }
        Portal.add(to: router, PortalBackend(node: services.node, nodeKeys: services.nodeKeys, access: services.access, fhir: services.fhir,
                                             tokens: PortalTokens(services: services), publicURL: services.tokens.publicURL,
                                             eventStreams: services.eventStreams))
        return router
    }

    /// Node-to-node routes: another organization's node signs its request with its organization's
    /// key (no bearer token; `PrivatePayloads.authenticate`).
    static func addPeerRoutes(to router: Router<LedgerRequestContext>, _ services: ServerServices) {
        router.get("/v1/private/:id") { request, context in
            let id = try context.parameters.require("id")
            guard let transaction = Hash256(hex: id) else { throw APIError.badRequest("the transaction id is 64 hex digits") }
            let peer = try peerRequest(request, services, resource: PeerRequest.privatePayload(transaction))
            let nowMs = await services.node.nextBlockTimeMs
            let payload: [UInt8]
            do throws(ServiceError) {
                payload = try await PrivatePayloads.release(peer, transaction: transaction, node: services.node, access: services.access, nowMs: nowMs)
            } catch {
                throw APIError(error)
            }
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: payload)))
        }
        router.get("/v1/peer/records/:id/release") { request, context in
            guard let record = Hash256(hex: try context.parameters.require("id")),
                  let requester = request.query("requester").flatMap(Hash256.init(hex:)) else {
                throw APIError.badRequest("the record id and `requester` are 64 hex digits each")
            }
            guard let purpose = Purpose(rawValue: request.query("purpose") ?? "TREAT") else {
                throw APIError.badRequest("purpose must be one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let access = services.access else { throw APIError(.notFound, "not_found", "this node holds no records") }
            let peer = try peerRequest(request, services, resource: PeerRecords.resource(record, requester: requester, purpose: purpose))
            let nowMs = await services.node.nextBlockTimeMs
            let seen = try request.integer("seen", in: 0...UInt64(Int64.max), default: 0)
            return try await JSON.read { () async throws(ServiceError) in
                try await PeerRecords.release(peer, record: record, requester: requester, purpose: purpose, node: services.node, access: access,
                                              nowMs: nowMs, seenHeight: seen)
            }
        }
        router.post("/v1/peer/endorse") { request, _ in
            let body = Array(buffer: try await request.collectBody(upTo: EndorsementRequest.encodedBytesMax))
            let peer = try peerRequest(request, services, resource: PeerRequest.endorsement(Hash256.sha256(body)))
            guard let endorser = services.endorser else { throw APIError.notFound("this node endorses no calls") }
            let nowMs = await services.node.nextBlockTimeMs
            do {
                let organization = try PrivatePayloads.authenticate(peer, resource: peer.resource, node: services.node, nowMs: nowMs)
                let signature = try await endorser.answer(try EndorsementRequest(decoding: body), from: organization.id, node: services.node,
                                                          nowMs: nowMs)
                return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: signature)))
            } catch { throw APIError.of(error) }
        }
        router.get("/v1/blocks") { request, _ in
            let from = try request.integer("from", in: 1...UInt64(Int64.max), default: 1)
            let limit = Int(try request.integer("limit", in: 1...UInt64(PeerBlockService.blocksMax), default: UInt64(PeerBlockService.blocksMax)))
            let peer = try peerRequest(request, services, resource: PeerRequest.blocks(from: from))
            let nowMs = await services.node.nextBlockTimeMs
            return try JSON.read { () throws(ServiceError) in try PeerBlockService.serve(peer, from: from, limit: limit, node: services.node, nowMs: nowMs) }
        }
        addSnapshotRoute(to: router, services)
    }

    /// A piece of a checkpoint snapshot for a joining organization's node (`PeerSnapshotService`).
    static func addSnapshotRoute(to router: Router<LedgerRequestContext>, _ services: ServerServices) {
        router.get("/v1/snapshots/:height") { request, context in
            guard let height = UInt64(try context.parameters.require("height")) else { throw APIError.badRequest("the height is a whole number") }
            let offset = try request.integer("offset", in: 0...UInt64(Int64.max), default: 0)
            let peer = try peerRequest(request, services, resource: PeerRequest.snapshot(height: height, offset: offset))
            let nowMs = await services.node.nextBlockTimeMs
            do throws(ServiceError) {
                let piece = try PeerSnapshotService.serve(peer, height: height, offset: offset, node: services.node, nowMs: nowMs)
                var headers: HTTPFields = [.contentType: "application/octet-stream"]
                if let name = HTTPField.Name(PeerSnapshotService.bytesHeader) { headers[name] = String(piece.total) }
                if let position = piece.position, let name = HTTPField.Name(PeerSnapshotService.positionHeader) { headers[name] = String(position) }
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: piece.bytes)))
            } catch { throw APIError(error) }
        }
    }

    /// The signed node-to-node request a request carries (`PrivatePayloads` headers), for `resource`.
    static func peerRequest(_ request: Request, _ services: ServerServices, resource: String) throws -> PeerRequest {
        let fields = request.headers
        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { fields[$0] } }
        guard let organization = header(PrivatePayloads.organizationHeader).flatMap(Hash256.init(hex:)),
              let timeMs = header(PrivatePayloads.timeHeader).flatMap(Int64.init),
              let signature = header(PrivatePayloads.signatureHeader).flatMap(Base64.decode) else {
            throw APIError.unauthorized("missing_signature", "sign the request with your organization's key: \(PrivatePayloads.organizationHeader), "
                                        + "\(PrivatePayloads.timeHeader) and \(PrivatePayloads.signatureHeader) headers")
        }
        return PeerRequest(chainId: services.node.chainId, resource: resource, organization: organization, timeMs: timeMs, signature: signature)
    }

    /// Runs the HTTP server in this process on a free loopback port for the duration of `body`,
    /// which gets the port; then shuts it down gracefully (stops accepting, lets requests in flight
    /// finish, closes idle connections) and returns once it has stopped, whether `body` returned or
    /// threw. `services` gets the server's URL (`http://127.0.0.1:PORT`, or `https://…` with `tls`)
    /// to build its token authority on.
    ///
    /// Graceful, never a task cancel: cancelling a running Hummingbird server while an accepted
    /// connection is still queued traps in NIO ("Deinited NIOAsyncWriter without calling finish()").
    public static func withServerInProcess<Result>(idleTimeout: Duration = .seconds(ServerLimits.idleSeconds), tls: ServerTLS? = nil,
                                                   services: (_ publicURL: String) async throws -> ServerServices,
                                                   _ body: (_ port: Int) async throws -> Result) async throws -> Result {
        var logger = Logger(label: "careledger.in-process-server")
        logger.logLevel = .critical
        let port = try freePort(host: "127.0.0.1")
        let (ready, readySink) = AsyncStream.makeStream(of: Void.self)
        let url = "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)"
        let app = LedgerServer.application(try await services(url), port: port, idleTimeout: idleTimeout, tls: tls,
                                           logger: logger) { _ in readySink.yield() }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let running = Task {
            defer { readySink.finish() }
            try await group.run()
        }
        var started = false
        for await _ in ready {
            started = true
            break
        }
        guard started else {
            try await running.value  // the server stopped before it was running: its error
            throw ServerStartError("the in-process server stopped before it started")
        }
        let result: Result
        do {
            result = try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await running.value
        return result
    }

    /// A TCP port free on `host` right now, for a server whose URL must be known before it starts
    /// (`--port 0`, in-process servers).
    public static func freePort(host: String) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerStartError("no socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw ServerStartError("\(host) is not an IPv4 address") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ServerStartError("cannot bind \(host):0: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// An application listening on `host:port` (port 0 picks a free one; `onRunning` gets the bound port).
    /// A connection that sends nothing for `idleTimeout` — between requests, or in the middle of
    /// one (a half-sent request, or a TLS handshake that stalls) — is closed. With `tls` it serves
    /// HTTPS only: a plain-HTTP request to the port fails the handshake and is closed.
    public static func application(_ services: ServerServices, host: String = "127.0.0.1", port: Int,
                                   idleTimeout: Duration = .seconds(ServerLimits.idleSeconds), tls: ServerTLS? = nil, peerRoutes: Bool = true,
                                   logger: Logger = Logger(label: "careledger.server"),
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(services, peerRoutes: peerRoutes),
                    server: serverBuilder(.init(idleTimeout: TimeAmount(idleTimeout)), tls: tls),
                    configuration: .init(address: .hostname(host, port: port), serverName: "CareLedger"),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}

extension LedgerServer {
    /// Serves `services` on `host:port` (with `tls`, HTTPS) and, for a consortium node, its peer
    /// listener on `peer.port` (the node-to-node routes then only there) until SIGINT or SIGTERM,
    /// then drains requests in flight. `onListening` gets nil when the API listens, the port when
    /// the peer listener does.
    public static func serve(_ services: ServerServices, host: String, port: Int, tls: ServerTLS?, peer: (tls: PeerTLS, port: Int)?,
                             onListening: @escaping @Sendable (Int?) -> Void) async throws {
        let app = application(services, host: host, port: port, tls: tls, peerRoutes: peer == nil) { _ in onListening(nil) }
        guard let peer else { return try await app.runService() }
        let peerApp = peerApplication(services, tls: peer.tls, host: host, port: peer.port) { bound in onListening(bound) }
        try await ServiceGroup(configuration: .init(services: [app, peerApp], gracefulShutdownSignals: [.sigterm, .sigint],
                                                    logger: Logger(label: "careledger.node"))).run()
    }

    /// A consortium node's peer listener on `host:port`: HTTPS, TLS 1.3, mutual TLS with `tls`
    /// (`PeerTLS`). A connection is accepted only from a certificate holding the current key of an
    /// active organization in this node's replica, checked at each handshake; it serves the
    /// node-to-node routes only (`/healthz` aside), each request still signed by organization key.
    public static func peerApplication(_ services: ServerServices, tls: PeerTLS, host: String = "127.0.0.1", port: Int,
                                       idleTimeout: Duration = .seconds(ServerLimits.idleSeconds),
                                       logger: Logger = Logger(label: "careledger.peer-server"),
                                       onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: LedgerRequestContext.self)
        router.add(middleware: MetricsMiddleware(registry: services.metrics))
        router.get("/healthz") { _, _ in JSON.response(["status": "ok", "chainId": services.node.chainId]) }
        addPeerRoutes(to: router, services)
        let node = services.node
        let channel = TLSChannelConfiguration(tlsConfiguration: tls.serverConfiguration) { certificates, promise in
            promise.succeed(PeerTLS.organization(presenting: certificates, in: node.state) != nil ? .certificateVerified : .failed)
        }
        let configuration = HTTP1Channel.Configuration(idleTimeout: TimeAmount(idleTimeout))
        return Application(router: router,
                           server: HTTPServerBuilder { responder in
                               try TLSChannel(HTTP1Channel(responder: responder, configuration: configuration), configuration: channel)
                           },
                           configuration: .init(address: .hostname(host, port: port), serverName: "CareLedger"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}

/// Counts requests and times them by route pattern and status, for `/metrics`.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let registry: PrometheusCollectorRegistry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let status: Int
        let response: Response
        do {
            response = try await next(request, context)
            status = Int(response.status.code)
        } catch let error as any HTTPResponseError {
            record(context.endpointPath ?? "unmatched", request.method.rawValue, Int(error.status.code), start)
            throw error
        }
        record(context.endpointPath ?? "unmatched", request.method.rawValue, status, start)
        return response
    }

    private func record(_ route: String, _ method: String, _ status: Int, _ start: ContinuousClock.Instant) {
        let labels = [("route", route), ("method", method), ("status", String(status))]
        registry.makeCounter(descriptor: .init(namespace: "careledger", subsystem: "http", metricName: "requests", unitName: "total",
                                               helpText: "HTTP requests by route pattern, method and status"), labels: labels).increment()
        registry.makeDurationHistogram(descriptor: .init(namespace: "careledger", subsystem: "http", metricName: "request_duration",
                                                         unitName: "seconds", helpText: "HTTP request duration by route pattern"),
                                       labels: [("route", route)],
                                       buckets: [.microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(20),
                                                 .milliseconds(100), .milliseconds(500), .seconds(2)])
            .recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
    }
}

/// Requires `Authorization: Bearer <token>` for an active ledger identity; puts it in the context.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let services: ServerServices

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("invalid_request", "send Authorization: Bearer <token> (POST /auth/token, or careledger token)")
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError.unauthorized("invalid_request", "the Authorization header must use the Bearer scheme")
        }
        let (identity, scopes) = try services.authenticate(try await services.tokens.identity(bearer: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)))
        // SMART scopes: the interaction's resource type and permission must be granted (403 otherwise).
        let needed = Scopes.needed(method: request.method, path: request.uri.path)
        try scopes.require(needed.permissions, on: needed.type)
        var context = context
        context.identity = identity
        return try await next(request, context)
    }
}

extension Request {
    /// The body, at most `limit` bytes; a larger one is a 413 `too_large` naming the limit (not the
    /// bare 413 without a JSON error that collecting answers with).
    func collectBody(upTo limit: Int) async throws -> ByteBuffer {
        do { return try await body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too_large", "the request body is larger than \(limit) bytes")
        }
    }

    /// A query parameter, or nil.
    func query(_ name: String) -> String? { uri.queryParameters[name[...]].map(String.init) }

    /// A non-negative integer query parameter within `range`, or a 400 naming it.
    func integer(_ name: String, in range: ClosedRange<UInt64>, default value: UInt64? = nil) throws(APIError) -> UInt64 {
        guard let text = query(name) else {
            if let value { return value }
            throw .badRequest("query parameter \(name) is required")
        }
        guard let number = UInt64(text), range.contains(number) else {
            throw .badRequest("\(name) must be an integer in \(range.lowerBound)…\(range.upperBound), got “\(text.prefix(40))”")
        }
        return number
    }

    /// An optional non-negative integer query parameter within `range` (nil when absent), or a 400 naming it.
    func optionalInteger(_ name: String, in range: ClosedRange<UInt64>) throws(APIError) -> UInt64? {
        guard query(name) != nil else { return nil }
        return try integer(name, in: range)
    }

    /// An optional boolean query parameter (`true` or `false`; absent is `false`), or a 400 naming it.
    func flag(_ name: String) throws(APIError) -> Bool {
        switch query(name) {
        case nil, "false": return false
        case "true": return true
        case let text?: throw .badRequest("\(name) must be true or false, got “\(text.prefix(40))”")
        }
    }
}
