import Contracts
import HTTPTypes
import LedgerCore
import Portal
import Services

/// The portal's sign-in and session checks, over this server's token authority: the same
/// assertion checks and tokens as `POST /auth/token`, the same bearer check as `/v1`.
struct PortalTokens: PortalTokenService {
    let services: ServerServices

    var tokenURL: String { services.tokens.tokenURL }

    func token(forAssertion assertion: String) async throws(PortalRefusal) -> PortalToken {
        do {
            let (identity, token) = try await services.issueToken(assertion: assertion, scopes: .parse(Scopes.defaultText).get())
            return PortalToken(token: token.token, identity: identity, expiresInSeconds: token.expiresIn)
        } catch { throw Self.refusal(error) }
    }

    func token(for keys: IdentityKeys) async throws(PortalRefusal) -> PortalToken {
        let assertion: String
        do { assertion = try await TokenAuthority.makeAssertion(for: keys, tokenURL: tokenURL) } catch { throw Self.refusal(error) }
        return try await token(forAssertion: assertion)
    }

    func identity(bearer token: String) async throws(PortalRefusal) -> Identity {
        do { return try services.authenticate(try await services.tokens.identity(bearer: token)).identity } catch { throw Self.refusal(error) }
    }

    static func refusal(_ error: any Error) -> PortalRefusal {
        let api = APIError.of(error)
        return PortalRefusal(status: Int(api.status.code), message: api.message)
    }
}
