public import Contracts
public import LedgerCore
public import Node
public import Services

/// What the portal serves from. The portal is an adapter like the HTTP API: every page parses its
/// request, calls the same services `/v1` and the CLI call, and renders the answer. The server that
/// mounts it (`LedgerServer.router`) supplies the node and its token service, so staff sign in
/// through exactly the checks of `POST /auth/token` and hold the same access tokens.
public struct PortalBackend: Sendable {
    public let node: LedgerNode
    /// Signs the tree heads the explorer shows, as `GET /v1/log/sth` does.
    public let nodeKeys: IdentityKeys
    /// The access log read models write their decisions to (as for `/v1`); nil on a node without one.
    public let access: AccessService?
    /// The FHIR facade `/fhir` serves (search, read, create over the node's records, and the client
    /// that signs for this process); nil on a node that holds no records (no clinician pages then).
    public let fhir: FHIRService?
    public let tokens: any PortalTokenService
    /// The node's public URL (no trailing slash): cookies are `Secure` when it is https, and a
    /// form posted from any other origin is refused.
    public let publicURL: String
    /// Signed-in sessions and sign-in forms in flight (memory only: a restart signs everyone out).
    public let sessions: PortalSessions
    /// Open event streams: the server's `/v1/events` slots, so the portal's stream counts against the same limits.
    public let eventStreams: EventStreamSlots

    /// Key files opened at once for a sign-in or a signature (`PortalLimits.keyFileOpeningsMax`).
    let keyFileOpenings = Gate(limit: PortalLimits.keyFileOpeningsMax)

    public init(node: LedgerNode, nodeKeys: IdentityKeys, access: AccessService?, fhir: FHIRService? = nil, tokens: any PortalTokenService,
                publicURL: String, sessions: PortalSessions = PortalSessions(), eventStreams: EventStreamSlots = EventStreamSlots()) {
        self.node = node
        self.nodeKeys = nodeKeys
        self.access = access
        self.fhir = fhir
        self.tokens = tokens
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        self.sessions = sessions
        self.eventStreams = eventStreams
    }

    /// The read models' view of committed state, logging to the access log like `/v1`'s.
    func view() async -> LedgerView { await LedgerView.of(node, audit: access) }
}

/// The node's token service as the portal uses it: the same assertion checks and the same access
/// tokens as `POST /auth/token`, and the same token checks as the `/v1` API's bearer middleware.
/// The server implements it over its `TokenAuthority`; the portal never signs or checks a token itself.
public protocol PortalTokenService: Sendable {
    /// The token endpoint: the `aud` a client assertion must name.
    var tokenURL: String { get }
    /// `POST /auth/token` for a client assertion (EdDSA JWT signed by the identity's registered key).
    func token(forAssertion assertion: String) async throws(PortalRefusal) -> PortalToken
    /// `POST /auth/token` for an assertion the server makes with `keys` (a key file uploaded at sign-in).
    func token(for keys: IdentityKeys) async throws(PortalRefusal) -> PortalToken
    /// The active identity an access token speaks for (expired, revoked or foreign: refused), as
    /// the `/v1` API's bearer check decides it.
    func identity(bearer token: String) async throws(PortalRefusal) -> Identity
}

/// An access token issued at sign-in.
public struct PortalToken: Sendable {
    public let token: String
    public let identity: Identity
    public let expiresInSeconds: Int64

    public init(token: String, identity: Identity, expiresInSeconds: Int64) {
        (self.token, self.identity, self.expiresInSeconds) = (token, identity, expiresInSeconds)
    }
}

/// Why the token service or a service refused: the HTTP status and a message safe to show (ids and
/// codes only, never PHI), shown on the portal's error page or next to the form.
public struct PortalRefusal: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public init(status: Int, message: String) { (self.status, self.message) = (status, message) }
    public var description: String { "\(status): \(message)" }

    init(_ error: ServiceError) {
        let status = switch error.kind {
        case .invalid: 400
        case .notFound: 404
        case .forbidden: 403
        case .conflict: 409
        case .unavailable: 503
        }
        self.init(status: status, message: error.message)
    }
}
