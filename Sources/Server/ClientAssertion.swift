import JWTKit
import LedgerCore

/// The claims of a SMART Backend Services client assertion, signed by the identity's own key.
struct ClientAssertion: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var jti: IDClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// Why untrusted assertion text was refused before any key was consulted.
    struct Refusal: Error, Equatable {
        let message: String
    }

    /// Reads an assertion's claims without checking its signature (the caller checks it against the
    /// key of the identity returned), and the identity that `iss` and `sub` must both name. This is
    /// the part of `TokenAuthority.verifyAssertion` that parses the untrusted text (Fuzz/run token).
    static func unverified(_ assertion: String) throws(Refusal) -> (claims: ClientAssertion, identity: IdentityID) {
        let claims: ClientAssertion
        do { claims = try DefaultJWTParser().parse(Array(assertion.utf8), as: ClientAssertion.self).payload } catch {
            throw Refusal(message: "client_assertion is not a JWT with iss, sub, aud and exp")
        }
        guard claims.iss.value == claims.sub.value, let id = Hash256(hex: claims.iss.value) else {
            throw Refusal(message: "iss and sub must both be the identity id (64 hex characters)")
        }
        return (claims, id)
    }
}
