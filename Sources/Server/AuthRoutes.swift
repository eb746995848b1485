import Contracts
import Foundation
import Hummingbird
import LedgerCore
import Services

/// `POST /auth/token`: SMART Backend Services (client_credentials with a JWT client assertion
/// signed by the identity's registered Ed25519 key) → a bearer access token.
enum AuthRoutes {
    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// Largest token request body.
    static let requestBytesMax = 16 << 10

    static func add(to router: Router<LedgerRequestContext>, _ services: ServerServices) {
        router.post("/auth/token") { request, _ in
            let contentType = request.headers[.contentType]?.lowercased() ?? ""
            guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
                throw APIError(.unsupportedMediaType, "invalid_request", "send the token request as application/x-www-form-urlencoded")
            }
            let body = try await request.collectBody(upTo: requestBytesMax)
            let form = parseForm(String(buffer: body))
            guard form["grant_type"] == "client_credentials" else {
                throw APIError(.badRequest, "unsupported_grant_type", "grant_type must be client_credentials")
            }
            guard form["client_assertion_type"] == assertionType else {
                throw APIError(.badRequest, "invalid_request", "client_assertion_type must be \(assertionType)")
            }
            guard let assertion = form["client_assertion"], !assertion.isEmpty else {
                throw APIError(.badRequest, "invalid_request", "client_assertion is required")
            }
            let scopes: Scopes
            switch Scopes.parse(form["scope"] ?? Scopes.defaultText) {
            case .success(let parsed): scopes = parsed
            case .failure(let error): throw APIError(.badRequest, "invalid_scope", error.description)
            }
            let (identity, token) = try await services.issueToken(assertion: assertion, scopes: scopes)
            return JSON.response(["access_token": token.token, "token_type": "bearer", "expires_in": token.expiresIn,
                                  "scope": token.scope, "identity": identity.id.hex],
                                 headers: [.cacheControl: "no-store"])
        }
    }

    /// The fields of a form body (`FormEncoding`).
    static func parseForm(_ text: String) -> [String: String] { FormEncoding.fields(text) }
}
