public import Contracts
import Crypto
public import Foundation
import HTTPTypes
import JWTKit
public import LedgerCore
import Services
public import Storage
import Synchronization

/// Limits of the HTTP server. Every one is enforced and stated in README.
public enum ServerLimits {
    /// Largest request body (413 above it).
    public static let bodyBytesMax = 16 << 20
    /// Lifetime of an access token.
    public static let accessTokenSeconds: Int64 = 900
    /// Longest lifetime a client assertion may claim (SMART Backend Services: five minutes).
    public static let assertionSecondsMax: Int64 = 300
    /// Clock skew tolerated on client assertions.
    public static let clockSkewSeconds: Int64 = 60
    /// Access tokens remembered after their first verification; past this the cache starts over.
    public static let verifiedTokensMax = 100_000
    /// Longest a client may ask `POST /v1/txs?wait=true` to wait.
    public static let commitWaitMsMax = 30_000
    /// A connection silent this long (idle, or stalled in the middle of a request) is closed.
    public static let idleSeconds: Int64 = 30
    /// Largest page of `GET /v1/txs`.
    public static let transactionsPageMax = 100
}

/// The claims of an access token the node issues.
struct AccessClaims: JWTPayload, Equatable {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var jti: IDClaim
    var scope: String

    func verify(using algorithm: some JWTAlgorithm) async throws { try exp.verifyNotExpired() }
}

/// An access token as issued: the compact JWT and when it expires.
public struct AccessToken: Sendable {
    public let token: String
    public let identity: IdentityID
    public let expiresIn: Int64
    public let scope: String
}

/// Issues and checks access tokens: EdDSA JWTs signed by the node's key, bound to a ledger
/// identity. Tokens come from client assertions signed with the identity's registered key
/// (`POST /auth/token`) or are minted locally by whoever holds the node key (`careledger token`).
public final class TokenAuthority: Sendable {
    /// `aud` of every access token: the chain it is valid on.
    public let audience: String
    /// The node's public base URL (`https://ledger.example.org`, no trailing slash): every URL the
    /// server prints or links is built on it, never on a request's `Host` header.
    public let publicURL: String
    /// The token endpoint: the one `aud` a client assertion must name.
    public var tokenURL: String { publicURL + "/auth/token" }
    private let issuer: String
    private let keys: JWTKeyCollection
    private let now: @Sendable () -> Date
    private let verified = Mutex<[String: (claims: AccessClaims, expires: Int64)]>([:])
    private let usedAssertions: any UsedAssertionStore

    /// `usedAssertions` keeps accepted assertion ids until they expire: give a node serving real
    /// clients the SQLite one in its data directory, or a restart re-opens every replay.
    public init(nodeKeys: IdentityKeys, chainId: String, publicURL: String, usedAssertions: any UsedAssertionStore,
                now: @escaping @Sendable () -> Date = Date.init) async {
        audience = "careledger:\(chainId)"
        self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        issuer = nodeKeys.derivedID.hex
        keys = JWTKeyCollection()
        await keys.add(eddsa: EdDSA.PrivateKey(backing: nodeKeys.signing), kid: JWKIdentifier(string: issuer))
        self.usedAssertions = usedAssertions
        self.now = now
    }

    /// An authority that only mints tokens locally (`careledger token`); it accepts no client assertions.
    public convenience init(mintingFor nodeKeys: IdentityKeys, chainId: String) async {
        await self.init(nodeKeys: nodeKeys, chainId: chainId, publicURL: "", usedAssertions: InMemoryUsedAssertions())
    }

    private var nowSeconds: Int64 { Int64(now().timeIntervalSince1970) }

    /// Mints an access token for `identity` (the caller has checked it may have one).
    public func mint(for identity: IdentityID, scope: String = "system/*.*") async throws -> AccessToken {
        let issued = nowSeconds
        let claims = AccessClaims(
            iss: .init(value: issuer), sub: .init(value: identity.hex), aud: .init(value: [audience]),
            exp: .init(value: Date(timeIntervalSince1970: TimeInterval(issued + ServerLimits.accessTokenSeconds))),
            iat: .init(value: Date(timeIntervalSince1970: TimeInterval(issued))),
            jti: .init(value: Hash256.sha256(Array(UUID().uuidString.utf8)).hex), scope: scope)
        let token = try await keys.sign(claims, kid: JWKIdentifier(string: issuer))
        return AccessToken(token: token, identity: identity, expiresIn: ServerLimits.accessTokenSeconds, scope: scope)
    }

    /// The identity an access token speaks for and the scopes it was granted, or a 401 saying why not.
    public func identity(bearer token: String) async throws(APIError) -> (id: IdentityID, scopes: Scopes) {
        let current = nowSeconds
        if let hit = verified.withLock({ $0[token] }) {
            guard hit.expires > current else { throw .unauthorized("invalid_token", "the access token has expired") }
            return try subject(hit.claims)
        }
        let claims: AccessClaims
        do { claims = try await keys.verify(token, as: AccessClaims.self) } catch let error as JWTError {
            if error.errorType == .claimVerificationFailure { throw .unauthorized("invalid_token", "the access token has expired") }
            throw .unauthorized("invalid_token", "the access token is not one this node issued")
        } catch {
            throw .unauthorized("invalid_token", "the access token is not one this node issued")
        }
        guard claims.iss.value == issuer, claims.aud.value.contains(audience) else {
            throw .unauthorized("invalid_token", "the access token is for another node or chain")
        }
        let expires = Int64(claims.exp.value.timeIntervalSince1970)
        verified.withLock { cache in
            if cache.count >= ServerLimits.verifiedTokensMax { cache.removeAll(keepingCapacity: true) }
            cache[token] = (claims, expires)
        }
        return try subject(claims)
    }

    private func subject(_ claims: AccessClaims) throws(APIError) -> (id: IdentityID, scopes: Scopes) {
        guard let id = Hash256(hex: claims.sub.value) else { throw .unauthorized("invalid_token", "the access token names no identity") }
        guard case .success(let scopes) = Scopes.parse(claims.scope) else { throw .unauthorized("invalid_token", "the access token's scopes are not SMART scopes") }
        return (id, scopes)
    }

    /// Checks a client assertion (RFC 7523 as profiled by SMART Backend Services): signed with
    /// the registered key of the active identity named in `iss` = `sub`, addressed to this node's
    /// token endpoint (`aud` equal to `tokenURL`), expiring within five minutes, and never seen
    /// before — by this process or an earlier one.
    public func verifyAssertion(_ assertion: String, state: any StateReader) async throws(APIError) -> Identity {
        func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid_client", message) }
        guard !publicURL.isEmpty else { throw invalid("this authority only mints tokens locally") }
        let (unverified, id): (ClientAssertion, IdentityID)
        do { (unverified, id) = try ClientAssertion.unverified(assertion) } catch { throw invalid(error.message) }
        guard let identity = Directory.identity(id, in: state) else { throw invalid("no identity \(id.hex) on the ledger") }
        guard !identity.revoked else { throw invalid("identity \(id.hex) has been revoked") }
        let signer = JWTKeyCollection()
        do {
            let key = try Curve25519.Signing.PublicKey(rawRepresentation: identity.signingKey.rawValue)
            await signer.add(eddsa: EdDSA.PublicKey(backing: key))
            _ = try await signer.verify(assertion, as: ClientAssertion.self)
        } catch {
            throw invalid("client_assertion is not signed (EdDSA) by the registered key of \(id.hex)")
        }
        guard unverified.aud.value.contains(tokenURL) else { throw invalid("aud must be this node's token endpoint, \(tokenURL)") }
        let current = nowSeconds
        let expires = Int64(unverified.exp.value.timeIntervalSince1970)
        guard expires > current - ServerLimits.clockSkewSeconds else { throw invalid("client_assertion has expired") }
        guard expires <= current + ServerLimits.assertionSecondsMax + ServerLimits.clockSkewSeconds else {
            throw invalid("client_assertion may be valid for at most \(ServerLimits.assertionSecondsMax) seconds")
        }
        guard let jti = unverified.jti?.value, !jti.isEmpty, jti.utf8.count <= 256 else { throw invalid("client_assertion needs a jti") }
        let use: AssertionUse
        do { use = try usedAssertions.use(identity: id.hex, jti: jti, expires: expires, keepAfter: current - ServerLimits.clockSkewSeconds) } catch {
            throw APIError(.serviceUnavailable, "temporarily_unavailable", "the assertion could not be recorded against replay; retry shortly")
        }
        switch use {
        case .fresh: return identity
        case .replayed: throw invalid("client_assertion jti \(jti) was already used")
        case .tooMany:
            throw APIError(.tooManyRequests, "invalid_client",
                           "identity \(id.hex) has \(UsedAssertions.perIdentityMax) unexpired assertions; reuse its access token until it expires")
        }
    }

    /// A client assertion for `keys` (what `careledger token --remote` and tests send).
    public static func makeAssertion(for keys: IdentityKeys, tokenURL: String, now: Date = Date(), lifetimeSeconds: Int64 = 240,
                                     jti: String = UUID().uuidString) async throws -> String {
        let id = keys.derivedID.hex
        let claims = ClientAssertion(
            iss: .init(value: id), sub: .init(value: id), aud: .init(value: [tokenURL]),
            exp: .init(value: now.addingTimeInterval(TimeInterval(lifetimeSeconds))), jti: .init(value: jti))
        let collection = JWTKeyCollection()
        await collection.add(eddsa: EdDSA.PrivateKey(backing: keys.signing), kid: JWKIdentifier(string: id))
        return try await collection.sign(claims, kid: JWKIdentifier(string: id))
    }
}
