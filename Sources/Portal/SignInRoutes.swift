import Contracts
import Dispatch
import Foundation
import Hummingbird
import LedgerCore
import Node
import Services
import Synchronization

/// Staff sign-in: a key file uploaded (the node signs a client assertion with it once and forgets
/// it), or a key held in the browser signing a client assertion whose `jti` is a one-time challenge.
/// Either way the assertion goes through `POST /auth/token`'s checks and the session holds the
/// token `POST /auth/token` would have issued.
enum SignInRoutes {
    /// The key-file form's fields.
    struct KeyFileForm: Decodable {
        var csrf: String?
        var passphrase: String?
        var key: Data?
    }

    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        let openings = Gate(limit: PortalLimits.keyFileOpeningsMax)
        group.get("sign-in") { request, _ in
            if let signedIn = await Portal.signedIn(request, backend) { return PortalPages.redirect(Portal.home(signedIn.identity, backend.node.state)) }
            return page(backend, error: nil, status: .ok)
        }
        group.post("sign-in/key-file") { request, _ in
            let form = try await Portal.multipartForm(request, limit: PortalLimits.keyFileFormBytesMax, as: KeyFileForm.self)
            let pending = pendingSession(request, backend)
            try Portal.checkForm(request, csrf: form.csrf, session: pending, backend)
            guard let pending else { preconditionFailure("checkForm passed without a session") }
            guard let key = form.key, !key.isEmpty else { return page(backend, error: "Choose your key file.", status: .badRequest) }
            guard openings.enter() else {
                throw PortalRefusal(status: 503, message: "too many key files are being opened at once (\(PortalLimits.keyFileOpeningsMax)); try again")
            }
            defer { openings.leave() }
            let passphrase = form.passphrase
            let keys: IdentityKeys
            do { keys = try await offPool { () throws(ServiceError) in try StoredKey.openUploaded(Array(key), passphrase: passphrase) } } catch {
                return page(backend, error: "Not signed in: \(refusal(error).message).", status: .badRequest)
            }
            do { return signedIn(try await backend.tokens.token(for: keys), replacing: pending, backend) } catch {
                return page(backend, error: "Not signed in: \(refusal(error).message).", status: HTTPResponse.Status(code: refusal(error).status))
            }
        }
        group.post("sign-in/assertion") { request, _ in
            let form = try await Portal.urlEncodedForm(request, limit: PortalLimits.formBytesMax)
            let pending = pendingSession(request, backend)
            try Portal.checkForm(request, csrf: form["csrf"], session: pending, backend)
            guard let pending else { preconditionFailure("checkForm passed without a session") }
            // The challenge answers one attempt, right or wrong: a refused assertion cannot be retried with it.
            guard let challenge = backend.sessions.takeChallenge(pending.id) else {
                return page(backend, error: "This sign-in form was already used: try again.", status: .badRequest)
            }
            guard let assertion = form["assertion"], !assertion.isEmpty, assertion.utf8.count <= PortalLimits.assertionBytesMax else {
                return page(backend, error: "Not signed in: no signed assertion arrived.", status: .badRequest)
            }
            guard jti(of: assertion) == challenge else {
                return page(backend, error: "Not signed in: the assertion does not answer this form's challenge.", status: .badRequest)
            }
            do { return signedIn(try await backend.tokens.token(forAssertion: assertion), replacing: pending, backend) } catch {
                return page(backend, error: "Not signed in: \(refusal(error).message).", status: HTTPResponse.Status(code: refusal(error).status))
            }
        }
        group.post("sign-out") { request, _ in
            let form = try await Portal.urlEncodedForm(request, limit: PortalLimits.formBytesMax)
            let session = backend.sessions.session(request.cookies[Portal.cookieName]?.value)
            try Portal.checkForm(request, csrf: form["csrf"], session: session, backend)
            if let session { backend.sessions.end(session.id) }
            var response = PortalPages.redirect("\(Portal.basePath)/sign-in")
            response.setCookie(Portal.cookie(nil, backend))
            return response
        }
    }

    /// A service's or the token service's refusal, whatever the closure's inferred error type.
    static func refusal(_ error: any Error) -> PortalRefusal {
        switch error {
        case let refusal as PortalRefusal: refusal
        case let error as ServiceError: PortalRefusal(error)
        default: PortalRefusal(status: 503, message: "\(error)")
        }
    }

    /// The sign-in page with a fresh form (new anonymous session: CSRF token and challenge).
    static func page(_ backend: PortalBackend, error: String?, status: HTTPResponse.Status) -> Response {
        let pending = backend.sessions.startSignIn()
        var values = Portal.layout(backend, nil)
        values["csrf"] = pending.csrf
        values["challenge"] = pending.challenge ?? ""
        values["tokenURL"] = backend.tokens.tokenURL
        values["chainId"] = backend.node.chainId
        values["tokenMinutes"] = 15
        if let error { values["error"] = error }
        var response = PortalPages.html(PortalPages.render("signin", values), status: status)
        response.setCookie(Portal.cookie(pending, backend))
        return response
    }

    /// The anonymous session of the sign-in form the request's cookie names.
    static func pendingSession(_ request: Request, _ backend: PortalBackend) -> PortalSession? {
        backend.sessions.session(request.cookies[Portal.cookieName]?.value).flatMap { $0.identity == nil ? $0 : nil }
    }

    /// Signs in: a new session id (never the anonymous one), the cookie, and on to the explorer.
    static func signedIn(_ token: PortalToken, replacing pending: PortalSession, _ backend: PortalBackend) -> Response {
        let session = backend.sessions.signIn(replacing: pending.id, identity: token.identity.id, token: token.token,
                                              expiresInSeconds: token.expiresInSeconds)
        var response = PortalPages.redirect(Portal.home(token.identity, backend.node.state))
        response.setCookie(Portal.cookie(session, backend))
        return response
    }

    /// The `jti` of a compact JWT, read without checking anything else: the token service checks
    /// the signature, the issuer, the audience and the expiry.
    static func jti(of assertion: String) -> String? {
        let parts = assertion.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        guard let data = Data(base64Encoded: payload), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["jti"] as? String
    }

    /// Runs scrypt (tens of milliseconds, 32 MiB) on a Dispatch thread, not the cooperative pool.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws(ServiceError) -> T) async throws(ServiceError) -> T {
        let result: Result<T, ServiceError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do throws(ServiceError) { continuation.resume(returning: .success(try body())) } catch { continuation.resume(returning: .failure(error)) }
            }
        }
        return try result.get()
    }
}

/// At most `limit` holders at once; no waiting (a full gate is a 503 for the caller).
final class Gate: Sendable {
    private let holders = Mutex(0)
    let limit: Int
    init(limit: Int) {
        precondition(limit > 0, "a gate lets someone through")
        self.limit = limit
    }
    func enter() -> Bool {
        holders.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }
    func leave() { holders.withLock { count in
        precondition(count > 0, "left a gate no one entered")
        count -= 1
    } }
}
