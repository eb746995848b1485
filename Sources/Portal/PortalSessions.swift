public import Foundation
public import LedgerCore
import Synchronization

/// Limits of the portal. Each is enforced; docs/portal.md states them.
public enum PortalLimits {
    /// Signed-in sessions held at once; past it the session expiring soonest is dropped.
    public static let sessionsMax = 10_000
    /// Signed-in sessions of one identity; past it its oldest is dropped (signed out).
    public static let sessionsPerIdentityMax = 8
    /// Sign-in forms in flight (anonymous sessions holding a CSRF token and a challenge); past it the oldest is dropped.
    public static let pendingMax = 1_000
    /// How long a sign-in form stays valid.
    public static let pendingSeconds: Int64 = 600
    /// Largest url-encoded form body (sign-in by assertion, sign-out).
    public static let formBytesMax = 16 << 10
    /// Largest multipart body of the key-file sign-in (the key file itself: `StoredKey.uploadedBytesMax`).
    public static let keyFileFormBytesMax = 32 << 10
    /// Largest client assertion a browser may send.
    public static let assertionBytesMax = 4 << 10
    /// Key-file sign-ins opening a sealed file at once (scrypt: 32 MiB and ~0.1 s each); more get 503.
    public static let keyFileOpeningsMax = 2
    /// Transactions on one explorer page (`/v1/txs`' default page).
    public static let transactionsPerPage = 20
    /// Most recent blocks the explorer lists.
    public static let blocksShown = 10
    /// A patient's consents listed on her consents page (active and revoked; `AccessService.pageEntriesMax` at most).
    public static let consentsShown = 1_000
    /// Access-log entries on a patient's access-log page (one `AccessService.accessLog` page, the maximum).
    public static let accessEntriesShown = 200
    /// Patients one search on the clinician's page lists (the FHIR search's `_count`).
    public static let patientsShown = 50
    /// Largest add-record form (a raw FHIR resource typed or pasted into it).
    public static let recordFormBytesMax = 64 << 10
    /// Largest form signed with an uploaded key file (break-glass, prescribe): the key file and the fields.
    public static let signingFormBytesMax = 48 << 10
    /// Records on a patient's records page (one `AccessService.patientRecords` page, the maximum).
    public static let recordsShown = 1_000
}

/// A portal session: before sign-in it carries the sign-in form's CSRF token and challenge; after
/// it, the identity and the access token `POST /auth/token` would have issued.
public struct PortalSession: Sendable {
    /// The cookie's value: 32 random bytes, base64url.
    public let id: String
    /// Every form carries it; a POST without it (or with another) is refused with 403.
    public let csrf: String
    /// The identity signed in, nil before sign-in.
    public let identity: IdentityID?
    /// The access token (checked again on every request: expiry, revocation).
    let token: String?
    /// For a browser key to sign (the client assertion's `jti`), used at most once.
    let challenge: String?
    /// Seconds since the epoch after which the session is gone.
    public let expiresAt: Int64
    let createdAt: Int64
}

/// Sessions in memory, bounded (`PortalLimits`). Ids, CSRF tokens and challenges are 256-bit
/// random values from the system's CSPRNG; a session id changes at sign-in (no fixation).
public final class PortalSessions: Sendable {
    private struct Table {
        var sessions: [String: PortalSession] = [:]
    }
    private let table = Mutex(Table())
    private let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = Date.init) { self.now = now }

    private var nowSeconds: Int64 { Int64(now().timeIntervalSince1970) }

    /// 32 random bytes, base64url without padding (cookie- and form-safe).
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A new anonymous session for a sign-in form.
    public func startSignIn() -> PortalSession {
        let current = nowSeconds
        let session = PortalSession(id: Self.randomToken(), csrf: Self.randomToken(), identity: nil, token: nil, challenge: Self.randomToken(),
                                    expiresAt: current + PortalLimits.pendingSeconds, createdAt: current)
        table.withLock { table in
            table.sessions = table.sessions.filter { $0.value.expiresAt > current }
            let pending = table.sessions.values.filter { $0.identity == nil }
            if pending.count >= PortalLimits.pendingMax, let oldest = pending.min(by: { $0.createdAt < $1.createdAt }) {
                table.sessions[oldest.id] = nil
            }
            table.sessions[session.id] = session
        }
        return session
    }

    /// The live session with this cookie value, if any.
    public func session(_ id: String?) -> PortalSession? {
        guard let id, id.utf8.count <= 64 else { return nil }
        let current = nowSeconds
        return table.withLock { table in
            guard let session = table.sessions[id] else { return nil }
            guard session.expiresAt > current else {
                table.sessions[id] = nil
                return nil
            }
            return session
        }
    }

    /// Takes the challenge of an anonymous session: it answers one sign-in attempt, right or wrong.
    func takeChallenge(_ id: String) -> String? {
        table.withLock { table in
            guard let session = table.sessions[id], session.identity == nil, let challenge = session.challenge else { return nil }
            table.sessions[id] = PortalSession(id: session.id, csrf: session.csrf, identity: nil, token: nil, challenge: nil,
                                               expiresAt: session.expiresAt, createdAt: session.createdAt)
            return challenge
        }
    }

    /// Replaces the anonymous session `pending` with a signed-in one under a new id, expiring with its token.
    func signIn(replacing pending: String, identity: IdentityID, token: String, expiresInSeconds: Int64) -> PortalSession {
        precondition(expiresInSeconds > 0, "a token that has already expired signs no one in")
        let current = nowSeconds
        let session = PortalSession(id: Self.randomToken(), csrf: Self.randomToken(), identity: identity, token: token, challenge: nil,
                                    expiresAt: current + expiresInSeconds, createdAt: current)
        table.withLock { table in
            table.sessions[pending] = nil
            table.sessions = table.sessions.filter { $0.value.expiresAt > current }
            let own = table.sessions.values.filter { $0.identity == identity }.sorted { $0.createdAt < $1.createdAt }
            for old in own.prefix(max(0, own.count - PortalLimits.sessionsPerIdentityMax + 1)) { table.sessions[old.id] = nil }
            let signedIn = table.sessions.values.filter { $0.identity != nil }
            if signedIn.count >= PortalLimits.sessionsMax, let soonest = signedIn.min(by: { $0.expiresAt < $1.expiresAt }) {
                table.sessions[soonest.id] = nil
            }
            table.sessions[session.id] = session
        }
        return session
    }

    /// Ends a session (sign-out, or its token refused).
    public func end(_ id: String) { table.withLock { _ = $0.sessions.removeValue(forKey: id) } }

    /// Sessions held: signed in, and sign-in forms in flight.
    public var counts: (signedIn: Int, pending: Int) {
        table.withLock { table in
            let signedIn = table.sessions.values.filter { $0.identity != nil }.count
            return (signedIn, table.sessions.count - signedIn)
        }
    }
}
